"""Art. 2 for placement: the compute-voucher estimate built from the policy pack (placement's port).

Placement (``zhisuan.compute.placement.VoucherEstimate``) asks what share of a pool's price a user
bears on a date; this adapter answers from the same pack and the same facts as voucher settlement
(``metering/vouchers.py``), so dispatch, budgets, the simulator and settlement agree. As settlement
does, it stacks every program in force for the user's city (the province's first, then the city's;
one that does not stack gives way; together never more than the spend).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from fractions import Fraction
from typing import Final

from zhisuan.compute.placement import OrgDirectory, VoucherEstimate, VoucherRule
from zhisuan.core.money import Money, Rounding
from zhisuan.policy import COMPUTE_VOUCHER, Decision, PackSet, evaluate, voucher_version

#: the spend the share is read from (large enough that the fen rounding does not show in the share)
NOMINAL_SPEND_FEN: Final = 1_000_000


def pack_voucher_rule(packs: Callable[[], PackSet]) -> VoucherRule:
    """The scheduler's art. 2 rule: an estimate over one pass's organizations from the packs in force."""

    def rule(orgs: OrgDirectory) -> VoucherEstimate:
        return PackVoucherEstimate(
            packs(), in_province=orgs.in_province, related=orgs.related, city=orgs.city
        )

    return rule


class PackVoucherEstimate:
    """Art. 2 from ``packs``: no voucher out of province or for self-use (the operator or a related party).

    ``org`` and ``operator`` are placement's organization keys (``JobSpec.org``, ``Pool.operator``);
    the callables answer from them: ``in_province(org)``, ``related(org, operator)`` (self-use when
    true or when they are the same key) and ``city(org)`` (the user's 6-digit city code).
    """

    def __init__(
        self,
        packs: PackSet,
        *,
        in_province: Callable[[str], bool],
        related: Callable[[str, str], bool],
        city: Callable[[str], str],
        as_of: dt.date | None = None,
    ) -> None:
        self.packs = packs
        #: judge every case as of this day instead of its own (replaying an old trace under a pack)
        self.as_of = as_of
        self.in_province = in_province
        self.related = related
        self.city = city
        self._keep: dict[tuple[str, bool, bool, dt.date], Fraction] = {}
        #: (article, parameter) of every provisional parameter an estimate so far rested on
        self._used: set[tuple[str, str]] = set()

    def _facts(self, org: str, operator: str, spend_fen: int) -> dict[str, object]:
        """The art. 2 facts of ``org`` spending ``spend_fen`` on ``operator``'s center (as settlement's)."""
        return {
            "city": self.city(org),
            "in_province": self.in_province(org),
            "self_use": org == operator or self.related(org, operator),
            "spend": Money.from_fen(spend_fen),
            "subsidy_this_year": "0",
        }

    def _program(self, on: dt.date) -> str:
        """The compute-voucher article in force on ``on`` (2023 art. 2, 2.0 art. 3, …), pack-qualified."""
        version = voucher_version(self.packs, on)
        return version.qualified if version is not None else "art2"

    def _programs(self, city: str, on: dt.date) -> list[str]:
        """The province's compute-voucher article, then the city programs in force for ``city``."""
        stacked = [
            v.qualified
            for v in self.packs.all_for_measure(COMPUTE_VOUCHER, on, city)
            if self.packs.pack(v.pack_id).city_scoped()
        ]
        return [self._program(on), *stacked]

    def _voucher(self, facts: dict[str, object], spend_fen: int, on: dt.date) -> int:
        """What every program in force for the user's city grants on ``spend_fen``, together (settlement's
        stacking: a program that does not stack with an earlier granting one gives way; never more than
        the spend)."""
        total, granting = 0, list[str]()
        for program in self._programs(str(facts["city"]), on):
            decision = evaluate(program, facts, on, self.packs)
            self._note(program, decision)
            if not (decision.in_force and decision.eligible and decision.amount_fen > 0):
                continue
            pack = self.packs.pack(decision.pack) if decision.pack else None
            mine = f"{decision.pack}/{decision.program}"
            not_with = pack.not_with if pack is not None else ()
            if any(
                other in not_with or mine in self.packs.pack(other.split("/")[0]).not_with
                for other in granting
            ):
                continue
            granting.append(mine)
            total += min(decision.amount_fen, spend_fen - total)
        return total

    def provisional(self, on: dt.date) -> tuple[str, ...]:
        """The provisional parameters the estimate on ``on`` rests on (empty: confirmed figures).

        Estimates may use them (dispatch prices with them); settlement grants no money on them.
        """
        on = self.as_of or on
        version = voucher_version(self.packs, on)
        return () if version is None else version.provisional_parameters(on)

    def used_provisional(self) -> dict[str, tuple[str, ...]]:
        """The provisional parameters the estimates given so far rested on, per article (``pack/artN``)."""
        out: dict[str, list[str]] = {}
        for article, name in sorted(self._used):
            out.setdefault(article, []).append(name)
        return {article: tuple(names) for article, names in out.items()}

    def _note(self, program: str, decision: Decision) -> None:
        if decision.in_force:
            self._used.update((program, name) for name in decision.provisional_parameters)

    def keep(self, org: str, operator: str, on: dt.date) -> Fraction:
        """Share of the gross price ``org`` bears on ``operator``'s pools on ``on`` (1: no voucher)."""
        on = self.as_of or on
        facts = self._facts(org, operator, NOMINAL_SPEND_FEN)
        key = (str(facts["city"]), bool(facts["in_province"]), bool(facts["self_use"]), on)
        found = self._keep.get(key)
        if found is None:
            voucher = self._voucher(facts, NOMINAL_SPEND_FEN, on)
            found = self._keep[key] = 1 - Fraction(voucher, NOMINAL_SPEND_FEN)
        return found

    def net(self, org: str, operator: str, on: dt.date, gross: Money) -> Money:
        """What ``org`` pays for ``gross``: the bill (to the fen, half up) less the pack's voucher."""
        on = self.as_of or on
        spend = gross.to_fen(Rounding.HALF_UP)
        return Money.from_fen(spend - self._voucher(self._facts(org, operator, spend), spend, on))


__all__ = ["NOMINAL_SPEND_FEN", "PackVoucherEstimate", "pack_voucher_rule"]
