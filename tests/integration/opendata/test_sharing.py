"""Conditional data: no download without a grant in force, none after it expires; requests answered."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import TestDatabase
from tests.factories.opendata import BUREAU, HEFEI, WUHU, fields, org_member
from zhisuan.core.clock import ManualClock
from zhisuan.core.errors import NotFoundError, PermissionDeniedError
from zhisuan.opendata import catalog, distributions, sharing


def test_conditional_data_needs_a_grant_in_force(db: TestDatabase, clock: ManualClock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with db.uow() as uow:
        firm = org_member(uow, clock.now(), "91340100MA8Q0RD01")
        other = org_member(uow, clock.now(), "91340100MA8Q0RD02")
        d = catalog.create_dataset(
            uow, HEFEI, clock, fields(openness="conditional", conditions="仅限模型训练"), publish=True
        )
        dist = distributions.add_distribution(
            uow, HEFEI, clock, tmp_path, str(d["identifier"]), {"format": "CSV"}, b"line,stop\n1,A\n"
        )
        uow.commit()
    dist_id = int(str(dist["id"]))
    with db.uow() as uow, pytest.raises(PermissionDeniedError):
        distributions.download(uow, firm, clock, tmp_path, dist_id)
    with db.uow() as uow:
        req = sharing.request_access(uow, firm, clock, str(d["identifier"]), "训练城市交通调度模型")
        uow.commit()
    with db.uow() as uow, pytest.raises(PermissionDeniedError):  # pending is not granted
        distributions.download(uow, firm, clock, tmp_path, dist_id)
    with db.uow() as uow, pytest.raises(NotFoundError):  # another city does not even see it
        sharing.answer_request(uow, WUHU, clock, int(str(req["id"])), {"action": "grant"})
    clock.advance(30 * 3600)
    with db.uow() as uow:
        granted = sharing.answer_request(
            uow,
            HEFEI,
            clock,
            int(str(req["id"])),
            {"action": "grant", "conditions": "不得转让", "expires_on": "2025-06-30"},
        )
        uow.commit()
    assert granted["state"] == "granted" and granted["hours_to_answer"] == 30.0
    with db.uow() as uow:
        _dist, content = distributions.download(uow, firm, clock, tmp_path, dist_id)
        uow.commit()
    assert content == b"line,stop\n1,A\n"
    with db.uow() as uow, pytest.raises(PermissionDeniedError):  # the grant is the firm's, not other's
        distributions.download(uow, other, clock, tmp_path, dist_id)
    with db.uow() as uow, pytest.raises(NotFoundError):  # nor may other read the firm's request
        sharing.get_request(uow, other, clock, int(str(req["id"])))
    clock.set(dt.datetime(2025, 6, 30, 15, 59, tzinfo=dt.UTC))  # 23:59 in Shanghai: still the last day
    with db.uow() as uow:
        distributions.download(uow, firm, clock, tmp_path, dist_id)
        uow.commit()
    clock.set(dt.datetime(2025, 6, 30, 16, 0, tzinfo=dt.UTC))  # 1 July in Shanghai: expired
    with db.uow() as uow, pytest.raises(PermissionDeniedError):
        distributions.download(uow, firm, clock, tmp_path, dist_id)
    with db.uow() as uow:
        assert sharing.get_request(uow, firm, clock, int(str(req["id"])))["state"] == "expired"
        from sqlalchemy import select

        from zhisuan.store.models.opendata import DownloadRow

        recorded = list(uow.session.execute(select(DownloadRow.request_id, DownloadRow.username)).all())
    assert recorded == [(int(str(req["id"])), firm.username)] * 2


def test_a_refusal_names_its_reason_and_not_open_data_is_never_shared(
    db: TestDatabase,
    clock: ManualClock,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    with db.uow() as uow:
        firm = org_member(uow, clock.now(), "91340100MA8Q0RD03")
        d = catalog.create_dataset(
            uow, WUHU, clock, fields(openness="conditional", conditions="审批"), publish=True
        )
        closed = catalog.create_dataset(
            uow, WUHU, clock, fields(title="不开放", openness="not_open"), publish=True
        )
        dist = distributions.add_distribution(
            uow,
            WUHU,
            clock,
            tmp_path,
            str(closed["identifier"]),
            {"format": "API", "access_url": "https://x.gov.cn/a"},
        )
        req = sharing.request_access(uow, firm, clock, str(d["identifier"]), "研究用途说明")
        out = sharing.answer_request(
            uow, BUREAU, clock, int(str(req["id"])), {"action": "refuse", "reason": "涉及个人信息"}
        )
        uow.commit()
    assert out["state"] == "refused" and out["refusal_reason"] == "涉及个人信息"
    with db.uow() as uow, pytest.raises(PermissionDeniedError):
        distributions.download(uow, firm, clock, tmp_path, int(str(dist["id"])))


def test_a_change_of_openness_is_audited_and_takes_effect_at_once(
    db: TestDatabase,
    clock: ManualClock,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    from sqlalchemy import select

    from zhisuan.store.models.core import AuditEventRow

    with db.uow() as uow:
        firm = org_member(uow, clock.now(), "91340100MA8Q0RD05")
        d = catalog.create_dataset(uow, HEFEI, clock, fields(), publish=True)
        dist = distributions.add_distribution(
            uow, HEFEI, clock, tmp_path, str(d["identifier"]), {"format": "CSV"}, b"x\n"
        )
        distributions.download(uow, firm, clock, tmp_path, int(str(dist["id"])))  # unconditional: anyone
        catalog.update_dataset(uow, HEFEI, clock, str(d["identifier"]), {"openness": "not_open"})
        actions = list(uow.session.execute(select(AuditEventRow.action, AuditEventRow.subject)).all())
        assert ("dataset.openness", f"dataset:{d['identifier']}") in actions
        with pytest.raises(PermissionDeniedError):
            distributions.download(uow, firm, clock, tmp_path, int(str(dist["id"])))
