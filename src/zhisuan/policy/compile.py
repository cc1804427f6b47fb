"""An article version compiled for one parameter epoch: parsed facts in, an explained :class:`Decision` out.

Each article version is compiled once per parameter epoch (the span of dates over which none of its
parameters changes) into closures, cached on the :class:`PackSet`. Arithmetic is exact: money is an
integer number of fen over an integer denominator, rates are integer ratios, and the amount is rounded
once, at the end, with the pack's rounding mode (default down, so an award never exceeds "no more than
x%"). The vectorised mode (:mod:`zhisuan.policy.vector`) reads the same :class:`Compiled` parameters.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Mapping
from typing import Final

from zhisuan.core.money import Rounding
from zhisuan.policy.award import Awards
from zhisuan.policy.checks import MISSING, CheckCompiler
from zhisuan.policy.decision import (
    Decision,
    PartAnswer,
    Reason,
    Step,
    fen_text,
    new_decision,
    new_part,
    new_step,
    pair_yuan_text,
    round_pair,
)
from zhisuan.policy.errors import FactError
from zhisuan.policy.facts import parse_date, parser_for
from zhisuan.policy.packset import PackSet, packs_period
from zhisuan.policy.schema import ArticleVersion, Check, Label, Part

#: a fact every article takes: the date the claim was made (the event's date still decides the version)
CLAIMED_ON: Final = "claimed_on"


class Compiled:
    """One article version with the parameters of one epoch bound: a fast ``run(facts, on)``.

    ``params`` (the values in force), ``mode`` (the rounding) and ``awards`` (the award rules and the
    皖北 uplift) are what the vectorised mode reads too, so both modes apply the same numbers.
    """

    def __init__(self, packs: PackSet, version: ArticleVersion, on: dt.date, region: str) -> None:
        self.version = version
        art = version.article
        self.art = art
        self.params: dict[str, object] = {name: p.at(on) for name, p in version.parameters.items()}
        self.mode = Rounding(str(self.params["rounding"]))
        self.specs = tuple((s.name, parser_for(s, region), s.required) for s in version.facts)
        self.allowed = frozenset(s.name for s in version.facts)
        # every article also takes the claim's date, judged against the pack's claim window (position 13)
        if CLAIMED_ON not in self.allowed:
            self.specs += ((CLAIMED_ON, parse_date, False),)
            self.allowed |= {CLAIMED_ON}
        window = self.params.get("claim_window_days")
        self.claim_window = window if isinstance(window, int) and not isinstance(window, bool) else None
        self.in_force_step = Step(art, "in_force", "effective", packs_period(packs, version), "true", "有效")
        checks = CheckCompiler(version, self.params)
        self.awards = Awards(version, self.params, checks)
        self.round_step_value = self.mode.value
        self.payee = version.payee
        self.pack = version.pack_id
        self.eligible_reason = self._eligible_reason()
        self.cbc = version.case_by_case
        self.rule_runners = tuple(
            (checks.rule_runner(rule), Reason(rule.fail_zh, rule.fail_en)) for rule in version.eligibility
        )
        # the parts that answer beside the main one (art. 1's non-cash support, art. 6's recommendation …)
        self.main_part = version.main_part()
        self.sides = tuple(
            (
                part,
                tuple((checks.rule_runner(r), Reason(r.fail_zh, r.fail_en)) for r in part.eligibility),
                _part_reason(part),
                *_static(part),
            )
            for part in version.side_parts()
        )
        main = self.main_part
        if main is not None:
            self.main_answer = (*_static(main), main.grants == "money")
            answering = [p for p in version.parts if p.main or p.answers]
            self.main_at = answering.index(main)
        self.use_reason = _use_reason(self.main_part.use_of_funds) if self.main_part else None
        # the provisional parameters a decision uses: its checks' always, the formula's when it runs
        provisional = set(version.provisional_parameters(on))
        rules = (*version.eligibility, *(r for part in version.side_parts() for r in part.eligibility))
        in_checks = {n for rule in rules for n in _check_params(rule.check)}
        in_award = _award_params(version)
        self.provisional_checks = tuple(sorted(provisional & in_checks))
        self.provisional_all = tuple(sorted(provisional & (in_checks | in_award)))
        if self.provisional_all:
            self.provisional_reason = Reason(
                f"估算：依据暂定参数（{'、'.join(self.provisional_all)}），确认前不发放资金",
                f"an estimate: rests on provisional parameter(s) {', '.join(self.provisional_all)}; "
                "no money until confirmed",
            )
        self.cbc_reason = Reason(
            "一事一议：金额由单独决定，不适用公式、上限和皖北上浮",
            "case-by-case: the amount is set by a recorded decision; no formula, cap or uplift",
        )

    def _eligible_reason(self) -> Reason:
        v = self.version
        units = "、".join((v.lead_unit, *v.cooperating_units))
        if v.grants == "priority":
            return Reason(
                f"符合{v.name_zh}的优先条件（优先，不是当然授予）；受理单位：{v.lead_unit}",
                f"meets the priority condition of {v.article} ({v.name_en}): a priority, not an "
                f"entitlement; handled by {v.lead_unit}",
            )
        ev_zh = "；".join(e.split(" / ")[0] for e in v.evidence) or "—"
        ev_en = "; ".join(e.split(" / ")[-1] for e in v.evidence) or "—"
        return Reason(
            f"可申请{v.name_zh}；牵头单位：{units}；所需材料：{ev_zh}",
            f"may apply under {v.article} ({v.name_en}); handled by {v.lead_unit}; evidence: {ev_en}",
        )

    # -- running ---------------------------------------------------------------------------------
    def parse(self, facts: Mapping[str, object]) -> dict[str, object]:
        """Raw facts → parsed values; unknown, missing or ill-typed facts raise :class:`FactError`."""
        if not isinstance(facts, Mapping):
            raise FactError("facts must be a JSON object", field="facts")
        if not self.allowed.issuperset(facts):
            unknown = sorted(k for k in facts if k not in self.allowed)
            raise FactError(
                f"unknown fact for {self.art}; it takes: {', '.join(sorted(self.allowed))}",
                field=str(unknown[0]),
            )
        vals: dict[str, object] = {}
        for name, parse, required in self.specs:
            raw = facts.get(name, MISSING)
            if raw is MISSING or raw is None:
                if required:
                    raise FactError(f"missing fact (required by {self.art})", field=name)
                continue
            vals[name] = parse(raw, name)
        return vals

    def run(self, facts: Mapping[str, object], on: dt.date, *, uplift: bool = True) -> Decision:
        """Judge one case: eligibility, claim window, award (or case-by-case amount), one rounding.

        ``uplift=False`` leaves the 皖北 uplift out (the maximum before a reviewer confirms it).
        """
        vals = self.parse(facts)
        art = self.art
        steps: list[Step] = [self.in_force_step]
        failed: list[Reason] = []
        for runner, reason in self.rule_runners:
            ok, step = runner(vals)
            steps.append(step)
            if ok is False:
                failed.append(reason)
        claimed = vals.get(CLAIMED_ON)
        late: Reason | None = None
        if claimed is not None:
            late = self._claim_window(claimed, on, steps)  # type: ignore[arg-type]
            if late is not None:
                failed.append(late)
        cbc_raw = vals.get("case_by_case_amount") if self.cbc else None
        if failed:
            decision = new_decision(
                (
                    art,
                    self.pack,
                    on,
                    True,
                    False,
                    0,
                    self.payee,
                    cbc_raw is not None,
                    tuple(steps),
                    tuple(failed),
                    self.version,
                    self.provisional_checks,
                    None,
                    (),
                )
            )
            return self._with_parts(decision, vals, late) if self.sides else decision
        if not self.awards.plans:
            decision = new_decision(
                (
                    art,
                    self.pack,
                    on,
                    True,
                    True,
                    0,
                    self.payee,
                    False,
                    tuple(steps),
                    (self.eligible_reason,),
                    self.version,
                    self.provisional_checks,
                    None,
                    (),
                )
            )
            return self._with_parts(decision, vals, late) if self.sides else decision
        reasons: list[Reason] = []
        if cbc_raw is not None:
            n: int
            d: int
            n, d = cbc_raw  # type: ignore[misc]
            text = pair_yuan_text(n, d)
            steps.append(
                new_step(
                    (
                        art,
                        "case_by_case",
                        "case_by_case_amount",
                        text,
                        "replaces the formula: no cap, no uplift",
                        "替代公式：不设上限，不上浮",
                    )
                )
            )
            reasons.append(self.cbc_reason)
        else:
            n, d, text = self.awards.amount(vals, steps, reasons, uplift=uplift)
        if d == 1:
            fen = n
        else:
            fen = round_pair(n, d, self.mode)
            if n % d:
                text = fen_text(fen)
        steps.append(new_step((art, "round", "rounding", self.round_step_value, text, "")))
        reasons.insert(0, Reason(f"符合条件，最高可获 {text} 元", f"eligible: at most {text} yuan"))
        if self.provisional_all and cbc_raw is None:
            reasons.insert(1, self.provisional_reason)
        if self.use_reason is not None:
            reasons.append(self.use_reason)
        decision = new_decision(
            (
                art,
                self.pack,
                on,
                True,
                True,
                fen,
                self.payee,
                cbc_raw is not None,
                tuple(steps),
                tuple(reasons),
                self.version,
                self.provisional_checks if cbc_raw is not None else self.provisional_all,
                None,
                (),
            )
        )
        return self._with_parts(decision, vals, late) if self.sides else decision

    def _with_parts(self, decision: Decision, vals: dict[str, object], late: Reason | None) -> Decision:
        """The decision with every part's answer: the main part's is the decision's own; the others are
        judged on their own conditions (a late claim is late for them too), each with a step, and an
        eligible one adds its reason."""
        steps = list(decision[8])
        reasons = list(decision[9])
        answers: list[PartAnswer] = []
        for part, runners, also, head, tail in self.sides:
            shown: list[Step] = []
            failed: list[Reason] = []
            skipped = False
            for runner, reason in runners:
                ok, step = runner(vals)
                shown.append(step)
                if ok is False:
                    failed.append(reason)
                elif ok is None:
                    skipped = True
            if late is not None:
                failed.append(late)
            eligible: bool | None
            if failed:
                eligible, why, verdict = False, tuple(failed), _NOT_ELIGIBLE
            elif skipped:
                eligible, why, verdict = None, _NOT_ASSESSED, _NOT_ASSESSED_TEXT
            else:
                eligible, why, verdict = True, (also,), _GRANTED[part.grants]
                reasons.append(also)
            seen_en = "; ".join(s[4] for s in shown) or "no further condition"
            seen_zh = "；".join(s[5] or s[4] for s in shown) or "无其他条件"
            steps.append(
                new_step(
                    (
                        self.art,
                        part.id,
                        "part",
                        part.grants,
                        f"{verdict[0]}: {seen_en}",
                        f"{verdict[1]}：{seen_zh}",
                    )
                )
            )
            answers.append(new_part((*head, eligible, None, *tail, why)))
        head, tail, money = self.main_answer
        main = new_part((*head, decision[4], decision[5] if money else None, *tail, decision[9]))
        # in the order of the text: the main part's place among the others
        answers.insert(self.main_at, main)
        return new_decision((*decision[:8], tuple(steps), tuple(reasons), *decision[10:13], tuple(answers)))

    def _claim_window(self, claimed: dt.date, on: dt.date, steps: list[Step]) -> Reason | None:
        """A claim made later than the event is still judged by the event's date, within the claim window;
        the reason when the window has passed."""
        day = claimed.isoformat()
        if self.claim_window is None:
            steps.append(
                Step(
                    self.art,
                    "claim_window",
                    "claim_window_days",
                    "none",
                    f"pass: claimed_on = {day}, no claim window set",
                    f"通过：claimed_on = {day}，未设申报期限",
                )
            )
            return None
        deadline = (on + dt.timedelta(days=self.claim_window)).isoformat()
        ok = claimed <= on + dt.timedelta(days=self.claim_window)
        steps.append(
            Step(
                self.art,
                "claim_window",
                "claim_window_days",
                str(self.claim_window),
                f"{'pass' if ok else 'fail'}: claimed_on = {day} {'≤' if ok else '>'} {deadline}",
                f"{'通过' if ok else '不通过'}：claimed_on = {day} {'≤' if ok else '>'} {deadline}",
            )
        )
        if ok:
            return None
        return Reason(
            f"申请已超过申报期限（事项发生后 {self.claim_window} 天内）",
            f"the claim window ({self.claim_window} days after the event) has passed",
        )


_NOT_ELIGIBLE: Final = ("not eligible", "不符合条件")
_NOT_ASSESSED_TEXT: Final = ("not assessed", "未判定")
_NOT_ASSESSED: Final = (
    Reason("未判定：未提供所需信息", "not assessed: the facts its conditions read were not given"),
)
#: the verdict of an eligible side part, by what it grants (never money)
_GRANTED: Final = {
    "priority": ("the priority applies", "享有优先"),
    "eligibility": ("may apply, no money", "可申请，不涉及资金"),
}


def _labels(labels: tuple[Label, ...]) -> tuple[str, str]:
    return "；".join(g.zh for g in labels), "; ".join(g.en for g in labels)


def _part_reason(part: Part) -> Reason:
    """What an eligible side part gives, and who handles it (a priority is not an entitlement)."""
    units = "、".join((part.lead_unit, *part.cooperating_units))
    gives_zh, gives_en = _labels(part.gives)
    gives_zh = gives_zh or part.name_zh
    gives_en = gives_en or part.name_en
    if part.grants == "priority":
        return Reason(
            f"另：{part.name_zh}——{gives_zh}（优先，不是当然授予；牵头单位：{units}）",
            f"also: {part.name_en} — {gives_en} "
            f"(a priority, not an entitlement; handled by {part.lead_unit})",
        )
    return Reason(
        f"另：{part.name_zh}——{gives_zh}（不涉及资金；牵头单位：{units}）",
        f"also: {part.name_en} — {gives_en} (no money; handled by {part.lead_unit})",
    )


def _use_reason(labels: tuple[Label, ...]) -> Reason | None:
    """The use the money is bound to (art. 8: compute build-out and attracting key firms)."""
    if not labels:
        return None
    zh, en = _labels(labels)
    return Reason(f"资金用途：{zh}", f"the money is to be used for: {en}")


def _static(part: Part) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """What a part's answer holds whatever the case: before the verdict (id … units), after it (gives …)."""
    head = (
        part.id,
        part.main,
        Reason(part.name_zh, part.name_en),
        part.grants,
        part.lead_unit,
        part.cooperating_units,
    )
    tail = (
        tuple(Reason(g.zh, g.en) for g in part.gives),
        tuple(Reason(u.zh, u.en) for u in part.use_of_funds),
    )
    return head, tail


