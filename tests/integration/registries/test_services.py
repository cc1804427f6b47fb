"""The registries on both databases: shares by the policy engine, bulletins frozen, one award per
standard, imports all-or-nothing, and a city writing only its own city's entries."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import TestDatabase
from tests.factories.registries import HEFEI, PROVINCE, WUHU, park, scenario, standard
from zhisuan.awards import payouts
from zhisuan.core.access import ANONYMOUS, Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.policy import PackSet, load_pack_set
from zhisuan.registries import bulletins, services
from zhisuan.store.models.awards import ApplicationRow, AwardCallRow
from zhisuan.store.models.core import AuditEventRow
from zhisuan.store.models.registries import RegistryEntryRow


@pytest.fixture(scope="module")
def packs() -> PackSet:
    return load_pack_set()


def _count(db: TestDatabase, name: str) -> int:
    with db.uow() as uow:
        q = select(func.count()).select_from(RegistryEntryRow).where(RegistryEntryRow.registry_name == name)
        return int(uow.session.execute(q).scalar_one())


def _add(
    db: TestDatabase, packs: PackSet, clock: ManualClock, name: str, values: dict[str, Any]
) -> dict[str, Any]:
    with db.uow() as uow:
        out = services.create_entry(uow, PROVINCE, packs, clock, name, values)
        uow.commit()
    return out


def test_park_share_of_exactly_60_percent_fails_and_60_01_passes(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    at_60 = _add(
        db, packs, clock, "parks", park(title="甲园区", ai_enterprises=6000, total_enterprises=10000)
    )
    above = _add(
        db, packs, clock, "parks", park(title="乙园区", ai_enterprises=6001, total_enterprises=10000)
    )
    assert (at_60["share"], at_60["above_threshold"]) == ("60.00%", False)
    assert (above["share"], above["above_threshold"]) == ("60.01%", True)
    assert "60%" in str(at_60["share_reason"])


def test_a_park_cannot_count_more_ai_firms_than_firms(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    with db.uow() as uow, pytest.raises(ValidationError) as err:
        services.create_entry(
            uow, PROVINCE, packs, clock, "parks", park(ai_enterprises=11, total_enterprises=10)
        )
    assert err.value.field == "ai_enterprises"


def _independent_counts(rows: list[dict[str, Any]], start: dt.date, end: dt.date) -> dict[str, Counter[str]]:
    """Counted again here, the plain way, from the values the test wrote."""
    out: dict[str, Counter[str]] = {}
    for r in rows:
        for step, day in (("opened", "opened_on"), ("matched", "matched_on"), ("completed", "completed_on")):
            if r.get(day) and start <= dt.date.fromisoformat(r[day]) < end:
                out.setdefault(r["city"], Counter())[step] += 1
    return out


def _scenarios(db: TestDatabase, packs: PackSet, clock: ManualClock) -> list[dict[str, Any]]:
    rows = [
        scenario(title="甲", opened_on="2025-01-05"),
        scenario(title="乙", status="matched", opened_on="2025-02-01", matched_on="2025-03-15"),
        scenario(
            title="丙",
            status="completed",
            opened_on="2024-11-01",
            matched_on="2025-01-20",
            completed_on="2025-03-30",
        ),
        scenario(title="丁", city="340200", department="市数据资源局", opened_on="2025-03-31"),
        scenario(title="戊", city="340200", opened_on="2025-04-01"),  # the next quarter
        scenario(
            title="己",
            city="340200",
            status="completed",
            opened_on="2025-01-02",
            matched_on="2025-01-03",
            completed_on="2025-02-04",
        ),
    ]
    for r in rows:
        _add(db, packs, clock, "scenarios", r)
    return rows


def test_ranking_figures_equal_counts_computed_independently(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    rows = _scenarios(db, packs, clock)
    with db.uow() as uow:
        out = bulletins.draft_bulletin(uow, PROVINCE, clock, "quarterly", "2025Q1")
        uow.commit()
    expected = _independent_counts(rows, dt.date(2025, 1, 1), dt.date(2025, 4, 1))
    got = {c["key"]: Counter({k: c[k] for k in ("opened", "matched", "completed")}) for c in out["cities"]}
    assert {k: +v for k, v in got.items()} == expected
    assert out["totals"] == {
        s: sum(c[s] for c in expected.values()) for s in ("opened", "matched", "completed")
    }
    # both cities completed one; 合肥 matched one more in the quarter: it ranks first
    assert [c["key"] for c in out["cities"]] == ["340100", "340200"]
    assert [c["rank"] for c in out["cities"]] == [1, 2]
    with db.uow() as uow:
        annual = bulletins.draft_bulletin(uow, PROVINCE, clock, "annual", "2025")
        uow.commit()
    assert annual["totals"]["opened"] == 5  # 丙 opened in 2024


def test_a_published_bulletin_is_frozen(db: TestDatabase, packs: PackSet, clock: ManualClock) -> None:
    _scenarios(db, packs, clock)
    with db.uow() as uow:
        draft = bulletins.draft_bulletin(uow, PROVINCE, clock, "quarterly", "2025Q1")
        published = bulletins.publish_bulletin(uow, PROVINCE, clock, int(draft["id"]))
        uow.commit()
    _add(db, packs, clock, "scenarios", scenario(title="补录", opened_on="2025-02-02"))
    with db.uow() as uow:
        again = bulletins.get_bulletin(uow, ANONYMOUS, int(draft["id"]))
        with pytest.raises(ConflictError):
            bulletins.publish_bulletin(uow, PROVINCE, clock, int(draft["id"]))
    assert again["state"] == "published"
    assert again["totals"] == published["totals"] == draft["totals"]
    assert again["cities"] == published["cities"]


def test_a_draft_is_not_public_and_a_period_publishes_once_it_has_ended(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    with db.uow() as uow:
        draft = bulletins.draft_bulletin(uow, PROVINCE, clock, "quarterly", "2025Q2")  # clock: 2025-06-15
        with pytest.raises(NotFoundError):
            bulletins.get_bulletin(uow, ANONYMOUS, int(draft["id"]))
        with pytest.raises(ConflictError):
            bulletins.publish_bulletin(uow, PROVINCE, clock, int(draft["id"]))
        with pytest.raises(PermissionDeniedError):
            bulletins.draft_bulletin(uow, HEFEI, clock, "annual", "2024")


def _grant(db: TestDatabase, clock: ManualClock, ref: str, program: str = "art14") -> None:
    """An award the awards workflow approved for an entry (its number is the application's project ref)."""
    now = clock.now()
    with db.uow() as uow:
        call = AwardCallRow(
            program=program,
            title="奖补",
            opens_on=dt.date(2025, 1, 1),
            closes_on=dt.date(2025, 12, 31),
            budget_year=2025,
            payer="province",
            notice_days=5,
            created_by="province",
            created_at=now,
        )
        uow.session.add(call)
        uow.session.flush()
        uow.session.add(
            ApplicationRow(
                call_id=call.id,
                program=program,
                applicant_kind="org",
                city_code="340100",
                project_ref=ref,
                project_name="奖补项目",
                event_on=dt.date(2025, 3, 1),
                facts="{}",
                other_funding="[]",
                state="approved",
                round=1,
                created_by="firm",
                created_at=now,
                updated_at=now,
                approved_fen=50_000_000,
            )
        )
        uow.commit()


def test_a_standard_cannot_be_awarded_twice(db: TestDatabase, packs: PackSet, clock: ManualClock) -> None:
    entry = _add(db, packs, clock, "standards", standard())
    assert entry["awarded"] is False
    with db.uow() as uow:
        first = services.standard_award_check(uow, PROVINCE, packs, clock.now(), int(entry["id"]))
    assert (first["eligible"], first["amount"]) == (True, "500000.00")
    _grant(db, clock, "GB/T 45000-2025")
    with db.uow() as uow:
        second = services.standard_award_check(uow, PROVINCE, packs, clock.now(), int(entry["id"]))
        shown = services.get_entry(uow, ANONYMOUS, packs, clock.now(), "standards", int(entry["id"]))
    assert (second["eligible"], second["amount"], second["already_awarded"]) == (False, "0.00", True)
    assert any("one award per standard" in r for r in second["reasons"])
    assert (shown["awarded"], shown["awarded_amount"]) == (True, "500000.00")


CSV_HEADER = "场景名称,所在市,牵头部门,类型,状态,开放日期\n"


def test_a_bulk_import_with_a_bad_row_names_it_and_writes_nothing(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    data = (
        CSV_HEADER
        + "场景一,340100,市经信局,场景开放,已开放,2025-05-01\n"
        + "场景二,合肥,市卫健委,揭榜挂帅,已开放,2025-05-02\n"
        + "场景三,340100,市教育局,场景开放,已开放,2025-13-01\n"
    ).encode()
    audit_before = _audit_count(db)
    with db.uow() as uow, pytest.raises(ValidationError) as err:
        services.import_file(uow, PROVINCE, packs, clock, "scenarios", data)
    assert (err.value.row, err.value.column) == (4, "opened_on")
    assert _count(db, "scenarios") == 0
    assert _audit_count(db) == audit_before
    good = data.replace(b"2025-13-01", b"2025-06-01")
    with db.uow() as uow:
        out = services.import_file(uow, PROVINCE, packs, clock, "scenarios", good)
        uow.commit()
    assert (out["created"], _count(db, "scenarios")) == (3, 3)


def _audit_count(db: TestDatabase) -> int:
    with db.uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(AuditEventRow)).scalar_one())


