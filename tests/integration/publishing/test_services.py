"""Publishing on both databases: the recorded voucher lines a candidate would change, and the pack source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.factories.metering import center, org, own, row, usage_file
from zhisuan import accounts, audit, metering, publishing
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import Month
from zhisuan.core.errors import PermissionDeniedError
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.policy import PackError

SAMPLE = Path(__file__).resolve().parents[2] / "factories" / "packs" / "test-publish-art2.yaml"
JUNE = Month(2025, 6)
PIA = Principal(None, "pia", Role.PROVINCE)
PETE = Principal(None, "pete", Role.PROVINCE)


def _from_june(text: str) -> str:
    """The sample moved to start on 2025-06-01 at 25% (so that June's settled lines change)."""
    lines = [line for line in text.splitlines(keepends=True) if "2025-11-01" not in line]
    return "".join(lines).replace("2025-09-01", "2025-06-01")


@pytest.fixture
def june(platform: Platform, tmp_path: Path) -> dict[str, int]:
    """June 2025 settled: A spent 800 yuan (160 voucher); OP used its own center; B is OP's affiliate."""
    clock = platform.clock
    with platform.uow() as uow:
        ids = {"A": org(uow, "user A"), "OP": org(uow, "operator"), "B": org(uow, "affiliate B")}
        own(uow, ids["OP"], ids["B"], 30)
        center(uow, 1, ids["OP"], 10, 1000)
        ledger.post(uow.session, [budget_posting("art2", 2025, 10**8, dt.date(2025, 1, 2), "init")], clock)
        rows = [
            row("a1", ids["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T18:00:00+08:00"),
            row("op", ids["OP"], "2025-06-10T08:00:00+08:00", "2025-06-10T09:00:00+08:00"),
            row("b1", ids["B"], "2025-06-10T08:00:00+08:00", "2025-06-10T09:00:00+08:00"),
        ]
        metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", rows), platform.packs.current())
        metering.draft_bills(uow, JUNE, clock)
        metering.issue_bills(uow, clock, month=JUNE)
        metering.pay_all(uow, JUNE, "BANK-1", dt.date(2025, 7, 1), clock)
        metering.settle_vouchers(uow, JUNE, clock, platform.packs.current())
        uow.commit()
    return ids


def test_review_lists_the_recorded_voucher_lines_whose_amount_would_change(
    platform: Platform, june: dict[str, int]
) -> None:
    text = _from_june(SAMPLE.read_text(encoding="utf-8"))
    with platform.uow() as uow:
        out = publishing.review(uow, PIA, platform.packs, text, "june.yaml")
    impact = out["would_change"]
    assert impact["month"] == "2025-06" and impact["checked"] == 3 and impact["changed"] == 1  # type: ignore[index]
    (case,) = impact["cases"]  # type: ignore[index]
    assert case["kind"] == "voucher_line" and case["article"] == "art2"
    assert (case["recorded"], case["old"], case["new"]) == ("160.00", "160.00", "200.00")
    assert (case["old_pack"], case["new_pack"]) == ("anhui-2023", "test-publish-art2")
    assert impact["old_total"] == "160.00" and impact["new_total"] == "200.00"  # type: ignore[index]
    # the sample itself starts in September: June's lines do not change
    with platform.uow() as uow:
        later = publishing.review(uow, PIA, platform.packs, SAMPLE.read_text(encoding="utf-8"), "s.yaml")
    assert later["would_change"]["changed"] == 0  # type: ignore[index]


def test_submit_approve_on_both_databases_and_the_source_reloads(platform: Platform) -> None:
    now = platform.clock.now()
    with platform.uow() as uow:
        for name in ("pia", "pete"):
            accounts.add_user(uow, None, username=name, password="password-1", role=Role.PROVINCE, now=now)
        uow.commit()
    before = platform.packs.current()
    with platform.uow() as uow:
        version = publishing.submit(
            uow, PIA, platform.packs, SAMPLE.read_text(encoding="utf-8"), "s.yaml", platform.clock
        )
        with pytest.raises(PermissionDeniedError):
            publishing.approve(uow, PIA, platform.packs, int(version["id"]), platform.clock)  # type: ignore[call-overload]
        uow.commit()
    assert platform.packs.current() is before  # a submitted version is not served
    with platform.uow() as uow:
        publishing.approve(uow, PETE, platform.packs, int(version["id"]), platform.clock)  # type: ignore[call-overload]
        uow.commit()
    packs = platform.packs.current()
    assert packs is not before and "test-publish-art2" in {p.id for p in packs}
    assert packs.resolve("art2", dt.date(2025, 6, 15), "test-publish-art2") is None  # not yet in force
    assert packs.resolve("art2", dt.date(2025, 9, 15), "test-publish-art2") is not None
    assert platform.packs.current() is packs  # unchanged: not parsed again
    with platform.uow() as uow:
        assert audit.verify(uow).intact


def test_an_invalid_upload_raises_a_pack_error_and_stores_nothing(platform: Platform) -> None:
    bad = SAMPLE.read_text(encoding="utf-8").replace(
        "effective: {from: 2025-09-01", "effective: {from: 2025-13-01"
    )
    with platform.uow() as uow:
        with pytest.raises(PackError) as caught:
            publishing.submit(uow, PIA, platform.packs, bad, "bad.yaml", platform.clock)
        assert caught.value.file == "bad.yaml" and caught.value.row is not None
        assert publishing.list_versions(uow, PIA) == []


def test_review_follows_the_compute_voucher_measure_across_renumbering(
    platform: Platform, tmp_path: Path
) -> None:
    """September 2025 is settled under 2.0 art. 3 (provisional); a confirming pack changes those lines."""
    clock, september = platform.clock, Month(2025, 9)
    confirm = Path(__file__).resolve().parents[2] / "unit" / "policy" / "packs" / "anhui-2025-art3-test.yaml"
    with platform.uow() as uow:
        ids = {"A": org(uow, "user A"), "OP": org(uow, "operator")}
        center(uow, 1, ids["OP"], 10, 1000)
        ledger.post(uow.session, [budget_posting("art2", 2025, 10**8, dt.date(2025, 1, 2), "init")], clock)
        rows = [row("a9", ids["A"], "2025-09-10T08:00:00+08:00", "2025-09-10T18:00:00+08:00")]
        metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", rows), platform.packs.current())
        metering.draft_bills(uow, september, clock)
        metering.issue_bills(uow, clock, month=september)
        metering.pay_all(uow, september, "BANK-9", dt.date(2025, 10, 8), clock)
        metering.settle_vouchers(uow, september, clock, platform.packs.current())
        uow.commit()
    with platform.uow() as uow:
        out = publishing.review(uow, PIA, platform.packs, confirm.read_text(encoding="utf-8"), "c.yaml")
    impact = out["would_change"]
    assert impact["month"] == "2025-09" and impact["changed"] == 1  # type: ignore[index]
    (case,) = impact["cases"]  # type: ignore[index]
    # recorded under anhui-2025/art3 (the 2023 art. 2 ended on 2025-08-10): 20% provisional → 25% confirmed
    assert (case["old_pack"], case["new_pack"]) == ("anhui-2025", "anhui-2025-art3-test")
    assert (case["old"], case["new"]) == ("160.00", "200.00")
