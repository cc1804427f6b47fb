"""kill -9 of payment batches at random moments (issue 16), on SQLite and PostgreSQL.

A finance process makes, pays and cancels batches of final awards and of granted compute vouchers
(``batch_worker``) and is killed with SIGKILL at random moments, then started again, until it finds
nothing left to pay. After every kill the database is before or after each step: no award or voucher
line in two live batches, every paid one in exactly one paid batch and posted once, the ledger
balances; at the end everything is paid exactly once and the audit chain is intact.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.factories.metering import usage_file
from tests.integration.metering.test_crash import fresh
from zhisuan import accounts, audit, metering
from zhisuan.audit import Seal
from zhisuan.awards import applications, calls, payments, review
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import UTC, ManualClock, Month
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import AccountKind, budget_posting
from zhisuan.policy import load_pack_set
from zhisuan.store.models.awards import ApplicationRow, PaymentBatchRow, PaymentItemRow
from zhisuan.store.models.compute import CenterRow, PoolRow
from zhisuan.store.models.metering import VoucherLineRow
from zhisuan.store.uow import UnitOfWork

__all__ = ["fresh"]  # the fixture: a database of its own per backend

ROOT = Principal(None, "fixture", Role.ADMIN)
AWARDS, USERS = 12, 16
JUNE = Month(2025, 6)
ROOT_DIR = Path(__file__).resolve().parents[3]


def _world(engine: Engine, data: Path) -> tuple[int, int]:
    """Final art. 5 awards and granted June vouchers to pay: (awards, voucher lines)."""
    packs = load_pack_set()
    clock = ManualClock(dt.datetime(2025, 6, 15, 2, tzinfo=UTC))
    seal = Seal.for_data_dir(data)
    orgs: list[int] = []
    who: dict[str, Principal] = {}
    with UnitOfWork.for_engine(engine, seal=seal) as uow:

        def person(name: str, role: Role, org: int | None = None, city: str | None = None) -> Principal:
            view = accounts.add_user(
                uow, ROOT, username=name, password="password-1", role=role, org=org, city_code=city,
                now=clock.now(),
            )  # fmt: skip
            return view.principal()

        for i in range(USERS + 1):
            orgs.append(
                accounts.create_org(
                    uow,
                    ROOT,
                    accounts.OrgInput(
                        name=f"企业{i:02d}",
                        credit_code=make_credit_code(f"91340100MA2K9{i:04d}"),
                        kind=OrgKind.CENTER_OPERATOR if i == 0 else OrgKind.ENTERPRISE,
                        city_code="340100",
                    ),
                    clock.now(),
                ).id
            )
        pia, fay = person("pia", Role.PROVINCE), person("fay", Role.FINANCE)
        hefei = person("hefei", Role.CITY, city="340100")
        for n in range(AWARDS):
            who[f"u{n}"] = person(f"u{n}", Role.ORG_ADMIN, org=orgs[1 + n])
        s = uow.session
        s.add(CenterRow(id=1, key="c1", name="c1", operator_org_id=orgs[0], city_code="340100",
                        engine_config="{}", created_at=clock.now()))  # fmt: skip
        s.flush()
        s.add(PoolRow(id=1, key="p1", center_id=1, accelerator="a100-sxm4-80gb", nodes=100, cards_per_node=8,
                      price_fen=1234, bands="[]", engine_kind="simulated", engine_config="{}", available=True,
                      created_at=clock.now()))  # fmt: skip
        call = int(
            str(
                calls.create_call(
                    uow, pia, packs, clock, program="art5", title="2025 art5",
                    opens_on="2025-06-01", closes_on="2025-07-31",
                )["id"]
            )
        )  # fmt: skip
        payments.fund_budget(uow, fay, clock, program="art5", year=2025, amount="100000000", reference="B1")
        ledger.post(s, [budget_posting("art2", 2025, 10_000_000_00, dt.date(2025, 1, 2), "b1")], clock)
        shown = calls.get_call(uow, packs, call, clock.now())["form"]
        form = {f["name"] for f in shown}  # type: ignore[attr-defined]
        uow.commit()
    facts = {"rd_cost": "10000000", "selection_mode": "open_challenge", "in_provincial_plan": True}
    if "topic" in form:
        facts["topic"] = "industry_llm"
    for n in range(AWARDS):
        applicant = who[f"u{n}"]
        with UnitOfWork.for_engine(engine, seal=seal) as uow:
            answers = {
                "project_ref": f"P-{n}",
                "project_name": f"项目{n}",
                "event_on": "2025-06-01",
                "facts": facts,
            }
            app = int(str(applications.create_application(uow, applicant, packs, clock, call, answers)["id"]))
            applications.submit(uow, applicant, packs, clock, app)
            review.review(uow, hefei, packs, clock, app, {"action": "approve"})
            review.review(uow, pia, packs, clock, app, {"action": "approve", "amount": str(100_000 + n)})
            uow.commit()
    rows = [
        {
            "engine": "sim",
            "engine_job_id": f"j{i}",
            "org_id": orgs[1 + i % USERS],
            "center_id": 1,
            "pool_id": 1,
            "accelerator": "a100-sxm4-80gb",
            "cards": 8,
            "start": f"2025-06-{1 + i % 28:02d}T{i % 20:02d}:00:00+08:00",
            "end": f"2025-06-{1 + i % 28:02d}T{i % 20 + 3:02d}:00:00+08:00",
        }
        for i in range(200)
    ]
    settled = ManualClock(dt.datetime(2025, 7, 15, 2, tzinfo=UTC))
    with UnitOfWork.for_engine(engine, seal=seal) as uow:
        metering.import_usage(uow, usage_file(data / "usage.jsonl", rows), packs)
        metering.draft_bills(uow, JUNE, settled)
        metering.issue_bills(uow, settled, month=JUNE)
        metering.pay_all(uow, JUNE, "R", dt.date(2025, 7, 10), settled)
        uow.commit()
    with UnitOfWork.for_engine(engine, seal=seal) as uow:
        metering.settle_vouchers(uow, JUNE, settled, packs)
        uow.commit()
        lines = uow.session.execute(
            select(func.count()).select_from(VoucherLineRow).where(VoucherLineRow.amount_fen != 0)
        ).scalar_one()
    return AWARDS, int(lines)


def _kill_at_random(url: str, data: Path, seed: int, after: float) -> int | None:
    """Start the worker; ``after`` seconds into its work (its first step), kill -9 it (if still running)."""
    env = {
        **os.environ,
        "ZHISUAN_DATABASE_URL": url,
        "ZHISUAN_DATA_DIR": str(data),
        "PYTHONPATH": os.pathsep.join([str(ROOT_DIR / "src"), str(ROOT_DIR)]),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.awards.batch_worker", str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        cwd=ROOT_DIR,
    )
    assert proc.stdout is not None
    with proc.stdout:
        first = proc.stdout.readline()
        assert first.startswith(("step", "done")), first + proc.stdout.read()
        if after >= 0:
            time.sleep(after)
            proc.send_signal(signal.SIGKILL)
        else:
            tail = proc.stdout.read()
            assert tail.rstrip().endswith("done") or first.startswith("done"), first + tail
    return proc.wait(timeout=120)


def _check(engine: Engine, awards: int, lines: int, data: Path, *, finished: bool) -> None:
    """Before-or-after: each award and voucher line in at most one live batch; paid ones posted once."""
    with UnitOfWork.for_engine(engine, seal=Seal.for_data_dir(data)) as uow:
        s = uow.session
        assert ledger.verify(s) == []
        items = s.execute(
            select(
                PaymentItemRow.application_id,
                PaymentItemRow.voucher_line_id,
                PaymentItemRow.fen,
                PaymentBatchRow.id,
                PaymentBatchRow.state,
            ).join(PaymentBatchRow, PaymentBatchRow.id == PaymentItemRow.batch_id)
        ).all()
        batches = {b.id: b for b in s.execute(select(PaymentBatchRow)).scalars()}
        assert {b.state for b in batches.values()} <= {"draft", "paid", "cancelled"}
        assert max(Counter((a, v) for a, v, *_ in items).values(), default=1) == 1  # in one live batch
        per_batch: Counter[int] = Counter()
        for _a, _v, fen, batch, _state in items:
            per_batch[batch] += fen
        for b in batches.values():  # a batch is whole or absent; a cancelled one holds nothing
            assert per_batch[b.id] == (0 if b.state == "cancelled" else b.total_fen)
        paid = [(a, v, fen) for a, v, fen, _b, state in items if state == "paid"]
        paid_apps = {a for a, _v, _f in paid if a is not None}
        states = dict(s.execute(select(ApplicationRow.id, ApplicationRow.state)).all())
        assert {a for a, st in states.items() if st == "paid"} == paid_apps  # paid ⟺ in a paid batch
        balances = ledger.balances(s)
        paid_fen = sum(b for acc, b in balances.items() if acc.kind is AccountKind.AWARD_PAID)
        disbursed = sum(b for acc, b in balances.items() if acc.kind is AccountKind.SUBSIDY_DISBURSED)
        assert paid_fen == sum(f for a, _v, f in paid if a is not None)  # each paid award posted once
        assert disbursed == sum(f for _a, v, f in paid if v is not None)  # each paid voucher line once
        if finished:
            assert len(paid_apps) == awards and set(states.values()) == {"paid"}
            assert len([v for _a, v, _f in paid if v is not None]) == lines  # every voucher line paid
            granted = s.execute(
                select(func.sum(VoucherLineRow.amount_fen)).where(VoucherLineRow.amount_fen != 0)
            ).scalar_one()
            assert disbursed == granted
            assert all(state == "paid" for *_, state in items)
            assert audit.verify(uow).intact


@pytest.mark.slow
def test_payment_batches_killed_at_random_moments_pay_everything_exactly_once(
    fresh: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = fresh
    data = tmp_path / "var"
    awards, lines = _world(engine, data)
    assert lines > 0
    rng = random.Random(16)
    codes: list[int | None] = []
    while len(codes) < 12 and 0 not in codes:
        # killed within its first step or the next (each step prints its line, then writes): a run
        # moves the work on by a step or two, so several runs die in the middle of a transaction
        codes.append(_kill_at_random(url, data, len(codes), rng.uniform(0.0, 0.12)))
        _check(engine, awards, lines, data, finished=False)
    assert codes.count(-signal.SIGKILL) >= 2, codes
    assert _kill_at_random(url, data, 99, -1) == 0  # the last run pays what is left and finds nothing more
    _check(engine, awards, lines, data, finished=True)
