"""Bulletin figures equal counts made independently here; a published bulletin is frozen."""

from __future__ import annotations

import datetime as dt
import statistics

from tests.conftest import TestDatabase
from tests.factories.opendata import BUREAU, HEFEI, WUHU, fields, org_member
from zhisuan.core.clock import UTC, ManualClock
from zhisuan.opendata import bulletins, catalog, sharing


def _at(clock: ManualClock, day: dt.date, hour: int) -> None:
    clock.set(dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC))


def test_bulletin_figures_equal_independent_counts_and_publishing_freezes_them(
    db: TestDatabase, clock: ManualClock
) -> None:
    q2 = dt.date(2025, 4, 1)
    with db.uow() as uow:
        firm = org_member(uow, clock.now(), "91340100MA8Q0RD04")
        _at(clock, dt.date(2025, 3, 20), 2)  # Q1: opened before the quarter
        old = catalog.create_dataset(uow, HEFEI, clock, fields(title="旧数据"), publish=True)
        idents = []
        for i, day in enumerate([q2, q2 + dt.timedelta(days=40), dt.date(2025, 6, 30)]):
            _at(clock, day, 3)
            idents.append(
                catalog.create_dataset(
                    uow,
                    HEFEI if i < 2 else WUHU,
                    clock,
                    fields(title=f"条件数据{i}", openness="conditional", conditions="协议"),
                    publish=True,
                )["identifier"]
            )
        _at(clock, dt.date(2025, 7, 1), 1)  # Q3 (09:00 Shanghai): not this quarter
        catalog.create_dataset(uow, HEFEI, clock, fields(title="下季度"), publish=True)
        # requests: received in Q2, answered at various hours
        answers = [(idents[0], 5, "grant"), (idents[1], 50, "refuse"), (idents[2], 10, "grant")]
        for ident, hours, action in answers:
            _at(clock, dt.date(2025, 5, 2), 1)
            req = sharing.request_access(uow, firm, clock, str(ident), "用于训练模型")
            clock.advance(hours * 3600)
            payload = {
                "action": action,
                "reason": "不符合条件",
                "conditions": "不得转让",
                "expires_on": "2025-12-31",
            }
            sharing.answer_request(uow, BUREAU, clock, int(str(req["id"])), payload)
        _at(clock, dt.date(2025, 5, 3), 1)
        sharing.request_access(uow, firm, clock, str(idents[1]), "再次申请说明")  # received, not answered
        uow.commit()
    _at(clock, dt.date(2025, 7, 2), 2)
    with db.uow() as uow:
        out = bulletins.generate(uow, BUREAU, clock, "2025Q2")
        uow.commit()
    lines = {x["publisher_key"]: x for x in out["lines"]}  # type: ignore[union-attr]
    hefei, wuhu = lines["city:340100"], lines["city:340200"]
    assert (hefei["opened"], hefei["opened_total"]) == (2, 3)  # 旧数据 counts in the total only
    assert (hefei["received"], hefei["answered"], hefei["refused"]) == (3, 2, 1)
    assert hefei["median_hours_to_answer"] == statistics.median([5, 50])
    assert (wuhu["opened"], wuhu["received"], wuhu["answered"], wuhu["refused"]) == (1, 1, 1, 0)
    assert wuhu["median_hours_to_answer"] == 10
    assert (hefei["rank"], wuhu["rank"]) == (1, 2)  # more opened ranks first
    with db.uow() as uow:
        bulletins.publish(uow, BUREAU, clock, "2025Q2")
        catalog.update_dataset(uow, HEFEI, clock, str(old["identifier"]), {"title": "改名"})
        catalog.set_state(uow, WUHU, clock, str(idents[2]), "withdrawn")
        catalog.create_dataset(uow, WUHU, clock, fields(title="补录"), publish=True)
        uow.commit()
    with db.uow() as uow:
        again = bulletins.get(uow, HEFEI, "2025Q2")
        public = bulletins.list_bulletins(uow, HEFEI)
    assert again["lines"] == out["lines"] and again["state"] == "published"
    assert [b["period"] for b in public] == ["2025Q2"]
    del old
