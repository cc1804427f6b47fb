"""Typed hold reasons and refusals: the same words (and kinds) as the text they replace."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from tests.factories.compute import job, pool
from zhisuan.compute.model import JobSpec, Refusal
from zhisuan.compute.placement import (
    CardQuota,
    EngineRefused,
    Federation,
    Hold,
    HoldDetail,
    HoldKind,
    HoldReason,
    HourBudget,
    ModelQuota,
    NotEnoughCards,
    NotQueued,
    Patience,
    PoolState,
    QueuedBehind,
    Quota,
    Reserved,
    RunningJob,
    Scheduler,
    Unavailable,
    Unrunnable,
    WaitingForPool,
    YuanBudget,
)
from zhisuan.core.clock import UTC
from zhisuan.core.money import Money

WIDE = Refusal("cards", "no pool can run 64 cards at once (the widest matching pool, p, has 8)")
JUNE_1 = dt.datetime(2025, 6, 1, tzinfo=UTC)


def old_hold_kind(reason: str) -> str:
    """How compute/services.py used to read a kind back from the words."""
    for prefix in ("quota", "budget", "unrunnable", "unavailable", "engine", "reserved"):
        if reason.startswith(prefix):
            return prefix
    return "capacity"


CASES: list[tuple[HoldKind, HoldDetail, int | dt.datetime | None, str]] = [
    (
        HoldKind.QUOTA,
        CardQuota("a", 8, 8, 8),
        None,
        "quota: a uses 8 of 8 concurrent cards; this job needs 8 more",
    ),
    (
        HoldKind.QUOTA,
        ModelQuota("a", ((4, 4, "a100-sxm4-80gb"), (2, 2, "h100-sxm5-80gb"), (4, 4, "a100-sxm4-80gb")), 2),
        None,
        "quota: a uses 2 of 2 h100-sxm5-80gb cards; 4 of 4 a100-sxm4-80gb cards; this job needs 2 more",
    ),
    (
        HoldKind.BUDGET,
        YuanBudget("a", 95.0, 100.0, 7.5),
        None,
        "budget: a has committed 95.00 of 100.00 yuan this month; this job costs at least 7.50",
    ),
    (
        HoldKind.BUDGET,
        HourBudget("o", 1.0, 1.5, 1.0),
        None,
        "budget: o has used 1.0 of 1.5 card-hours this month; this job needs 1.0",
    ),
    (
        HoldKind.RESERVED,
        Reserved("p1", 8),
        500,
        "reserved p1 from t=500s (needs 8 cards; later jobs may only backfill around it)",
    ),
    (
        HoldKind.RESERVED,
        Reserved("p1", 8),
        JUNE_1,
        "reserved p1 from 2025-06-01 08:00 (Shanghai) "
        "(needs 8 cards; later jobs may only backfill around it)",
    ),
    (
        HoldKind.CAPACITY,
        NotEnoughCards(16, 8),
        None,
        "waiting for 16 cards at once; the matching pools have at most 8 free",
    ),
    (
        HoldKind.CAPACITY,
        QueuedBehind(3, "a"),
        None,
        "queued behind 3 earlier jobs of a of the same size for the same pools",
    ),
    (
        HoldKind.CAPACITY,
        QueuedBehind(3),
        None,
        "queued behind 3 earlier jobs of the same size for the same pools",
    ),
    (
        HoldKind.CAPACITY,
        WaitingForPool("b1", 120),
        None,
        "waiting for b1: expected to start in 120 s and finish sooner or cheaper than on the pools free now",
    ),
    (
        HoldKind.CAPACITY,
        Patience(1.5, "c1"),
        900,
        "waiting until t=900s for a pool at most 1.5× the best price per work; after that it takes c1",
    ),
    (
        HoldKind.UNRUNNABLE,
        Unrunnable(WIDE),
        None,
        "unrunnable: no pool can run 64 cards at once (the widest matching pool, p, has 8)",
    ),
    (
        HoldKind.UNAVAILABLE,
        Unavailable((("b", "down"), ("a", "maintenance"), ("a", "maintenance"))),
        None,
        "unavailable: the pools that can run it are unavailable now (a: maintenance; b: down)",
    ),
    (
        HoldKind.ENGINE,
        EngineRefused("no such partition"),
        None,
        "engine refused on the last pool: no such partition",
    ),
    (HoldKind.CAPACITY, NotQueued(), None, "not queued"),
]


@pytest.mark.parametrize(("kind", "detail", "until", "words"), CASES)
def test_hold_reasons_keep_their_words_and_kinds(
    kind: HoldKind, detail: HoldDetail, until: int | dt.datetime | None, words: str
) -> None:
    reason = HoldReason(kind, detail, until)
    assert reason.text() == words
    assert old_hold_kind(words) == kind.value


def test_times_on_the_unix_axis_become_shanghai_clock_times() -> None:
    reason = HoldReason(HoldKind.RESERVED, Reserved("p1", 8), int(JUNE_1.timestamp()))
    assert "t=" in reason.text()
    assert reason.on_clock(0).text() == HoldReason(HoldKind.RESERVED, Reserved("p1", 8), JUNE_1).text()
    assert reason.on_clock(0).on_clock(0) == reason.on_clock(0)


def test_scheduler_holds_are_typed_with_instants() -> None:
    now = int(JUNE_1.timestamp())
    p = pool("p", nodes=1)
    out = Scheduler("zhisuan").decide(
        [job("big", cards=8, submit=now), job("never", cards=64, submit=now)],
        [PoolState(p, (RunningJob("r", "x", 8, end_s=now + 3600),))],
        now,
    )
    big, never = out
    assert isinstance(big, Hold)
    assert big.reason.kind is HoldKind.RESERVED
    assert big.reason.until == JUNE_1 + dt.timedelta(hours=1)
    assert big.reason.text().startswith("reserved p from 2025-06-01 09:00 (Shanghai)")
    assert not re.search(r"t=\d+s", big.reason.text())
    assert isinstance(never, Hold)
    assert never.unrunnable
    assert never.reason.detail == Unrunnable(WIDE)


@pytest.mark.parametrize(
    ("spec", "quota", "field", "words"),
    [
        (job("w", cards=64), None, "cards", "no pool can run 64 cards at once"),
        (job("c", price_ceiling=Money("5")), None, "price_ceiling", "ceiling of 5.00 yuan/card-hour"),
        (job("d", runtime=10_000, deadline_s=100), None, "deadline", "before its deadline"),
        (
            job("q", cards=8),
            Quota(max_cards=4),
            "cards",
            "a may use at most 4 cards at once; the job needs 8",
        ),
        (
            job("m", cards=8),
            Quota(max_cards_by_model={"a100-sxm4-80gb": 4}),
            "cards",
            "a's per-model quotas leave no matching pool wide enough for 8 cards",
        ),
        (
            job("h", cards=2, runtime=3600),
            Quota(monthly_card_hours=Decimal(1)),
            "job",
            "the job needs at least 2.0 card-hours; a's monthly budget is 1 card-hours",
        ),
        (
            job("y", cards=2, runtime=3600),
            Quota(monthly_budget_yuan=Money("5")),
            "job",
            "the job costs at least 20.00 yuan; a's monthly budget is 5.00 yuan",
        ),
    ],
)
def test_refusals_name_the_field_to_change(
    spec: JobSpec, quota: Quota | None, field: str, words: str
) -> None:
    quotas = {"a": quota} if quota is not None else {}
    refusal = Federation("zhisuan", [pool("p", nodes=1)], quotas=quotas).submit(spec)
    assert refusal is not None
    assert refusal.field == field
    assert words in refusal.text()
