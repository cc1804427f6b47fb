import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.factories.metering import center, org, own, row, usage_file
from zhisuan import audit, metering
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import UTC, ManualClock, Month
from zhisuan.core.errors import ConflictError, ValidationError
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import Account, budget_posting
from zhisuan.metering.model import RawUsage, split_usage
from zhisuan.metering.usage import record_row, store_rows
from zhisuan.policy import load_pack_set
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.ledger import LedgerPostingRow
from zhisuan.store.models.metering import BillRow, UsageRecordRow, VoucherLineRow

PACKS = load_pack_set()  # the shipped packs

JUNE, JULY = Month(2025, 6), Month(2025, 7)


@pytest.fixture
def clock():
    return ManualClock(dt.datetime(2025, 7, 2, 2, tzinfo=UTC))


@pytest.fixture
def world(db):
    """Operator OP runs center 1 (pool 10 at 10 yuan/card-hour); OP holds 30% of B; C is out of province."""
    with db.uow() as uow:
        ids = {
            "A": org(uow, "user A"),
            "OP": org(uow, "operator"),
            "B": org(uow, "affiliate B"),
            "C": org(uow, "outsider C", city=None, in_province=False),
        }
        own(uow, ids["OP"], ids["B"], 30)
        center(uow, 1, ids["OP"], 10, 1000)
        uow.commit()
    return ids


def fund(db, clock, yuan: int, ref: str = "initial") -> None:
    with db.uow() as uow:
        ledger.post(uow.session, [budget_posting("art2", 2025, yuan * 100, dt.date(2025, 1, 2), ref)], clock)
        uow.commit()


def import_rows(db, tmp_path: Path, rows, name="usage.jsonl") -> metering.ImportResult:
    with db.uow() as uow:
        r = metering.import_usage(uow, usage_file(tmp_path / name, rows), PACKS)
        uow.commit()
    return r


def bill_pay_settle(db, clock, month: Month, paid_on: dt.date):
    with db.uow() as uow:
        metering.draft_bills(uow, month, clock)
        metering.issue_bills(uow, clock, month=month)
        metering.pay_all(uow, month, "BANK-1", paid_on, clock)
        uow.commit()
    with db.uow() as uow:
        res = metering.settle_vouchers(uow, month, clock, PACKS)
        uow.commit()
    return res


def vouchers_by_org(db) -> dict[int, int]:
    with db.uow() as uow:
        rows = uow.session.execute(
            select(VoucherLineRow.org_id, func.sum(VoucherLineRow.amount_fen)).group_by(VoucherLineRow.org_id)
        )
        return {o: int(a) for o, a in rows}


def test_vouchers_exclude_self_use_related_parties_and_out_of_province(db, world, clock, tmp_path):
    fund(db, clock, 1_000_000)
    rows = [
        row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T18:00:00+08:00"),  # 80 card-h = 800
        row("op", world["OP"], "2025-06-10T08:00:00+08:00", "2025-06-10T09:00:00+08:00"),  # self-use
        row("b1", world["B"], "2025-06-10T08:00:00+08:00", "2025-06-10T09:00:00+08:00"),  # related party
        row("c1", world["C"], "2025-06-10T08:00:00+08:00", "2025-06-10T09:00:00+08:00"),  # out of province
    ]
    assert import_rows(db, tmp_path, rows).inserted == 4
    res = bill_pay_settle(db, clock, JUNE, dt.date(2025, 7, 1))
    assert res.created and res.lines == 4
    assert vouchers_by_org(db) == {world["A"]: 16_000, world["OP"]: 0, world["B"]: 0, world["C"]: 0}
    with db.uow() as uow:
        by_org = {v["org_id"]: v for v in metering.list_vouchers(uow)}
        assert by_org[world["B"]]["status"] == "ineligible"
        steps = by_org[world["B"]]["steps"]
        assert steps[0]["rule"] == "self_use" and steps[0]["result"] == "True"
        assert any("self_use" in s["rule"] for s in by_org[world["A"]]["steps"][1:])
        assert ledger.verify(uow.session) == []
        assert ledger.balance(uow.session, Account.subsidy_payable(world["A"])) == 16_000
        assert ledger.balance(uow.session, Account.program_budget("art2", 2025)) == 100_000_000 - 16_000