def _check_params(check: Check) -> set[str]:
    """Parameters a check reads (its ``any`` parts too)."""
    out = {check.parameter} if check.parameter is not None else set()
    for part in check.any_of:
        out |= _check_params(part)
    return out


def _award_params(version: ArticleVersion) -> set[str]:
    """Parameters the award formula reads: base, rate, cap, conditions and the 皖北 uplift switch."""
    out: set[str] = set()
    for rule in version.award:
        for operand in (rule.base, rule.rate):
            if operand is not None and operand.parameter is not None:
                out.add(operand.parameter)
        if rule.cap is not None:
            out.add(rule.cap)
        for check in rule.when:
            out |= _check_params(check)
    return out


def compiled(packs: PackSet, version: ArticleVersion, on: dt.date) -> Compiled:
    """The version compiled for the parameter epoch containing ``on``; cached on the pack set.

    The cache lives on the :class:`PackSet` (which keeps its versions alive), because the compiled form
    depends on the set too: a successor pack can end a version early.
    """
    cache = packs.engine_cache
    key = ("compiled", id(version), on)
    found = cache.get(key)
    if found is not None:
        return found  # type: ignore[return-value]
    changes = sorted({d for p in version.parameters.values() for d in p.change_dates()})
    epoch_key = ("epoch", id(version), bisect_right(changes, on))
    compiled = cache.get(epoch_key)
    if compiled is None:
        compiled = Compiled(packs, version, on, packs.pack(version.pack_id).region)
        cache[epoch_key] = compiled
    cache[key] = compiled
    return compiled  # type: ignore[return-value]
