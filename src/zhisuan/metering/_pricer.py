"""The import's fast path: a usage file row priced straight into the tuple it is stored as.

:class:`References` holds the organizations and pools rows may name (loaded once per import);
:class:`Pricer` prices a row that nothing splits and every check passes, and answers ``None`` for any
other row, which the model (:func:`~zhisuan.metering.model.split_usage`) then splits, prices or
refuses with its line and column. Both give the same records.
"""

from __future__ import annotations

import datetime as dt
import time
from bisect import bisect_right
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhisuan.core.clock import Month, day_start
from zhisuan.core.errors import NotFoundError, ValidationError
from zhisuan.core.ids import MAX_ID
from zhisuan.metering.model import (
    BP,
    SECONDS_PER_HOUR,
    RateCard,
    RawUsage,
    UsageKind,
    check_identity,
    half_up,
)
from zhisuan.metering.usage_file import Values
from zhisuan.store.models.compute import PoolRow
from zhisuan.store.models.core import OrganizationRow


class References:
    """The organizations and pools (id → center, accelerator) rows may name."""

    def __init__(self, orgs: set[int], pools: Mapping[int, tuple[int, str, int]]) -> None:
        self.orgs = orgs
        self.pools = pools

    @classmethod
    def load(cls, s: Session) -> References:
        """Every organization and pool, loaded once for a whole import."""
        pools = s.execute(
            select(PoolRow.id, PoolRow.center_id, PoolRow.accelerator, PoolRow.nodes, PoolRow.cards_per_node)
        )
        return cls(
            set(s.execute(select(OrganizationRow.id)).scalars()),
            {p: (c, a, nodes * per_node) for p, c, a, nodes, per_node in pools},
        )

    def check(self, n: int, raw: RawUsage) -> None:
        """The row's organization exists; its pool belongs to its center and has its accelerator."""
        if raw.org_id not in self.orgs:
            raise ValidationError(f"no organization {raw.org_id}", row=n, column="org_id")
        pool = self.pools.get(raw.pool_id)
        if pool is None:
            raise ValidationError(f"no pool {raw.pool_id}", row=n, column="pool_id")
        if pool[0] != raw.center_id:
            raise ValidationError(
                f"pool {raw.pool_id} belongs to center {pool[0]}", row=n, column="center_id"
            )
        if pool[1] != raw.accelerator:
            raise ValidationError(
                f"pool {raw.pool_id} has {pool[1]}, not {raw.accelerator}", row=n, column="accelerator"
            )
        if raw.cards > pool[2]:
            raise ValidationError(
                f"pool {raw.pool_id} has {pool[2]} cards, not {raw.cards}", row=n, column="cards"
            )


_FIRST_PERIOD = Month(1970, 1)
_LAST_PERIOD = Month(2100, 12)


_DAY_STAMP: dict[int, str] = {}
_CLOCK_STAMP = [f"T{h:02d}{m:02d}{sec:02d}Z" for h in range(24) for m in range(60) for sec in range(60)]
_USAGE = UsageKind.USAGE.value


def _stamp(seconds: int) -> str:
    """``YYYYMMDDTHHMMSSZ`` of a Unix second (the key's form, as the model's ``_stamp``)."""
    day = seconds // 86400
    text_ = _DAY_STAMP.get(day)
    if text_ is None:
        text_ = _DAY_STAMP[day] = time.strftime("%Y%m%d", time.gmtime(day * 86400))
    return text_ + _CLOCK_STAMP[seconds % 86400]


class Pricer:
    """Prices a file row straight into its stored tuple, when nothing splits it and every check passes.

    Month starts and policy-validity edges are one sorted list of Unix seconds (the start of each
    period, with its ``policy_on`` day and usage month); price versions and discounts are steps per
    (organization, pool). A row whose interval contains any of these edges, on a banded pool, a
    correction or a row that fails a check answers ``None``: the model splits, prices or refuses it.
    """

    def __init__(self, card: RateCard, edges: Sequence[dt.date], refs: References) -> None:
        self.card = card
        self.refs = refs
        days = set(edges)
        month = _FIRST_PERIOD
        while month <= _LAST_PERIOD:
            days.add(month.first_day)
            month = month.next()
        ordered = sorted(days)
        self.period_s = [int(day_start(d).timestamp()) for d in ordered]
        self.period = [(d, str(Month.of_date(d))) for d in ordered]
        self.engines: set[str] = set()
        self.steps: dict[tuple[int, int], tuple[list[int], list[tuple[int, int]]] | None] = {}

    def _steps(self, org: int, pool: int) -> tuple[list[int], list[tuple[int, int]]] | None:
        """Days on which the pool's price or the org's discount changes, with (price, discount) from
        each; None for a banded pool (its pieces split at band edges)."""
        if self.card.banded(pool):
            return None
        cuts: list[int] = []
        terms: list[tuple[int, int]] = []
        for day in self.card.version_days(pool, org):
            try:
                price = self.card.rate_on(pool, day).bands[0].price_fen_per_card_hour
            except NotFoundError:
                continue  # a discount before the pool's first price: no price yet
            cuts.append(int(day_start(day).timestamp()))
            terms.append((price, self.card.discount_on(org, pool, day)))
        return cuts, terms

    def row(self, v: Values) -> list[tuple[object, ...]] | None:
        """The stored row of a simple file row, or None (the model handles it)."""
        engine, job, org_t, center_t, pool_t, acc, cards_t, start_t, end_t, corrects = v
        if corrects:
            return None
        try:
            org, center, pool, cards = int(org_t), int(center_t), int(pool_t), int(cards_t)
            start, end = dt.datetime.fromisoformat(start_t), dt.datetime.fromisoformat(end_t)
        except ValueError:
            return None
        if start.tzinfo is None or end.tzinfo is None or start.microsecond or end.microsecond:
            return None
        if not 0 < cards <= MAX_ID:
            return None
        engine, job, acc = engine.strip(), job.strip(), acc.strip()
        if engine not in self.engines:
            try:
                check_identity(engine, "job")
            except ValidationError:
                return None
            self.engines.add(engine)
        if len(job.split()) != 1 or not (job.isascii() and job.isprintable()):  # the model says why
            return None
        known = self.refs.pools.get(pool)
        if org not in self.refs.orgs or known is None or known[:2] != (center, acc) or cards > known[2]:
            return None
        s, e = int(start.timestamp()), int(end.timestamp())
        if e <= s:
            return None
        key = (org, pool)
        steps = self.steps[key] if key in self.steps else self.steps.setdefault(key, self._steps(org, pool))
        if steps is None:
            return None
        period = self.period_s
        i = bisect_right(period, s)
        if i == 0 or i == len(period) or period[i] < e:
            return None  # a month or policy edge inside: split
        cuts, terms = steps
        j = bisect_right(cuts, s)
        if j == 0 or (j < len(cuts) and cuts[j] < e):
            return None  # no price yet, or the price or discount changes inside: split
        price, discount = terms[j - 1]
        policy_on, month = self.period[i - 1]
        card_seconds = cards * (e - s)
        return [
            (
                f"{engine}/{job}/{pool}/{_stamp(s)}-{_stamp(e)}",
                engine,
                job,
                org,
                center,
                pool,
                acc,
                cards,
                start,
                end,
                card_seconds,
                price,
                discount,
                half_up(card_seconds * price * (BP - discount), SECONDS_PER_HOUR * BP),
                _USAGE,
                0,
                None,
                month,
                policy_on,
            )
        ]


__all__ = ["Pricer", "References"]