def test_settling_twice_changes_nothing(db, world, clock, tmp_path):
    fund(db, clock, 1000)
    import_rows(
        db, tmp_path, [row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")]
    )
    first = bill_pay_settle(db, clock, JUNE, dt.date(2025, 7, 1))
    with db.uow() as uow:
        postings = uow.session.execute(select(func.count()).select_from(LedgerPostingRow)).scalar_one()
        again = metering.settle_vouchers(uow, JUNE, clock, PACKS)
        uow.commit()
    assert not again.created and again.granted_fen == first.granted_fen == 3200
    with db.uow() as uow:
        assert (
            uow.session.execute(select(func.count()).select_from(LedgerPostingRow)).scalar_one() == postings
        )
        assert uow.session.execute(select(func.count()).select_from(VoucherLineRow)).scalar_one() == 1


def test_importing_twice_changes_nothing_and_bad_rows_name_line_and_column(db, world, clock, tmp_path):
    rows = [row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")]
    assert import_rows(db, tmp_path, rows).inserted == 1
    again = import_rows(db, tmp_path, rows)
    assert (again.inserted, again.duplicates) == (0, 1)
    bad = [
        *rows,
        row("a2", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00"),
    ]
    with pytest.raises(ValidationError) as err:
        import_rows(
            db,
            tmp_path,
            [row("x", world["A"], "2025-06-11T08:00:00+08:00", "2025-06-11T09:00:00+08:00"), *bad],
        )
    assert (err.value.row, err.value.column) == (3, "end")
    with db.uow() as uow:  # all or nothing: the good row before the bad one was not written
        assert uow.session.execute(select(func.count()).select_from(UsageRecordRow)).scalar_one() == 1


def test_an_id_beyond_64_bits_is_a_row_error_not_a_driver_crash(db, world, tmp_path):
    huge = row("h1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")
    huge["org_id"] = 2**64
    with pytest.raises(ValidationError, match="out of range") as err:
        import_rows(db, tmp_path, [huge])
    assert (err.value.row, err.value.column) == (1, "org_id")


def test_overlapping_report_of_the_same_job_is_refused(db, world, tmp_path):
    import_rows(
        db, tmp_path, [row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")]
    )
    with pytest.raises(ConflictError, match="overlaps"):
        import_rows(
            db, tmp_path, [row("a1", world["A"], "2025-06-10T09:00:00+08:00", "2025-06-10T11:00:00+08:00")]
        )


def test_overlaps_inside_one_file_are_refused_across_batches_and_nothing_is_written(db, world, tmp_path):
    rows = [
        row(
            f"j{i}",
            world["A"],
            f"2025-06-{1 + i % 28:02d}T08:00:00+08:00",
            f"2025-06-{1 + i % 28:02d}T09:00:00+08:00",
        )
        for i in range(120)
    ]
    file = tmp_path / "usage.csv"
    file.write_text(
        "engine,engine_job_id,org_id,center_id,pool_id,accelerator,cards,start,end\n"
        + "".join(",".join(str(r[c]) for c in metering.USAGE_COLUMNS) + "\n" for r in rows),
        encoding="utf-8",
    )
    with db.uow() as uow:  # three batches, and the same file again adds nothing
        assert metering.import_usage(uow, file, PACKS, batch=50).inserted == 120
        assert metering.import_usage(uow, file, PACKS, batch=50).inserted == 0
        uow.rollback()
    late = row("j3", world["A"], "2025-06-04T08:30:00+08:00", "2025-06-04T09:30:00+08:00")  # j3 again, later
    with pytest.raises(ConflictError, match="overlaps"), db.uow() as uow:
        metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", [*rows, late]), PACKS, batch=50)
    twice = row("j1", world["A"], "2025-06-02T08:00:00+08:00", "2025-06-02T09:00:00+08:00", cards=4)
    with pytest.raises(ConflictError, match="different figures"), db.uow() as uow:
        metering.import_usage(uow, usage_file(tmp_path / "v.jsonl", [*rows, twice]), PACKS, batch=50)
    with db.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(UsageRecordRow)).scalar_one() == 0


def test_usage_across_shanghai_midnight_at_month_end_is_split_there(db, world, clock, tmp_path):
    r = import_rows(
        db, tmp_path, [row("a1", world["A"], "2025-06-30T23:00:00+08:00", "2025-07-01T01:00:00+08:00")]
    )
    assert (r.rows, r.records) == (1, 2)
    with db.uow() as uow:
        recs = metering.list_usage(uow)
    assert [(u["month"], u["card_seconds"]) for u in recs] == [("2025-06", 8 * 3600), ("2025-07", 8 * 3600)]
    assert recs[0]["end"] == dt.datetime(2025, 6, 30, 16, tzinfo=UTC)


def test_correction_produces_adjustment_lines_in_the_next_settlement(db, world, clock, tmp_path):
    fund(db, clock, 10_000)
    original = row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T18:00:00+08:00", cards=8)
    import_rows(db, tmp_path, [original])
    bill_pay_settle(db, clock, JUNE, dt.date(2025, 7, 1))
    assert vouchers_by_org(db)[world["A"]] == 16_000  # 800 yuan × 20%
    with db.uow() as uow:
        key = metering.list_usage(uow)[0]["key"]
    fixed = dict(original, cards=4, corrects=key)
    r = import_rows(db, tmp_path, [fixed], "fix.jsonl")
    assert (r.records, r.inserted) == (2, 2)  # a reversal and a replacement, never an edit
    assert import_rows(db, tmp_path, [fixed], "fix.jsonl").inserted == 0
    clock.set(dt.datetime(2025, 8, 2, tzinfo=UTC))
    bill_pay_settle(db, clock, JULY, dt.date(2025, 8, 1))
    with db.uow() as uow:
        july = metering.list_bills(uow, month=JULY)
        assert len(july) == 1 and july[0]["total"] == "-400.00"
        lines = metering.bill_detail(uow, int(july[0]["id"]))["lines"]
        assert [(ln["amount"], ln["adjustment"], ln["usage_month"]) for ln in lines] == [
            ("-400.00", True, "2025-06")
        ]
        adj = metering.list_vouchers(uow, month=JULY)
        assert [(v["amount"], v["status"]) for v in adj] == [("-80.00", "clawback")]
        assert all(v["adjustment"] for v in adj)
        assert ledger.verify(uow.session) == []
    assert vouchers_by_org(db)[world["A"]] == 8_000  # 20% of the corrected 400 yuan


def test_budget_exhaustion_queues_and_never_overspends(db, world, clock, tmp_path):
    fund(db, clock, 100)  # 100 yuan budget; entitlement 160
    import_rows(
        db, tmp_path, [row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T18:00:00+08:00")]
    )
    res = bill_pay_settle(db, clock, JUNE, dt.date(2025, 7, 1))
    assert (res.granted_fen, res.queued_fen) == (10_000, 6_000)
    with db.uow() as uow:
        assert ledger.balance(uow.session, Account.program_budget("art2", 2025)) == 0
        parts = sorted((v["part"], v["status"], v["amount"]) for v in metering.list_vouchers(uow))
        assert parts == [(0, "granted", "100.00"), (1, "queued", "0.00")]
        assert ledger.verify(uow.session) == []
    fund(db, clock, 1000, "top-up")
    with db.uow() as uow:
        nxt = metering.settle_vouchers(uow, JULY, clock, PACKS)
        uow.commit()
    assert nxt.granted_fen == 6_000
    assert vouchers_by_org(db)[world["A"]] == 16_000


def test_large_amounts_are_exact_to_the_fen(db, world, clock, tmp_path):
    fund(db, clock, 20_000_000)
    with db.uow() as uow:
        center(uow, 2, world["OP"], 20, 4_999_999_999)  # 49,999,999.99 yuan per card-hour
        uow.commit()
    import_rows(
        db,
        tmp_path,
        [
            row(
                "big",
                world["A"],
                "2025-06-10T08:00:00+08:00",
                "2025-06-10T09:00:00+08:00",
                cards=1,
                center_id=2,
                pool_id=20,
            )
        ],
    )
    bill_pay_settle(db, clock, JUNE, dt.date(2025, 7, 1))
    with db.uow() as uow:
        [bill] = metering.list_bills(uow, month=JUNE)
        assert bill["total"] == "49999999.99"
        assert bill["vat"] == "2830188.68"
        [v] = metering.list_vouchers(uow)
        assert v["amount"] == "9999999.99"  # 20%, rounded down once
        assert ledger.balance(uow.session, Account.org_receivable(world["A"])) == 0
        assert ledger.balance(uow.session, Account.center_cash(2)) == 4_999_999_999


def test_dispute_holds_usage_out_of_billing_until_released(db, world, clock, tmp_path):
    from zhisuan.metering.model import DisputeState, ObservedRun

    import_rows(
        db, tmp_path, [row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T18:00:00+08:00")]
    )
    seen = ObservedRun(
        "sim",
        "a1",
        1,
        10,
        8,
        dt.datetime(2025, 6, 10, 0, tzinfo=UTC),
        dt.datetime(2025, 6, 10, 5, tzinfo=UTC),
    )
    with db.uow() as uow:
        [d] = metering.reconcile_month(uow, JUNE, [seen], clock)
        assert d["difference"] == 8 * 5 * 3600
        r = metering.draft_bills(uow, JUNE, clock)
        assert (r.bills, r.held_records) == (0, 1)
        metering.resolve_dispute(uow, int(d["id"]), DisputeState.RELEASED, "engine log checked", clock)
        r2 = metering.draft_bills(uow, JULY, clock)
        uow.commit()
    assert (r2.bills, r2.gross_fen) == (1, 80_000)
    with db.uow() as uow:
        [line] = metering.bill_detail(uow, int(metering.list_bills(uow)[0]["id"]))["lines"]
        assert line["adjustment"] and line["usage_month"] == "2025-06"


def test_voided_bill_is_reversed_in_the_ledger_and_billed_again(db, world, clock, tmp_path):
    import_rows(
        db, tmp_path, [row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")]
    )
    with db.uow() as uow:
        metering.draft_bills(uow, JUNE, clock)
        [b] = metering.list_bills(uow)
        metering.issue_bills(uow, clock, [int(b["id"])])
        metering.void_bill(uow, int(b["id"]), "wrong center name", clock)
        assert ledger.balance(uow.session, Account.org_receivable(world["A"])) == 0
        r = metering.draft_bills(uow, JUNE, clock)
        assert (r.bills, r.gross_fen) == (1, 16_000)
        assert ledger.verify(uow.session) == []
        uow.commit()


def test_bill_exports_as_excel_and_csv(db, world, clock, tmp_path):
    from openpyxl import load_workbook

    import_rows(
        db, tmp_path, [row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")]
    )
    with db.uow() as uow:
        metering.draft_bills(uow, JUNE, clock)
        [b] = metering.list_bills(uow)
        metering.export_bill(uow, int(b["id"]), tmp_path / "b.xlsx")
        metering.export_bill(uow, int(b["id"]), tmp_path / "b.csv")
    ws = load_workbook(tmp_path / "b.xlsx").active
    assert (ws.cell(7, 1).value, ws.cell(7, 2).value) == ("合计（含税，元）", 160)
    assert ws.cell(11, 1).value == "行号" and ws.cell(11, 10).value == "金额（含税，元）"
    assert ws.cell(12, 10).value == 160 and ws.cell(12, 11).value == pytest.approx(9.06)
    # names, not ids: the payer and the center by name, the pool by its key
    with db.uow() as uow:
        org = uow.session.get(OrganizationRow, world["A"])
        assert org is not None and ws.cell(2, 2).value == org.name
    assert not str(ws.cell(12, 3).value).isdigit()
    assert "合计（含税，元）,160.00" in (tmp_path / "b.csv").read_text()


def test_ledger_verify_finds_a_missing_or_unbalanced_posting(db, world, clock, tmp_path):
    from sqlalchemy import delete, update

    from zhisuan.store.models.ledger import LedgerLineRow

    fund(db, clock, 1000)
    import_rows(
        db, tmp_path, [row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")]
    )
    bill_pay_settle(db, clock, JUNE, dt.date(2025, 7, 1))
    with db.uow() as uow:
        s = uow.session
        [vid] = s.execute(select(VoucherLineRow.id)).scalars()
        s.execute(delete(LedgerLineRow).where(LedgerLineRow.posting_key == f"voucher_line:{vid}"))
        s.execute(delete(LedgerPostingRow).where(LedgerPostingRow.key == f"voucher_line:{vid}"))
        first = s.execute(select(LedgerLineRow.id).limit(1)).scalar_one()
        s.execute(update(LedgerLineRow).where(LedgerLineRow.id == first).values(fen=LedgerLineRow.fen + 1))
        codes = sorted(p.code for p in ledger.verify(s))
    assert codes == ["posted_once", "unbalanced"]


def test_late_payment_is_an_adjustment_line_in_the_next_settlement(db, world, clock, tmp_path):
    fund(db, clock, 1000)
    import_rows(
        db, tmp_path, [row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")]
    )
    with db.uow() as uow:
        metering.draft_bills(uow, JUNE, clock)
        metering.issue_bills(uow, clock, month=JUNE)
        june = metering.settle_vouchers(uow, JUNE, clock, PACKS)  # the bill is not paid yet
        assert (june.lines, june.granted_fen) == (0, 0)
        metering.pay_all(uow, JUNE, "LATE-1", dt.date(2025, 7, 20), clock)
        assert (
            metering.settle_vouchers(uow, JUNE, clock, PACKS).lines == 0
        )  # June is settled: nothing changes
        july = metering.settle_vouchers(uow, JULY, clock, PACKS)
        uow.commit()
    assert (july.lines, july.granted_fen) == (1, 3200)
    with db.uow() as uow:
        [v] = metering.list_vouchers(uow)
    assert (v["usage_month"], v["settlement_month"], v["adjustment"]) == ("2025-06", "2025-07", True)


def test_the_hand_over_month_splits_on_2025_08_11_and_no_money_rests_on_provisional_parameters(
    db, world, clock, tmp_path
):
    """August 2025: 2023 art. 2 judges up to the 10th (granted), 2.0 art. 3 from the 11th (provisional)."""
    fund(db, clock, 1_000_000)
    clock.set(dt.datetime(2025, 9, 2, 2, tzinfo=UTC))
    # one job across Shanghai midnight 10 → 11 August: 4 h before (320 yuan), 4 h after (320 yuan)
    import_rows(
        db, tmp_path, [row("ho", world["A"], "2025-08-10T20:00:00+08:00", "2025-08-11T04:00:00+08:00")]
    )
    with db.uow() as uow:
        days = sorted(str(d) for d in uow.session.execute(select(UsageRecordRow.policy_on)).scalars())
    assert days == ["2025-08-01", "2025-08-11"]  # split at the hand-over, one policy period each
    bill_pay_settle(db, clock, Month(2025, 8), dt.date(2025, 9, 5))
    with db.uow() as uow:
        lines = uow.session.execute(select(VoucherLineRow).order_by(VoucherLineRow.spend_fen)).scalars().all()
        got = sorted((v.pack, v.status, v.entitled_fen, v.amount_fen) for v in lines)
        reasons = [r for v in lines for r in json.loads(v.reasons)]
        assert ledger.verify(uow.session) == []
    assert got == [
        ("anhui-2023", "granted", 6_400, 6_400),  # 20% of 320 yuan, money granted
        ("anhui-2025", "provisional", 6_400, 0),  # the estimate is shown, nothing granted
    ]
    assert any("no money until confirmed" in r and "rate" in r for r in reasons)
    assert vouchers_by_org(db) == {world["A"]: 6_400}


def test_impossible_usage_is_refused(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 16: 100,000 cards on a pool of 80 are refused (row named); a full pool is fine."""
    with db.uow() as uow:
        user, operator = org(uow, "U"), org(uow, "Op")
        center(uow, 1, operator, 10, 1000)  # 10 nodes × 8 cards
        uow.commit()
    too_many = [row("big", user, "2025-06-02T01:00:00+08:00", "2025-06-02T02:00:00+08:00", cards=100_000)]
    with pytest.raises(ValidationError) as err:
        import_rows(db, tmp_path, too_many)
    assert (err.value.row, err.value.column) == (1, "cards")
    one_after_another = [
        row("a", user, "2025-06-02T01:00:00+08:00", "2025-06-02T02:00:00+08:00", cards=80),
        row("b", user, "2025-06-02T02:00:00+08:00", "2025-06-02T03:00:00+08:00", cards=80),
    ]
    assert import_rows(db, tmp_path, one_after_another, name="ok.jsonl").inserted == 2


def _usage_count(db) -> int:  # type: ignore[no-untyped-def]
    with db.uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(UsageRecordRow)).scalar_one())


def test_concurrent_usage_beyond_the_pool_is_refused_naming_the_line(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 16: two 48-card jobs at once on an 80-card pool are refused (the line and its cards named,
    nothing written) — in one file, and against usage already stored; back to back they fit."""
    with db.uow() as uow:
        user, operator = org(uow, "U"), org(uow, "Op")
        center(uow, 1, operator, 10, 1000)  # 10 nodes × 8 cards
        uow.commit()
    fits = [
        row("a", user, "2025-06-02T01:00:00+08:00", "2025-06-02T03:00:00+08:00", cards=48),
        row("b", user, "2025-06-02T03:00:00+08:00", "2025-06-02T04:00:00+08:00", cards=48),
        row("c", user, "2025-06-02T02:00:00+08:00", "2025-06-02T05:00:00+08:00", cards=32),
    ]
    over = row("d", user, "2025-06-02T02:30:00+08:00", "2025-06-02T02:40:00+08:00", cards=1)
    with pytest.raises(ValidationError, match=r"pool 10 has 80 cards.*would take 81") as err:
        import_rows(db, tmp_path, [*fits, over])
    assert (err.value.row, err.value.column) == (4, "cards")
    assert _usage_count(db) == 0
    assert import_rows(db, tmp_path, fits, name="fits.jsonl").inserted == 3
    late = [
        row("e", user, "2025-06-01T00:00:00+08:00", "2025-06-01T01:00:00+08:00", cards=80),
        row("f", user, "2025-06-02T03:59:00+08:00", "2025-06-02T06:00:00+08:00", cards=8),
    ]
    with pytest.raises(ValidationError, match="would take 88") as err:  # 48 + 32 stored, 8 new
        import_rows(db, tmp_path, late, name="late.jsonl")
    assert (err.value.row, err.value.column) == (2, "cards")
    assert _usage_count(db) == 3
    with db.uow() as uow:  # the shared writer (collection's) refuses it too, naming the record
        rows = [
            record_row(r)
            for r in split_usage(
                RawUsage(
                    "sim",
                    "g",
                    user,
                    1,
                    10,
                    "a100-sxm4-80gb",
                    1,
                    dt.datetime(2025, 6, 1, 18, tzinfo=UTC),  # 02:00-03:00 Shanghai: a and c run
                    dt.datetime(2025, 6, 1, 19, tzinfo=UTC),
                ),
                metering.rate_card(uow),
                [],
            )
        ]
        with pytest.raises(ValidationError, match=r"usage sim/g/10/.* would take 81") as err:
            store_rows(uow, rows)
        assert err.value.field == "cards"


def test_a_corrected_record_frees_its_cards(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A correction reverses its record: the replacement and another job fit where the original was."""
    with db.uow() as uow:
        user, operator = org(uow, "U"), org(uow, "Op")
        center(uow, 1, operator, 10, 1000)
        uow.commit()
    import_rows(
        db, tmp_path, [row("a", user, "2025-06-02T01:00:00+08:00", "2025-06-02T03:00:00+08:00", cards=80)]
    )
    with db.uow() as uow:
        key = uow.session.execute(select(UsageRecordRow.key)).scalar_one()
    fixed = [
        row("a", user, "2025-06-02T01:00:00+08:00", "2025-06-02T02:00:00+08:00", cards=80, corrects=key),
        row("b", user, "2025-06-02T02:00:00+08:00", "2025-06-02T03:00:00+08:00", cards=80),
    ]
    assert import_rows(db, tmp_path, fixed, name="fixed.jsonl").inserted == 3  # reversal, a again, b


def test_every_money_moving_step_is_audited_in_its_transaction(db, world, clock, tmp_path):  # type: ignore[no-untyped-def]
    """Issue 16: usage import, bills drafted, issued, paid and voided and voucher settlement each leave
    an event naming who did it (none did before), and the chain stays intact."""
    fund(db, clock, 1_000_000)
    rows = [
        row("a1", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T18:00:00+08:00"),
        row("c1", world["C"], "2025-06-10T08:00:00+08:00", "2025-06-10T09:00:00+08:00"),
    ]
    with db.uow() as uow:
        metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", rows), PACKS, actor="ops", at=clock.now())
        metering.draft_bills(uow, JUNE, clock, actor="fin")
        metering.issue_bills(uow, clock, month=JUNE, actor="fin")
        bills = dict(uow.session.execute(select(BillRow.org_id, BillRow.id)).all())
        metering.pay_bill(uow, bills[world["A"]], "BANK-1", dt.date(2025, 7, 1), clock, actor="fin")
        metering.void_bill(uow, bills[world["C"]], "wrong price", clock, actor="fin")
        uow.commit()
    with db.uow() as uow:
        metering.settle_vouchers(uow, JUNE, clock, PACKS, actor="fin")
        uow.commit()
    with db.uow() as uow:
        events = audit.list_events(uow, Principal(None, "p", Role.PROVINCE), limit=100)
        assert {(e.action, e.actor) for e in events} >= {
            ("usage.import", "ops"),
            ("bill.draft", "fin"),
            ("bill.issue", "fin"),
            ("bill.pay", "fin"),
            ("bill.void", "fin"),
            ("voucher.settle", "fin"),
        }
        assert audit.verify(uow).intact
