"""The finance clerk of the payment-batch crash test, run as a process the test kills with SIGKILL.

``python -m tests.integration.awards.batch_worker SEED`` (database and data directory from the usual
``ZHISUAN_*`` settings): pays or cancels the draft batch when there is one, else makes a batch of the
final awards, else of the granted vouchers, one unit of work at a time, until nothing is left to pay.
Each step prints a line before it starts writing.
"""

from __future__ import annotations

import random
import sys

from sqlalchemy import select

from zhisuan.awards import payments
from zhisuan.bootstrap import bootstrap
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import shanghai_date
from zhisuan.core.errors import ConflictError
from zhisuan.store.models.awards import PaymentBatchRow


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


FINANCE = Principal(user_id=None, username="fay", role=Role.FINANCE)


def main(seed: int) -> None:
    rng = random.Random(seed)
    p = bootstrap()
    packs = p.packs.current()
    step = 0
    while True:
        step += 1
        with p.uow() as uow:
            draft = uow.session.execute(
                select(PaymentBatchRow.id)
                .where(PaymentBatchRow.state == "draft")
                .order_by(PaymentBatchRow.id)
            ).scalar()
            if draft is not None and rng.random() < 0.5:
                _say(f"step {step}: cancel batch {draft}")
                payments.cancel_batch(uow, FINANCE, p.clock, draft, "a new batch instead")
            elif draft is not None:
                _say(f"step {step}: pay batch {draft}")
                today = shanghai_date(p.clock.now()).isoformat()
                payments.pay_batch(uow, FINANCE, p.clock, draft, reference=f"PAY-{draft}", paid_on=today)
            else:
                for kind in ("awards", "vouchers"):
                    try:
                        _say(f"step {step}: make a batch of {kind}")
                        payments.create_batch(uow, FINANCE, p.clock, packs, kind=kind)
                        break
                    except ConflictError:  # nothing of this kind to pay
                        continue
                else:
                    _say("done")
                    return
            uow.commit()


if __name__ == "__main__":
    main(int(sys.argv[1]))
