"""Reviewing a candidate pack version: its diff against the version in force, and the recorded
decisions it would change (each case judged under the packs in force and under the candidate set)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from zhisuan.core.errors import ZhisuanError
from zhisuan.policy import Decision, Pack, PackSet, article_key, evaluate, fen_text
from zhisuan.policy.browse import diff_packs
from zhisuan.publishing.recorded import RecordedCase

#: at most this many changed cases are listed (the counts cover all of them)
MAX_LISTED = 500


def diff_in_force(candidate: Pack, packs: PackSet) -> dict[str, object]:
    """What the candidate changes: against the pack of its id in force, else against what it supersedes."""
    known = {p.id: p for p in packs}
    if candidate.id in known:
        base = known[candidate.id]
        return {"against": base.id, "new_pack": False, "changes": diff_packs(base, candidate)}
    changes: list[dict[str, str]] = []
    for older, arts in candidate.supersedes.items():
        if older in known:
            touched = set(arts) | set(candidate.articles)
            changes += [
                {**c, "against": older}
                for c in diff_packs(known[older], candidate)
                if c["article"] in touched and not (c["what"] == "article" and c["b"] == "absent")
            ]
    listed = {c["article"] for c in changes}
    for art in sorted(set(candidate.articles) - listed, key=article_key):
        changes.append({"article": art, "what": "article", "a": "absent", "b": "present"})
    return {"against": ", ".join(candidate.supersedes) or None, "new_pack": True, "changes": changes}


def _judge(packs: PackSet, case: RecordedCase) -> Decision:
    """Judge a recorded case as it was decided: by its measure's article in force on its day (as voucher
    settlement does, across renumbering), else by its pack's article or that article's successor."""
    if case.measure is not None:
        version = packs.for_measure(case.measure, case.on)
        if version is not None:
            return evaluate(version.qualified, case.facts, case.on, packs)
    pack: str | None = None
    if case.pack is not None and case.pack in {p.id for p in packs}:
        version = packs.pack(case.pack).articles.get(case.article)
        if version is not None:
            cut = packs.superseded_from(version)
            if cut is None or cut[0] > case.on:
                pack = case.pack
            elif case.article in packs.pack(cut[1]).articles:
                pack = cut[1]
    return evaluate(case.article, case.facts, case.on, packs, pack)


@dataclass
class Impact:
    """The recorded cases a candidate would decide differently: counts, totals and the list."""

    month: str | None
    checked: int = 0
    changed: int = 0
    old_fen: int = 0
    new_fen: int = 0
    cases: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """As JSON: amounts as yuan strings."""
        return {
            "month": self.month,
            "checked": self.checked,
            "changed": self.changed,
            "old_total": fen_text(self.old_fen),
            "new_total": fen_text(self.new_fen),
            "cases": self.cases,
        }


def impact(cases: Sequence[RecordedCase], now: PackSet, candidate: PackSet, month: str | None) -> Impact:
    """Judge every case under both sets and keep those whose amount or outcome differs (old → new)."""
    out = Impact(month=month)
    for case in cases:
        try:
            old, new = _judge(now, case), _judge(candidate, case)
        except ZhisuanError as exc:
            out.checked += 1
            out.changed += 1
            if len(out.cases) < MAX_LISTED:
                out.cases.append({**_head(case), "error": exc.message})
            continue
        out.checked += 1
        out.old_fen += old.amount_fen
        out.new_fen += new.amount_fen
        if (old.amount_fen, old.in_force, old.eligible) == (new.amount_fen, new.in_force, new.eligible):
            continue
        out.changed += 1
        if len(out.cases) < MAX_LISTED:
            out.cases.append(
                {
                    **_head(case),
                    "old_pack": old.pack,
                    "old": fen_text(old.amount_fen),
                    "old_in_force": old.in_force,
                    "new_pack": new.pack,
                    "new": fen_text(new.amount_fen),
                    "new_in_force": new.in_force,
                    "reasons": [r.text("en") for r in new.reasons],
                }
            )
    return out


def _head(case: RecordedCase) -> dict[str, object]:
    return {
        "kind": case.kind,
        "id": case.ref,
        "article": case.article,
        "on": case.on.isoformat(),
        "label": case.label,
        "recorded": fen_text(case.recorded_fen),
    }
