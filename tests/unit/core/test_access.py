import pytest

from zhisuan.core.access import (
    ANONYMOUS,
    Action,
    Kind,
    Principal,
    Resource,
    Role,
    authorize,
    can,
    visible_scope,
)
from zhisuan.core.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from zhisuan.core.ids import OrgId, UserId

ORG_A, ORG_B, OPERATOR = OrgId(1), OrgId(2), OrgId(3)
alice = Principal(UserId(1), "alice", Role.USER, ORG_A)
alice_admin = Principal(UserId(2), "aa", Role.ORG_ADMIN, ORG_A)
operator = Principal(UserId(3), "op", Role.OPERATOR, OPERATOR)
hefei = Principal(UserId(4), "hefei", Role.CITY, city_code="340100")
finance = Principal(UserId(5), "fin", Role.FINANCE)


def job(org: OrgId, operator_org: OrgId = OPERATOR, city: str = "340100") -> Resource:
    return Resource(Kind.JOB, org_id=org, operator_org_id=operator_org, city_code=city)


def test_a_user_sees_own_org_jobs_but_not_another_orgs() -> None:
    assert can(alice, Action.READ, job(ORG_A))
    assert not can(alice, Action.READ, job(ORG_B))
    with pytest.raises(NotFoundError):
        authorize(alice, Action.READ, job(ORG_B))


def test_another_orgs_bill_is_not_found_rather_than_forbidden() -> None:
    with pytest.raises(NotFoundError):
        authorize(alice, Action.READ, Resource(Kind.BILL, org_id=ORG_B))


def test_users_read_but_do_not_change_vouchers() -> None:
    voucher = Resource(Kind.VOUCHER, org_id=ORG_A)
    authorize(alice, Action.READ, voucher)
    with pytest.raises(PermissionDeniedError):
        authorize(alice, Action.WRITE, voucher)


def test_operator_sees_jobs_run_on_its_centers_only() -> None:
    assert can(operator, Action.READ, job(ORG_B))
    assert not can(operator, Action.READ, job(ORG_B, operator_org=OrgId(9)))
    assert can(operator, Action.WRITE, Resource(Kind.CENTER, operator_org_id=OPERATOR))
    assert not can(operator, Action.WRITE, Resource(Kind.CENTER, operator_org_id=OrgId(9)))


def test_city_official_is_scoped_to_the_city() -> None:
    assert can(hefei, Action.READ, job(ORG_B, city="340100"))
    assert not can(hefei, Action.READ, job(ORG_B, city="341300"))
    assert visible_scope(hefei, Kind.JOB).city_code == "340100"


def test_only_org_admins_manage_other_users_of_their_org() -> None:
    bob = Resource(Kind.USER, org_id=ORG_A, user_id=UserId(9))
    assert can(alice_admin, Action.MANAGE, bob)
    assert not can(alice, Action.READ, bob)
    assert can(alice, Action.READ, Resource(Kind.USER, org_id=ORG_A, user_id=UserId(1)))


def test_anonymous_reads_public_things_only() -> None:
    assert can(ANONYMOUS, Action.READ, Resource(Kind.CENTER))
    with pytest.raises(AuthenticationError):
        authorize(ANONYMOUS, Action.READ, job(ORG_A))


def test_finance_reads_all_money_but_not_writes_jobs() -> None:
    assert can(finance, Action.READ, Resource(Kind.BILL, org_id=ORG_B))
    assert can(finance, Action.WRITE, Resource(Kind.LEDGER))
    assert not can(finance, Action.WRITE, job(ORG_A))


def test_listing_scope_matches_single_access() -> None:
    scope = visible_scope(alice, Kind.JOB)
    assert scope.org_ids == {ORG_A} and not scope.everything
    assert visible_scope(alice, Kind.LEDGER).nothing
    assert visible_scope(ANONYMOUS, Kind.JOB).nothing
    assert visible_scope(finance, Kind.BILL).everything


def test_engine_health_is_for_staff_the_city_and_the_centers_operator() -> None:
    ours = Resource(Kind.ENGINE, operator_org_id=OPERATOR, city_code="340100")
    theirs = Resource(Kind.ENGINE, operator_org_id=OrgId(9), city_code="341300")
    assert can(operator, Action.READ, ours)
    assert not can(operator, Action.READ, theirs)
    assert not can(operator, Action.WRITE, ours)
    assert not can(alice_admin, Action.READ, ours)
    assert not can(ANONYMOUS, Action.READ, ours)
    assert can(hefei, Action.READ, ours) and not can(hefei, Action.READ, theirs)
    assert visible_scope(operator, Kind.ENGINE).operator_org_ids == frozenset({OPERATOR})
    assert visible_scope(alice_admin, Kind.ENGINE).nothing


def test_a_registry_entry_is_written_by_the_province_and_its_own_city_and_read_by_its_organization() -> None:
    ours = Resource(Kind.REGISTRY, org_id=ORG_A, city_code="340100")
    theirs = Resource(Kind.REGISTRY, city_code="340200")
    province = Principal(UserId(20), "pia", Role.PROVINCE)
    assert can(province, Action.WRITE, ours) and can(province, Action.WRITE, theirs)
    assert can(hefei, Action.WRITE, ours) and not can(hefei, Action.READ, theirs)
    assert can(alice, Action.READ, ours) and not can(alice, Action.WRITE, ours)
    assert not can(finance, Action.WRITE, ours) and can(finance, Action.READ, theirs)
    with pytest.raises(NotFoundError, match="no such entry"):
        authorize(hefei, Action.WRITE, theirs)
    assert visible_scope(hefei, Kind.REGISTRY).city_code == "340100"
