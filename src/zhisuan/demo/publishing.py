"""The demo's publishing step: the province confirms 2.0 art. 3 and the provisional months are re-settled.

Months from 2025-08-11 settle under 2.0 art. 3 (pack anhui-2025) as provisional estimates: no money
(POLICY position 16). Here the demo's province user ``province`` publishes a new version of the shipped
pack with art. 3's provisional parameters confirmed at the same figures, a second province user
``province2`` approves it (nobody approves their own), the pack source serves it from its next call,
and settling those months again grants the money through the program budget.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from zhisuan import accounts, metering, publishing
from zhisuan.bootstrap import Platform
from zhisuan.core.clock import Month
from zhisuan.demo.organizations import DEMO_PASSWORD
from zhisuan.ledger import services as ledger
from zhisuan.metering.vouchers import VoucherStatus
from zhisuan.store.models.metering import VoucherLineRow

#: the shipped 2.0 pack whose art. 3 the demo's province confirms
CONFIRMED_PACK = "anhui-2025"
PUBLISHER, APPROVER = "province", "province2"


def confirm_provisional(text: str) -> str:
    """A pack's YAML with every provisional parameter confirmed at its placeholder figure.

    The province's confirming version of the shipped 2.0 pack: the same figures, no ``provisional``
    flags, each note saying the figure is confirmed instead of what is not known.
    """
    text = re.sub(r"(?m)^[ \t]+provisional: true[ \t]*\n", "", text)
    return re.sub(r"(?m)^([ \t]+note: ).*placeholder = (.*)$", r"\1confirmed by the province as \2", text)


def confirm_and_resettle(platform: Platform) -> list[str]:
    """Publish the confirmed 2.0 art. 3, approve it as a second province user, re-settle the months."""
    with platform.uow() as uow:
        months = sorted(
            Month.parse(m)
            for m in uow.session.execute(
                select(VoucherLineRow.settlement_month)
                .where(VoucherLineRow.status == VoucherStatus.PROVISIONAL.value)
                .distinct()
            ).scalars()
        )
    if not months:
        return ["no voucher line rests on a provisional parameter: nothing to confirm"]
    with platform.uow() as uow:
        # the two province users log in with the demo password, as they would on /publish
        publisher = accounts.authenticate_password(uow, PUBLISHER, DEMO_PASSWORD).principal()
        approver = accounts.authenticate_password(uow, APPROVER, DEMO_PASSWORD).principal()
        filename, text = publishing.text_in_force(uow, platform.packs, CONFIRMED_PACK)
        version = publishing.submit(
            uow,
            publisher,
            platform.packs,
            confirm_provisional(text),
            filename,
            platform.clock,
            note="2.0 art. 3: rate, cap and exclusions confirmed at the same figures",
        )
        publishing.approve(uow, approver, platform.packs, int(str(version["id"])), platform.clock)
        uow.commit()
    lines = [
        f"{PUBLISHER} (login {PUBLISHER} / {DEMO_PASSWORD}) published {CONFIRMED_PACK} version "
        f"{version['version']} confirming 2.0 art. 3's provisional parameters; {APPROVER} (login "
        f"{APPROVER} / {DEMO_PASSWORD}) approved it → /publish",
    ]
    packs = platform.packs.current()  # the approved version, served without a restart
    for month in months:
        with platform.uow() as uow:
            r = metering.settle_vouchers(uow, month, platform.clock, packs)
            uow.commit()
        lines.append(f"{month} settled again: {r.rejudged_text()}")
    with platform.uow() as uow:
        problems = ledger.verify(uow.session)
    lines.append(f"ledger verified: {'ok' if not problems else problems[0].message}")
    return lines


__all__ = ["APPROVER", "CONFIRMED_PACK", "PUBLISHER", "confirm_and_resettle", "confirm_provisional"]