def test_an_export_reads_back_as_an_import_that_changes_nothing(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    _add(db, packs, clock, "parks", park())
    with db.uow() as uow:
        name, _ctype, data = services.export(uow, PROVINCE, clock.now(), "parks", "csv")
    text = data.decode("utf-8-sig")
    assert name.endswith(".csv") and text.startswith("编号,园区名称,所在市")
    with db.uow() as uow:
        out = services.import_file(uow, PROVINCE, packs, clock, "parks", data)
        uow.commit()
    assert (out["created"], out["updated"], _count(db, "parks")) == (0, 0, 1)
    with db.uow() as uow:
        _n, _c, xlsx = services.export(uow, PROVINCE, clock.now(), "parks", "xlsx")
    edited = _edit_xlsx(xlsx, "F2", 120)  # 入园企业总数 of the first entry
    with db.uow() as uow:
        again = services.import_file(uow, PROVINCE, packs, clock, "parks", edited)
        shown = services.list_entries(uow, PROVINCE, packs, clock.now(), "parks")["entries"]
    assert (again["created"], again["updated"]) == (0, 1)
    assert [(e["total_enterprises"], e["version"]) for e in shown] == [(120, 2)]


def _edit_xlsx(data: bytes, cell: str, value: object) -> bytes:
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    book.worksheets[0][cell] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_city_user_edits_only_its_own_citys_entries(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    with db.uow() as uow:
        mine = services.create_entry(uow, HEFEI, packs, clock, "scenarios", scenario(city=None))
        theirs = services.create_entry(uow, WUHU, packs, clock, "scenarios", scenario(city="340200"))
        uow.commit()
    assert mine["city"] == "340100"
    with db.uow() as uow:
        changed = services.update_entry(
            uow, HEFEI, packs, clock, "scenarios", int(mine["id"]), {"winner": "某公司"}
        )
        with pytest.raises(PermissionDeniedError):  # public: readable, not writable
            services.update_entry(
                uow, HEFEI, packs, clock, "scenarios", int(theirs["id"]), {"winner": "某公司"}
            )
        with pytest.raises(PermissionDeniedError):  # nor may it move its own entry to another city
            services.update_entry(uow, HEFEI, packs, clock, "scenarios", int(mine["id"]), {"city": "340200"})
        with pytest.raises(PermissionDeniedError):
            services.create_entry(uow, HEFEI, packs, clock, "scenarios", scenario(city="340200"))
        uow.commit()
    assert (changed["winner"], changed["version"]) == ("某公司", 2)
    with db.uow() as uow:
        events = uow.session.execute(
            select(AuditEventRow).where(AuditEventRow.action == "registry.update")
        ).scalars()
        details = [json.loads(e.detail) for e in events]
    assert details == [{"changed": {"winner": {"from": None, "to": "某公司"}}}]


def test_a_private_registry_is_not_found_outside_its_scope(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    firm = {
        "title": "合肥某大模型科技有限公司",
        "city": "340200",
        "category": "general_llm",
        "introduced_on": "2025-05-20",
    }
    entry = _add(db, packs, clock, "enterprises", firm)
    with db.uow() as uow:
        assert services.list_entries(uow, HEFEI, packs, clock.now(), "enterprises")["total"] == 0
        assert services.list_entries(uow, WUHU, packs, clock.now(), "enterprises")["total"] == 1
        for who in (HEFEI, ANONYMOUS, Principal(None, "u", Role.USER, org_id=None)):  # type: ignore[arg-type]
            with pytest.raises(NotFoundError):
                services.get_entry(uow, who, packs, clock.now(), "enterprises", int(entry["id"]))


def test_competition_support_by_instrument_stays_within_the_cap(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    winner = {
        "title": "具身智能团队",
        "city": "340100",
        "competition": "全国人工智能创新大赛",
        "won_on": "2025-05-01",
        "lands_in_province": True,
        "equity": "20000000",
        "debt": "5000000",
        "talent_award": "3000000",
        "prize": "2000000",
    }
    ok = _add(db, packs, clock, "competitions", winner)
    assert ok["support_total"] == "30000000.00"
    with db.uow() as uow, pytest.raises(ValidationError) as err:
        services.create_entry(uow, PROVINCE, packs, clock, "competitions", winner | {"prize": "2000000.01"})
    assert err.value.field == "prize" and "30000000.00" in err.value.message


def test_talent_recognitions_and_green_channels_are_kept_apart(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    person = {"title": "张三", "employer": "某研究院", "decided_on": "2025-05-01", "city": "340100"}
    _add(db, packs, clock, "talents", person | {"track": "recognition", "level": "B类"})
    _add(db, packs, clock, "talents", person | {"track": "title_channel", "channel_status": "passed"})
    with db.uow() as uow:
        with pytest.raises(ValidationError) as err:
            services.create_entry(
                uow, PROVINCE, packs, clock, "talents", person | {"track": "talent_channel", "level": "A类"}
            )
        assert err.value.field in {"channel_status", "level"}
        listed = services.list_entries(
            uow, PROVINCE, packs, clock.now(), "talents", filters={"track": "recognition"}
        )
    assert [e["track"] for e in listed["entries"]] == ["recognition"]


def test_a_fund_tracks_its_scale_over_its_sub_funds(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    theme = _add(
        db,
        packs,
        clock,
        "funds",
        {
            "title": "安徽省人工智能产业主题基金",
            "level": "theme",
            "manager": "安徽省投资集团",
            "committed": "10000000000",
            "established_on": "2024-01-10",
        },
    )
    for n, amount in enumerate(("6000000000", "4000000000")):
        _add(
            db,
            packs,
            clock,
            "funds",
            {
                "title": f"子基金{n}",
                "city": "340100",
                "level": "sub",
                "parent_id": theme["id"],
                "manager": "合肥产投",
                "committed": amount,
                "established_on": "2024-06-01",
            },
        )
    with db.uow() as uow:
        shown = services.get_entry(uow, ANONYMOUS, packs, clock.now(), "funds", int(theme["id"]))
        with pytest.raises(ValidationError) as err:
            services.create_entry(
                uow,
                PROVINCE,
                packs,
                clock,
                "funds",
                {
                    "title": "孤儿子基金",
                    "level": "sub",
                    "manager": "某",
                    "committed": "1",
                    "established_on": "2024-06-01",
                },
            )
    assert err.value.field == "parent_id"
    assert [s["committed"] for s in shown["sub_funds"]] == ["6000000000.00", "4000000000.00"]
    assert (shown["tracked_scale"], shown["minimum_scale"], shown["scale_reached"]) == (
        "20000000000.00",
        "20000000000.00",
        True,
    )


def test_listing_filters_sorts_and_pages(db: TestDatabase, packs: PackSet, clock: ManualClock) -> None:
    for n in range(5):
        _add(
            db,
            packs,
            clock,
            "parks",
            park(title=f"园区{n}", total_enterprises=100 + n, city="340100" if n % 2 else "340200"),
        )
    with db.uow() as uow:
        page = services.list_entries(
            uow,
            ANONYMOUS,
            packs,
            clock.now(),
            "parks",
            filters={"city": "合肥"},
            sort="-total_enterprises",
            limit=1,
        )
        with pytest.raises(ValidationError):
            services.list_entries(uow, ANONYMOUS, packs, clock.now(), "parks", sort="nope")
    assert page["total"] == 2
    assert [e["title"] for e in page["entries"]] == ["园区3"]


def test_a_key_enterprise_shows_the_citys_recorded_payouts_to_its_project(
    db: TestDatabase, packs: PackSet, clock: ManualClock, tmp_path: Path
) -> None:
    firm = {
        "title": "芜湖某大模型有限公司",
        "category": "industry_llm",
        "introduced_on": "2025-02-01",
        "project_ref": "WH-KT-01",
    }
    with db.uow() as uow:
        entry = services.create_entry(uow, WUHU, packs, clock, "enterprises", firm)
        for amount in ("1000000", "250000.50"):
            payouts.record_payout(
                uow,
                WUHU,
                clock,
                tmp_path,
                {
                    "program": "art8",
                    "kind": "project",
                    "project_ref": "WH-KT-01",
                    "project_name": "行业大模型",
                    "recipient": "芜湖某大模型有限公司",
                    "amount": amount,
                    "paid_on": "2025-05-01",
                },
            )
        uow.commit()
    with db.uow() as uow:
        shown = services.get_entry(uow, WUHU, packs, clock.now(), "enterprises", int(entry["id"]))
    assert (entry["city_payouts"], shown["city_payouts"]) == ("0.00", "1250000.50")


def test_a_benchmark_scenario_shows_its_award_from_the_benchmark_round(
    db: TestDatabase, packs: PackSet, clock: ManualClock
) -> None:
    case = _add(
        db,
        packs,
        clock,
        "scenarios",
        scenario(kind="benchmark", project_ref="BM-2025-01", investment="4000000"),
    )
    assert case["awarded"] is False
    _grant(db, clock, "BM-2025-01", "art6")
    _grant(db, clock, "GB/T 1-2025")  # another program's award on another ref: not counted
    with db.uow() as uow:
        shown = services.get_entry(uow, ANONYMOUS, packs, clock.now(), "scenarios", int(case["id"]))
    assert (shown["awarded"], shown["awarded_amount"]) == (True, "500000.00")
