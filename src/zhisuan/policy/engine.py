"""The rules engine: (article, facts, date, packs) → :class:`Decision`, with every step explained.

Finds the article version in force (or that of a named pack), compiles it once per parameter epoch
(:mod:`zhisuan.policy.compile`) and runs it; the lookups are cached on the :class:`PackSet`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from zhisuan.core.errors import PolicyError
from zhisuan.policy.compile import Compiled, compiled
from zhisuan.policy.decision import Decision, Reason, Step
from zhisuan.policy.facts import as_day
from zhisuan.policy.packset import PackSet, packs_period
from zhisuan.policy.schema import ArticleVersion


def not_in_force(program: str, on: dt.date, packs: PackSet, pack: str | None) -> Decision:
    """The answer for an event that no article version covers: never a silent zero.

    When the article was replaced under another number (2023 art2 by 2.0 art3), the answer names it.
    """
    successor = packs.superseded_by(program, on, pack)
    if successor is not None:
        return _superseded(program, on, packs, pack, successor)
    key = ("not_in_force", program)
    cached = packs.engine_cache.get(key)
    if cached is None:
        versions = packs.versions(program)
        spans = "; ".join(f"{v.pack_id} {packs_period(packs, v)}" for v in versions) or "none"
        cached = (
            versions[-1].payee if versions else "applicant",
            Step(program, "in_force", "effective", spans, "false", "无有效政策"),
        )
        packs.engine_cache[key] = cached
    payee: str
    step: Step
    payee, step = cached  # type: ignore[misc]
    day = on.isoformat()
    reason = Reason(
        f"{day} 无有效政策（{program} 在该日期不在任何政策包的有效期内）",
        f"no policy in force: no pack puts {program} in force on {day}",
    )
    return Decision(program, pack, on, False, False, 0, payee, False, (step,), (reason,), None)


def _superseded(
    program: str, on: dt.date, packs: PackSet, pack: str | None, successor: ArticleVersion
) -> Decision:
    old = packs.resolve(program, successor.effective_from - dt.timedelta(days=1), pack)
    span = packs_period(packs, old) if old is not None else "—"
    step = Step(
        program,
        "in_force",
        "effective",
        span,
        f"false: superseded by {successor.qualified}",
        f"无效：已被 {successor.qualified} 替代",
    )
    day = on.isoformat()
    reason = Reason(
        f"{day} 该条款已被 {successor.qualified}（{successor.name_zh}）替代，请按新条款申请",
        f"{program} was replaced by {successor.qualified} ({successor.name_en}) before {day}; "
        "apply under the new article",
    )
    payee = old.payee if old is not None else successor.payee
    return Decision(
        program,
        pack or (old.pack_id if old else None),
        on,
        False,
        False,
        0,
        payee,
        False,
        (step,),
        (reason,),
        None,
        (),
        successor.qualified,
    )


def split_program(program: str, pack: str | None) -> tuple[str, str | None]:
    """'anhui-2025/art3' → ('art3', 'anhui-2025'); a bare 'art3' keeps ``pack`` (None: 2023 numbering)."""
    if "/" in program:
        named, _, art = program.rpartition("/")
        if pack is not None and pack != named:
            raise PolicyError(f"program {program!r} names pack {named!r}, not {pack!r}", field="pack")
        return art, named
    return program, pack


def lookup(program: object, on: object, packs: PackSet, pack: str | None) -> tuple[Compiled | None, dt.date]:
    """The compiled version that judges ``program`` on ``on`` (None: not in force) and the day."""
    day = as_day(on)  # type: ignore[arg-type]
    if pack is not None:
        packs.pack(pack)
    if not isinstance(program, str) or not packs.knows(program, pack):
        where = f" in pack {pack}" if pack is not None else " (name a pack for its own numbering)"
        known = packs.programs()
        # art11 holds two programs (art11a, art11b): say so rather than only listing them
        split = [p for p in known if isinstance(program, str) and p[:-1] == program and p[-1].isalpha()]
        hint = f"; {program} is {len(split)} programs: {', '.join(split)}" if split else ""
        raise PolicyError(
            f"unknown program {program!r}{where}{hint}; known: {', '.join(known)}", field="program"
        )
    version = packs.resolve(program, day, pack)
    return (None if version is None else compiled(packs, version, day)), day


def evaluate(
    program: str,
    facts: Mapping[str, object],
    on: dt.date | str,
    packs: PackSet,
    pack: str | None = None,
    *,
    uplift: bool = True,
) -> Decision:
    """Evaluate one case: the article version in force on ``on`` (or that of ``pack``) judges ``facts``.

    Raises :class:`PolicyError` for an unknown program or pack, :class:`FactError` (naming the field)
    for missing, unknown or ill-typed facts, :class:`RuleConflictError` when two award rules claim the
    case without priority. ``uplift=False`` leaves the 皖北 uplift out: the maximum an award workflow
    offers until a reviewer confirms the uplift (the pack says "may").
    """
    if type(program) is str and "/" in program:
        program, pack = split_program(program, pack)
    cache = packs.engine_cache
    key = (program, on, pack) if type(program) is str and type(on) in (str, dt.date) else None
    hit = cache.get(key) if key is not None else None
    if hit is None:
        hit = lookup(program, on, packs, pack)
        if key is not None:
            if len(cache) > 50_000:
                cache.clear()
            cache[key] = hit
    compiled: Compiled | None
    day: dt.date
    compiled, day = hit  # type: ignore[misc]
    if compiled is None:
        return not_in_force(program, day, packs, pack)
    return compiled.run(facts, day, uplift=uplift)
