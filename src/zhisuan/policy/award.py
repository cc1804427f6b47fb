"""The award formula of one article version: pick the rule, base × rate, the 皖北 uplift and the cap, exact.

Everything that does not depend on the case is worked out once per parameter epoch (:class:`AwardPlan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from zhisuan.core.errors import PolicyError
from zhisuan.policy.checks import CheckCompiler
from zhisuan.policy.decision import Pair, Reason, Step, new_step, pair_yuan_text, rate_text
from zhisuan.policy.errors import FactError, RuleConflictError
from zhisuan.policy.schema import ArticleVersion, AwardRule, fraction_text


class AwardPlan:
    """The case-independent parts of one award rule (see :meth:`Awards._plan`)."""

    __slots__ = (
        "base_const",
        "base_fact",
        "base_name",
        "base_text",
        "cap_kind",
        "cap_name",
        "cap_null_step",
        "cap_plain",
        "cap_suffix",
        "cap_suffix_zh",
        "cap_up",
        "cumulative",
        "has_rate",
        "rate_const",
        "rate_fact",
        "rate_name",
        "rate_text",
        "rule_id",
    )

    def __init__(self) -> None:
        self.rule_id = ""
        self.base_fact: str | None = None
        self.base_const: Pair = (0, 1)
        self.base_name = ""
        self.base_text = ""
        self.has_rate = False
        self.rate_fact: str | None = None
        self.rate_const: Pair = (1, 1)
        self.rate_name = ""
        self.rate_text = ""
        self.cap_kind = 0  # 0: no cap rule, 1: cap parameter set to none, 2: a cap
        self.cap_name = ""
        self.cap_null_step: Step | None = None
        self.cap_plain: tuple[int, int, str] = (0, 1, "")
        self.cap_up: tuple[int, int, str] = (0, 1, "")
        self.cap_suffix = ""
        self.cap_suffix_zh = ""
        self.cumulative: str | None = None


class Awards:
    """The award rules of one article version with one epoch's parameters bound (empty: no money)."""

    def __init__(self, version: ArticleVersion, params: Mapping[str, object], checks: CheckCompiler) -> None:
        art = version.article
        self.art = art
        self.params = params
        self.rules = tuple((a, tuple(checks.check(c) for c in a.when)) for a in version.award)
        self.uplift_on = bool(params["uplift_enabled"])
        factor = params["uplift_factor"]
        assert isinstance(factor, Fraction)
        self.uplift: Pair = (factor.numerator, factor.denominator)
        self.uplift_text = fraction_text(factor)
        cities = params["uplift_cities"]
        assert isinstance(cities, tuple)
        self.uplift_cities = frozenset(str(c) for c in cities)
        self.loc = version.uplift_location
        self.plans = {rule.id: self._plan(rule) for rule in version.award}
        only = version.award[0] if len(version.award) == 1 and not version.award[0].when else None
        self.single_plan = self.plans[only.id] if only is not None else None
        self.uplift_off_step = Step(
            art,
            "northern_anhui_uplift",
            "uplift_enabled",
            "false",
            "not applied: switched off",
            "不适用：未开启",
        )
        self.uplift_reason = Reason(
            f"皖北项目上浮 {self.uplift_text} 倍（金额与上限）",
            f"northern Anhui: amount and cap × {self.uplift_text}",
        )
        self.used_up_reason = Reason(
            "上限已用完：此前已获支持达到上限", "the cap is used up by amounts already awarded"
        )

    def pick(self, vals: dict[str, object]) -> AwardRule:
        """The one award rule that claims the case; none or two without priority is an error."""
        matching: list[AwardRule] = []
        for rule, checks in self.rules:
            if all(fn(vals)[0] for fn in checks):
                matching.append(rule)
        if not matching:
            raise PolicyError(
                f"no award rule of {self.art} applies to this case; the pack must cover it", article=self.art
            )
        if len(matching) == 1:
            return matching[0]
        best = max(matching, key=lambda r: r.priority if r.priority is not None else -(10**9))
        rivals = [
            r
            for r in matching
            if r is not best and (r.priority == best.priority or best.priority is None or r.priority is None)
        ]
        if rivals:
            raise RuleConflictError(
                f"award rules {best.id!r} and {rivals[0].id!r} both claim this case and neither has priority",
                article=self.art,
            )
        return best

    def _plan(self, rule: AwardRule) -> AwardPlan:
        """Everything about an award rule that does not depend on the case, worked out once."""
        plan = AwardPlan()
        plan.rule_id = rule.id
        if rule.base.fact is not None:
            plan.base_fact, plan.base_name = rule.base.fact, rule.base.fact
        else:
            value = self.params[rule.base.parameter or ""]
            assert isinstance(value, Fraction)
            plan.base_const = (value.numerator * 100, value.denominator)
            plan.base_name = rule.base.parameter or ""
            plan.base_text = pair_yuan_text(*plan.base_const)
        if rule.rate is not None:
            plan.has_rate = True
            if rule.rate.fact is not None:
                plan.rate_fact, plan.rate_name = rule.rate.fact, rule.rate.fact
            else:
                rate = self.params[rule.rate.parameter or ""]
                assert isinstance(rate, Fraction)
                plan.rate_const = (rate.numerator, rate.denominator)
                plan.rate_name = rule.rate.parameter or ""
                plan.rate_text = rate_text(rate.numerator, rate.denominator)
        plan.cap_suffix = "; cap × " + self.uplift_text if rule.cap else ""
        plan.cap_suffix_zh = "；上限 × " + self.uplift_text if rule.cap else ""
        if rule.cap is not None:
            plan.cap_name = rule.cap
            cap = self.params[rule.cap]
            if cap is None:
                plan.cap_kind = 1
                plan.cap_null_step = new_step((self.art, "cap", rule.cap, "none", "no cap set", "未设上限"))
            else:
                assert isinstance(cap, Fraction)
                plan.cap_kind = 2
                cn, cd = cap.numerator * 100, cap.denominator
                un, ud = self.uplift
                plan.cap_plain = (cn, cd, pair_yuan_text(cn, cd))
                plan.cap_up = (cn * un, cd * ud, pair_yuan_text(cn * un, cd * ud))
                plan.cumulative = rule.cumulative
        return plan

    def amount(
        self, vals: dict[str, object], steps: list[Step], reasons: list[Reason], *, uplift: bool = True
    ) -> tuple[int, int, str]:
        """The formula, the 皖北 uplift and the cap: exact (n/d fen) and the amount's text."""
        art = self.art
        plan = self.single_plan if self.single_plan is not None else self.plans[self.pick(vals).id]
        if plan.base_fact is not None:
            got = vals.get(plan.base_fact)
            if got is None:
                raise FactError(f"missing fact (the award formula of {art} uses it)", field=plan.base_fact)
            bn: int
            bd: int
            bn, bd = got  # type: ignore[misc]
            btext = pair_yuan_text(bn, bd)
        else:
            bn, bd = plan.base_const
            btext = plan.base_text
        if plan.has_rate:
            if plan.rate_fact is not None:
                rn: int
                rd: int
                rn, rd = vals[plan.rate_fact]  # type: ignore[misc]
                rtext = rate_text(rn, rd)
            else:
                rn, rd = plan.rate_const
                rtext = plan.rate_text
            n, d = bn * rn, bd * rd
            text = pair_yuan_text(n, d)
            steps.append(
                new_step(
                    (
                        art,
                        plan.rule_id,
                        plan.rate_name,
                        rtext,
                        f"{plan.base_name} {btext} × {rtext} = {text}",
                        "",
                    )
                )
            )
        else:
            n, d, text = bn, bd, btext
            steps.append(new_step((art, plan.rule_id, plan.base_name, btext, btext, "")))
        uplifted = False
        if self.uplift_on and uplift:
            city = vals.get(self.loc) if self.loc else None
            if city is not None and city in self.uplift_cities:
                uplifted = True
                un, ud = self.uplift
                n, d = n * un, d * ud
                text = pair_yuan_text(n, d)
                steps.append(
                    new_step(
                        (
                            art,
                            "northern_anhui_uplift",
                            "uplift_factor",
                            self.uplift_text,
                            f"applied: {self.loc} {city} is in 皖北; amount × {self.uplift_text} = "
                            f"{text}{plan.cap_suffix}",
                            f"适用：{self.loc} {city} 属皖北；金额 × {self.uplift_text} = "
                            f"{text}{plan.cap_suffix_zh}",
                        )
                    )
                )
                reasons.append(self.uplift_reason)
            else:
                steps.append(
                    new_step(
                        (
                            art,
                            "northern_anhui_uplift",
                            "uplift_factor",
                            self.uplift_text,
                            f"not applied: {self.loc} {city} is not in 皖北",
                            f"不适用：{self.loc} {city} 不属皖北",
                        )
                    )
                )
        else:
            steps.append(self.uplift_off_step)
        if plan.cap_kind == 1:
            steps.append(plan.cap_null_step)  # type: ignore[arg-type]
        elif plan.cap_kind == 2:
            cn, cd, ctext = plan.cap_up if uplifted else plan.cap_plain
            got = vals.get(plan.cumulative) if plan.cumulative is not None else None
            if got is None:
                mn, md, already, already_zh = cn, cd, "", ""
            else:
                an: int
                ad: int
                an, ad = got  # type: ignore[misc]
                # remaining = cap − already, never below zero
                mn, md = cn * ad - an * cd, cd * ad
                if mn < 0:
                    mn, md = 0, 1
                atext, rtext_left = pair_yuan_text(an, ad), pair_yuan_text(mn, md)
                already = f"; already {atext}, remaining {rtext_left}"
                already_zh = f"，已获 {atext}，剩余 {rtext_left}"
            if n * md > mn * d:
                n, d = mn, md
                text = pair_yuan_text(n, d)
                shown = (f"capped{already}: min = {text}", f"封顶{already_zh}：取 {text}")
                reasons.append(
                    self.used_up_reason
                    if mn == 0
                    else Reason(f"受上限限制：最高 {text} 元", f"capped: at most {text} yuan")
                )
            else:
                shown = (f"within cap{already}: {text}", f"未超上限{already_zh}：{text}")
            steps.append(new_step((art, "cap", plan.cap_name, ctext, *shown)))
        return n, d, text
