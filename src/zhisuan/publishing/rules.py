"""The domain rules of publishing a pack version: who may publish or decide, and the states it goes through.

A version is ``submitted`` when uploaded; a *second* province user (or an administrator who did not
submit it) moves it to ``approved`` or ``rejected``, and that decision is final. Plain functions over
values: the service layer loads and saves.
"""

from __future__ import annotations

from enum import StrEnum

from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.errors import ConflictError, PermissionDeniedError, ValidationError

#: the roles that publish and decide pack versions (an administrator always may)
PUBLISHERS = (Role.PROVINCE,)
MAX_REASON = 2_000


class State(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


def check_may_publish(who: Principal) -> None:
    """Raise unless ``who`` is a province user or an administrator (401 anonymous, 403 others)."""
    require_role(who, *PUBLISHERS)


def check_may_decide(who: Principal, state: State, submitted_by: str) -> None:
    """Raise unless ``who`` may approve or reject a version in ``state`` that ``submitted_by`` uploaded."""
    check_may_publish(who)
    if state is not State.SUBMITTED:
        raise ConflictError(f"this version is already {state}; a decision is final", field="state")
    if who.username == submitted_by:
        raise PermissionDeniedError(
            f"{who.username} submitted this version: a second province user must approve or reject it"
        )


def check_newest(version: int, approved_versions: list[int]) -> None:
    """Raise when a newer version of the same pack is already approved (a newer one replaces an older)."""
    newer = [v for v in approved_versions if v > version]
    if newer:
        raise ConflictError(
            f"version {max(newer)} of this pack is already approved; version {version} would not "
            "replace it — submit a new version instead",
            field="version",
        )


def clean_reason(reason: str) -> str:
    """A rejection needs a reason, in plain words and of reasonable length."""
    text = reason.strip()
    if not text:
        raise ValidationError("give the reason for rejecting this version", field="reason")
    if len(text) > MAX_REASON:
        raise ValidationError(f"the reason is at most {MAX_REASON} characters", field="reason")
    return text


def next_version(existing: list[int]) -> int:
    """The number of a pack's next version: one more than any it had (1 for the first)."""
    return max(existing, default=0) + 1
