"""Organizations, users and tokens on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import TestDatabase
from zhisuan import accounts, audit
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from zhisuan.core.orgs import OrgKind
from zhisuan.store.models.core import OrganizationRow

ADMIN = Principal(None, "test-admin", Role.ADMIN)


def org(uow, name: str, body: str, kind: OrgKind = OrgKind.ENTERPRISE, city: str = "340100", now=None):  # type: ignore[no-untyped-def]
    return accounts.create_org(
        uow,
        ADMIN,
        accounts.OrgInput(name=name, credit_code=make_credit_code(body), kind=kind, city_code=city),
        now,
    )


def test_create_and_find_an_org_by_id_code_or_name(db: TestDatabase, clock: ManualClock) -> None:
    with db.uow() as uow:
        view = org(uow, "合肥甲科技有限公司", "91340100MA2TGXK01", now=clock.now())
        uow.commit()
    with db.uow() as uow:
        for ref in (view.id, view.credit_code, view.name):
            assert accounts.get_org(uow, ADMIN, ref).id == view.id


def test_duplicate_credit_code_is_a_conflict_and_writes_nothing(db: TestDatabase, clock: ManualClock) -> None:
    with db.uow() as uow:
        org(uow, "甲公司", "91340100MA2TGXK02", now=clock.now())
        uow.commit()
    with db.uow() as uow, pytest.raises(ConflictError, match="credit_code"):
        org(uow, "乙公司", "91340100MA2TGXK02", now=clock.now())
    with db.uow() as uow:
        assert len(accounts.list_orgs(uow, ADMIN)) == 1


def test_in_province_org_needs_a_known_city(db: TestDatabase, clock: ManualClock) -> None:
    with db.uow() as uow, pytest.raises(NotFoundError, match="division code"):
        org(uow, "丙公司", "91340100MA2TGXK03", city="999999", now=clock.now())


def test_related_parties_from_stored_shareholdings(db: TestDatabase, clock: ManualClock) -> None:
    with db.uow() as uow:
        group = org(uow, "集团", "91340100MA2TGXK10", now=clock.now())
        sub = org(uow, "子公司", "91340100MA2TGXK11", now=clock.now())
        center = org(uow, "运营方", "91340100MA2TGXK12", kind=OrgKind.CENTER_OPERATOR, now=clock.now())
        other = org(uow, "无关公司", "91340100MA2TGXK13", now=clock.now())
        accounts.add_ownership(uow, ADMIN, group.id, sub.id, "60", clock.now())
        accounts.add_ownership(uow, ADMIN, sub.id, center.id, "40", clock.now())
        uow.commit()
    with db.uow() as uow:
        graph = accounts.ownership_graph(uow)
        assert graph.related(group.id, center.id)  # 60% × 40% = 24%
        assert not graph.related(other.id, center.id)


def test_users_need_the_right_scope_for_their_role(db: TestDatabase, clock: ManualClock) -> None:
    with db.uow() as uow:
        plain = org(uow, "丁公司", "91340100MA2TGXK20", now=clock.now())
        with pytest.raises(ValidationError, match="organization"):
            accounts.add_user(
                uow, ADMIN, username="u1", password="password1", role=Role.USER, now=clock.now()
            )
        with pytest.raises(ValidationError, match="center-operator"):
            accounts.add_user(
                uow,
                ADMIN,
                username="u2",
                password="password1",
                role=Role.OPERATOR,
                org=plain.id,
                now=clock.now(),
            )
        with pytest.raises(ValidationError, match="8 characters"):
            accounts.add_user(uow, ADMIN, username="u3", password="short", role=Role.ADMIN, now=clock.now())


def test_tokens_authenticate_and_are_stored_hashed(db: TestDatabase, clock: ManualClock) -> None:
    with db.uow() as uow:
        a = org(uow, "戊公司", "91340100MA2TGXK30", now=clock.now())
        accounts.add_user(
            uow, ADMIN, username="eve", password="password1", role=Role.USER, org=a.id, now=clock.now()
        )
        token = accounts.create_token(uow, ADMIN, "eve", "laptop", clock.now())
        uow.commit()
    with db.uow() as uow:
        assert accounts.authenticate_token(uow, token, clock.now())[0].username == "eve"
        stored = uow.session.execute(select(func.count()).select_from(OrganizationRow)).scalar()
        assert stored == 1
        with pytest.raises(AuthenticationError):
            accounts.authenticate_token(uow, token + "x", clock.now())
        with pytest.raises(AuthenticationError):
            accounts.authenticate_password(uow, "eve", "wrong-password")


def test_every_change_is_in_an_intact_audit_chain(db: TestDatabase, clock: ManualClock) -> None:
    with db.uow() as uow:
        org(uow, "己公司", "91340100MA2TGXK40", now=clock.now())
        org(uow, "庚公司", "91340100MA2TGXK41", now=clock.now())
        uow.commit()
    with db.uow() as uow:
        verdict = audit.verify(uow)
        assert verdict.checked == 2 and verdict.intact
