"""The registries' own rules, pure: what makes an entry consistent, and what the policy engine says of it.

The figures of the policy are never written here: a park's share (art. 9, "> 60%"), a competition
winner's cap (art. 10) and the one award per standard (art. 14) are asked of the policy engine, with the
pack in force on the day of the qualifying event (the roster's day, the win, the claim).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from zhisuan.core.errors import ValidationError
from zhisuan.policy import Decision, PackSet, evaluate, fen_text
from zhisuan.registries.specs import INSTRUMENTS

Values = Mapping[str, object]


def _day(values: Values, name: str) -> dt.date | None:
    raw = values.get(name)
    return dt.date.fromisoformat(raw) if isinstance(raw, str) else None


def _fen(values: Values, name: str) -> int:
    raw = values.get(name)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0


def check_scenario(values: Values) -> None:
    """A scenario's status follows its dates: matched on or after it opened, completed after matching."""
    status = values.get("status")
    opened, matched, completed = (_day(values, n) for n in ("opened_on", "matched_on", "completed_on"))
    if status in {"matched", "completed"} and matched is None:
        raise ValidationError(f"a {status} scenario needs the day it was matched", field="matched_on")
    if status == "completed" and completed is None:
        raise ValidationError("a completed scenario needs the day it was completed", field="completed_on")
    if matched is not None and opened is not None and matched < opened:
        raise ValidationError("matched on or after the day it opened", field="matched_on")
    if completed is not None and (matched is None or completed < matched):
        raise ValidationError("completed on or after the day it was matched", field="completed_on")
    if status == "opened" and (matched is not None or completed is not None):
        raise ValidationError("an opened scenario has no matching or completion day yet", field="status")


def check_talent(values: Values) -> None:
    """Recognitions and green channels are kept apart (art. 11): a level only on a recognition, a
    channel's progress only on a green channel."""
    if values.get("track") == "recognition":
        if not values.get("level"):
            raise ValidationError("a recognition names its level", field="level")
        if values.get("channel_status"):
            raise ValidationError(
                "a recognition is not a green channel: no channel progress", field="channel_status"
            )
    else:
        if not values.get("channel_status"):
            raise ValidationError("a green channel entry names its progress", field="channel_status")
        if values.get("level"):
            raise ValidationError("a green channel is not a recognition: no recognition level", field="level")


def check_fund(values: Values) -> None:
    """A theme fund stands alone; a sub-fund names its fund; paid in never above committed."""
    if values.get("level") == "theme" and values.get("parent_id") is not None:
        raise ValidationError("the theme fund has no parent fund", field="parent_id")
    if values.get("level") == "sub" and values.get("parent_id") is None:
        raise ValidationError("a sub-fund names the fund it belongs to", field="parent_id")
    if _fen(values, "paid_in") > _fen(values, "committed"):
        raise ValidationError("paid in is at most the commitment", field="paid_in")


def check_park(values: Values) -> None:
    if _fen(values, "ai_enterprises") > _fen(values, "total_enterprises"):
        raise ValidationError("at most the park's enterprises", field="ai_enterprises")
    if _fen(values, "total_enterprises") < 1:
        raise ValidationError("a park has at least one enterprise", field="total_enterprises")


CHECKS = {
    "scenarios": check_scenario,
    "talents": check_talent,
    "funds": check_fund,
    "parks": check_park,
}


def check(registry: str, values: Values) -> None:
    """The registry's own consistency rules (nothing for a registry without any)."""
    rule = CHECKS.get(registry)
    if rule is not None:
        rule(values)


# asked of the policy engine ----------------------------------------------------------------------


def _reasons(decision: Decision) -> str:
    return "; ".join(r.en for r in decision.reasons) or "not eligible"


@dataclass(frozen=True, slots=True)
class ParkShare:
    """A park's share of general-AI enterprises and whether the engine puts it above the threshold."""

    ai: int
    total: int
    in_force: bool
    above: bool
    reason: str
    reason_zh: str = ""

    @property
    def share(self) -> Fraction:
        return Fraction(self.ai, self.total)

    def percent(self) -> str:
        """The share in percent to two decimals, rounded down (never shown above what it is)."""
        hundredths = self.share * 10000
        whole = hundredths.numerator // hundredths.denominator
        return f"{whole // 100}.{whole % 100:02d}%"


def park_share(packs: PackSet, values: Values) -> ParkShare:
    """Art. 9 on the park's roster: the engine judges the share on the roster's day."""
    ai, total = _fen(values, "ai_enterprises"), _fen(values, "total_enterprises")
    on = _day(values, "roster_on")
    assert on is not None  # a required field
    decision = evaluate("art9", {"ai_enterprises": ai, "total_enterprises": total}, on, packs)
    if not decision.in_force:
        day = on.isoformat()
        return ParkShare(ai, total, False, False, f"no art. 9 in force on {day}", f"{day}无有效的第9条")
    if decision.eligible:
        return ParkShare(ai, total, True, True, "share above the art. 9 threshold", "占比高于第9条要求")
    zh = "；".join(r.zh for r in decision.reasons) or "不符合条件"
    return ParkShare(ai, total, True, False, _reasons(decision), zh)


def competition_support(values: Values) -> int:
    """The support given by every instrument together (equity, debt, talent award, prize), in fen."""
    return sum(_fen(values, n) for n in INSTRUMENTS)


def check_competition(packs: PackSet, values: Values) -> Decision:
    """Art. 10: the instruments together stay within the cap per winner the engine allows."""
    on = _day(values, "won_on")
    assert on is not None
    total = competition_support(values)
    facts = {
        "city": values.get("city"),
        "award_winner": True,
        "lands_in_province": bool(values.get("lands_in_province")),
        "requested_support": fen_text(total),
        "already_awarded": "0",
    }
    decision = evaluate("art10", facts, on, packs)
    field = next((n for n in reversed(INSTRUMENTS) if _fen(values, n)), INSTRUMENTS[0])
    if total and not decision.in_force:
        raise ValidationError(f"no art. 10 in force on {on.isoformat()}: no support recorded", field="won_on")
    if total and not decision.eligible:
        raise ValidationError(f"art. 10 support: {_reasons(decision)}", field=field)
    if total > decision.amount_fen:
        raise ValidationError(
            f"equity, debt, talent award and prize together are {fen_text(total)} yuan, above what "
            f"art. 10 allows ({fen_text(decision.amount_fen)} yuan)",
            field=field,
        )
    return decision


def standard_facts(values: Values, already_awarded: bool, today: dt.date) -> dict[str, object]:
    """The art. 14 facts of a standard in the registry, with whether it was already awarded."""
    return {
        "city": values.get("city"),
        "standard_level": values.get("level"),
        "leading_drafter": bool(values.get("leading_drafter")),
        "general_ai_enterprise": bool(values.get("general_ai_enterprise")),
        "standard_already_awarded": already_awarded,
        "claimed_on": today.isoformat(),
    }


__all__ = [
    "ParkShare",
    "check",
    "check_competition",
    "competition_support",
    "park_share",
    "standard_facts",
]
