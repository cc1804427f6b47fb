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
    Reason,
    Step,
    fen_text,
    new_decision,
    new_step,
    pair_yuan_text,
    round_pair,
)
from zhisuan.policy.errors import FactError
from zhisuan.policy.facts import parse_date, parser_for
from zhisuan.policy.packset import PackSet, packs_period
from zhisuan.policy.schema import ArticleVersion, Check

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
        self.in_force_step = Step(art, "in_force", "effective", packs_period(packs, version), "true")
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
        # the provisional parameters a decision uses: its checks' always, the formula's when it runs
        provisional = set(version.provisional_parameters(on))
        in_checks = {n for rule in version.eligibility for n in _check_params(rule.check)}
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
        if claimed is not None:
            self._claim_window(claimed, on, steps, failed)  # type: ignore[arg-type]
        cbc_raw = vals.get("case_by_case_amount") if self.cbc else None
        if failed:
            return new_decision(
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
                )
            )
        if not self.awards.plans:
            return new_decision(
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
                )
            )
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
        steps.append(new_step((art, "round", "rounding", self.round_step_value, text)))
        reasons.insert(0, Reason(f"符合条件，最高可获 {text} 元", f"eligible: at most {text} yuan"))
        if self.provisional_all and cbc_raw is None:
            reasons.insert(1, self.provisional_reason)
        return new_decision(
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
            )
        )

    def _claim_window(self, claimed: dt.date, on: dt.date, steps: list[Step], failed: list[Reason]) -> None:
        """A claim made later than the event is still judged by the event's date, within the claim window."""
        if self.claim_window is None:
            steps.append(
                Step(
                    self.art,
                    "claim_window",
                    "claim_window_days",
                    "none",
                    f"pass: claimed_on = {claimed.isoformat()}, no claim window set",
                )
            )
            return
        deadline = on + dt.timedelta(days=self.claim_window)
        ok = claimed <= deadline
        steps.append(
            Step(
                self.art,
                "claim_window",
                "claim_window_days",
                str(self.claim_window),
                f"{'pass' if ok else 'fail'}: claimed_on = {claimed.isoformat()} "
                f"{'≤' if ok else '>'} {deadline.isoformat()}",
            )
        )
        if not ok:
            failed.append(
                Reason(
                    f"申请已超过申报期限（事项发生后 {self.claim_window} 天内）",
                    f"the claim window ({self.claim_window} days after the event) has passed",
                )
            )


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
