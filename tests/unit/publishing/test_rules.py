"""Publishing's domain rules: who may publish and decide, final decisions, newer versions win."""

from __future__ import annotations

import pytest

from zhisuan.core.access import Principal, Role
from zhisuan.core.errors import AuthenticationError, ConflictError, PermissionDeniedError, ValidationError
from zhisuan.publishing.rules import (
    State,
    check_may_decide,
    check_may_publish,
    check_newest,
    clean_reason,
    next_version,
)

PIA = Principal(None, "pia", Role.PROVINCE)


def test_only_province_users_and_admins_publish() -> None:
    check_may_publish(PIA)
    check_may_publish(Principal(None, "root", Role.ADMIN))
    with pytest.raises(PermissionDeniedError):
        check_may_publish(Principal(None, "fin", Role.FINANCE))
    with pytest.raises(AuthenticationError):
        check_may_publish(Principal(None, "anonymous", None))


def test_a_second_user_decides_once() -> None:
    with pytest.raises(PermissionDeniedError, match="second province user"):
        check_may_decide(PIA, State.SUBMITTED, "pia")
    check_may_decide(PIA, State.SUBMITTED, "pete")
    with pytest.raises(ConflictError):
        check_may_decide(PIA, State.APPROVED, "pete")


def test_versions_count_per_pack_and_an_older_one_never_replaces_a_newer() -> None:
    assert next_version([]) == 1 and next_version([1, 3]) == 4
    check_newest(3, [1, 2])
    with pytest.raises(ConflictError):
        check_newest(2, [3])
    with pytest.raises(ValidationError):
        clean_reason("  ")
    assert clean_reason(" no ") == "no"
