"""The demo's compute step: the demo province's operators, centers and pools, and a replay.

* operators, centers and pools from ``provinces/demo.yaml``, one operator account per center
  (``op-<center key>``, the shared demo password);
* 科大讯飞 (operator of the 飞星一号 center) holds 35 % of 合肥星河大模型 — a related party, so that
  星河's work on 飞星一号 is self-use and earns no compute voucher (art. 2) later on;
* quotas for three organizations (concurrent cards, per-model cards, a monthly budget, card-hours);
* a replay: a few hundred seeded synthetic jobs of the demo organizations over the 30 hours before
  "now", run through the compute core's simulator (late binding, ``zhisuan`` policy). Jobs that ended
  before now are stored completed or failed with their engine start/end and runs (what metering turns
  into usage: :func:`zhisuan.compute.feed.finished_runs`), those running at now as running, the
  rest as queued; a final scheduling step records why the queued ones wait.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import insert, select

from zhisuan import accounts, audit, compute
from zhisuan.accounts.services import find_org
from zhisuan.bootstrap import Platform
from zhisuan.compute import (
    DEFAULT_REFERENCE,
    AcceleratorConstraint,
    Center,
    JobResult,
    JobSpec,
    JobState,
    OrgSpec,
    Province,
    Quota,
    Scaling,
    Trace,
    load_province,
    simulate,
)
from zhisuan.core.access import Role
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.money import Money
from zhisuan.core.orgs import OrgKind
from zhisuan.demo.organizations import DEMO_ADMIN, add_demo_user
from zhisuan.store.models.compute import JobEventRow, JobRow, JobRunRow
from zhisuan.store.models.core import OrganizationRow, UserRow
from zhisuan.store.uow import UnitOfWork

SEED = 2025
HISTORY_S = 30 * 3600
JOBS = 600
XINGHE = "91340100MA8Q0XH01"
PUJIANG = "91310000MA1Q0XH09"
AUTOVISION = "91340200MA8Q0WH02"
USTC = "12100000485000012"
#: who submits how much of the replay (weights), by the 17-character credit-code body
WEIGHTS: dict[str, int] = {
    XINGHE: 22,
    USTC: 20,
    AUTOVISION: 12,
    "12340300MB0Q0BB03": 8,
    "91341300MA8Q0XJ04": 6,
    "91341200MA8Q0FY05": 6,
    "12340500MB0Q0MA06": 8,
    "91340800MA8Q0AQ07": 7,
    "91341000MA8Q0HX08": 4,
    PUJIANG: 7,
}
QUOTAS: dict[str, compute.QuotaInput] = {
    XINGHE: compute.QuotaInput(max_cards=256, max_cards_by_model={"h100-sxm5-80gb": 64}),
    PUJIANG: compute.QuotaInput(monthly_budget="8000.00"),
    AUTOVISION: compute.QuotaInput(max_cards=192, monthly_card_hours=20_000),
}
SIZES = ((1, 14), (2, 6), (4, 14), (8, 30), (16, 16), (32, 10), (64, 7), (128, 3))
NAMES = ("llm-sft", "vision-pretrain", "asr-finetune", "rlhf", "eval-suite", "diffusion", "embedding", "ocr")


@dataclass(frozen=True, slots=True)
class _Synthetic:
    spec: JobSpec
    org_id: int
    accelerators: tuple[str, ...]
    domestic: bool


def load_compute(platform: Platform) -> list[str]:
    """Operators, centers, pools, operator accounts, a related party, quotas, and a replayed history."""
    province = load_province("demo")
    now = platform.clock.now().replace(microsecond=0)
    with platform.uow() as uow:
        operators = _register_centers(uow, platform, province, now)
        owner = next(c for c in province.centers if c.id == "hf-feixing").operator_credit_code
        accounts.add_ownership(uow, DEMO_ADMIN, owner, make_credit_code(XINGHE), "35", now)
        for body, quota in QUOTAS.items():
            compute.set_quota(uow, DEMO_ADMIN, make_credit_code(body), quota, now, platform.vouchers)
        uow.commit()
    with platform.uow() as uow:
        stats = _replay(uow, now)
        report = compute.schedule_once(
            uow, now, actor="demo", vouchers=platform.vouchers, priority=platform.priority
        )
        uow.commit()
    cards = sum(c.cards for c in province.centers)
    held = ", ".join(f"{k} {n}" for k, n in sorted(report.held.items())) or "none"
    return [
        f"{len(province.centers)} centers of {operators} operators, {len(province.pools)} pools, "
        f"{cards} cards, {province.capacity_p} P; operator logins op-<center key> (e.g. op-hf-chaohu)",
        "科大讯飞 holds 35% of 合肥星河大模型 (related party: self-use on 飞星一号); 3 quotas",
        f"replayed {stats['jobs']} jobs over the last {HISTORY_S // 3600} h: {stats['completed']} completed, "
        f"{stats['failed']} failed, {stats['running']} running, {stats['queued']} queued; "
        f"then placed {len(report.placed)}, held {held}",
    ]


def _register_centers(uow: UnitOfWork, platform: Platform, province: Province, now: dt.datetime) -> int:
    made: set[str] = set()
    for center in province.centers:
        code = center.operator_credit_code
        if code not in made:
            accounts.create_org(
                uow,
                DEMO_ADMIN,
                accounts.OrgInput(
                    name=center.operator,
                    credit_code=code,
                    kind=OrgKind.CENTER_OPERATOR,
                    city_code=center.city,
                ),
                now,
            )
            made.add(code)
        compute.create_center(
            uow,
            DEMO_ADMIN,
            compute.CenterInput(
                key=center.id,
                name=center.name,
                name_en=center.name_en or None,
                operator=code,
                city_code=center.city,
                engine={"kind": "simulated"},
            ),
            now,
        )
        for pool in center.pools:
            compute.add_pool(
                uow,
                DEMO_ADMIN,
                center.id,
                compute.PoolInput(
                    key=pool.id,
                    accelerator=pool.accelerator_key,
                    nodes=pool.nodes,
                    cards_per_node=pool.cards_per_node,
                    price=str(pool.price.to_decimal()),
                    bands=[
                        compute.BandInput.model_validate(
                            {"from": b.start_hour, "to": b.end_hour, "price": str(b.price.to_decimal())}
                        )
                        for b in pool.bands
                    ],
                    engine="simulated",
                    engine_config={"accelerators": {pool.accelerator_key: {"cards": pool.cards}}},
                ),
                now,
            )
        _operator_account(uow, platform, f"op-{center.id}", code, now)
    return len(made)


def _operator_account(
    uow: UnitOfWork, platform: Platform, username: str, code: str, now: dt.datetime
) -> None:
    """An operator login with the demo password.

    The first goes through ``add_demo_user``; the others reuse its password hash, because an argon2
    hash costs about a second here and the demo has one operator per center.
    """
    s = uow.session
    first = s.execute(select(UserRow).where(UserRow.username.like("op-%")).limit(1)).scalar()
    if first is None:
        add_demo_user(uow, platform, username, Role.OPERATOR, org=code)
        return
    org = find_org(uow, code)
    row = UserRow(
        username=username,
        display_name=username,
        password_hash=first.password_hash,
        role=Role.OPERATOR.value,
        org_id=org.id,
        city_code=None,
        active=True,
        created_at=now,
    )
    s.add(row)
    s.flush()
    audit.record(
        uow,
        now,
        DEMO_ADMIN.username,
        "user.create",
        f"user:{row.id}",
        {"username": username, "role": "operator"},
    )


def synthetic_jobs(org_names: dict[str, tuple[int, str]], start_s: int, seed: int = SEED) -> list[_Synthetic]:
    """Seeded jobs: sizes from 1 to 128 cards, log-normal run times, arrivals thickening towards now."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not cryptography
    bodies = list(WEIGHTS)
    weights = [WEIGHTS[b] for b in bodies]
    sizes = [s for s, _w in SIZES]
    size_w = [w for _s, w in SIZES]
    jobs: list[_Synthetic] = []
    for i in range(JOBS):
        # arrivals: density grows with the square of time (more recent, more jobs) → a queue at "now"
        t = int(HISTORY_S * rng.random() ** (1 / 3))
        body = rng.choices(bodies, weights)[0]
        org_id, org_name = org_names[body]
        cards = rng.choices(sizes, size_w)[0]
        hours = min(30.0, max(0.1, rng.lognormvariate(math.log(14.0), 0.9)))
        accelerators: tuple[str, ...] = ()
        domestic = False
        roll = rng.random()
        if roll < 0.08:
            accelerators = ("h100-sxm5-80gb",)
        elif roll < 0.16:
            accelerators = ("a100-sxm4-80gb", "a800-sxm4-80gb")
        elif roll < 0.30:
            domestic = True
        runtime = max(60, int(hours * 3600))
        jobs.append(
            _Synthetic(
                JobSpec(
                    id=f"d{i}",
                    org=org_name,
                    cards=cards,
                    runtime_s=runtime,
                    submit_s=start_s + t,
                    constraint=AcceleratorConstraint(models=frozenset(accelerators), domestic_only=domestic),
                    reference=DEFAULT_REFERENCE,
                    name=f"{rng.choice(NAMES)}-{i:03d}",
                    command="torchrun --nproc_per_node=8 train.py",
                    actual_runtime_s=max(60, int(runtime * rng.uniform(0.6, 1.0))),
                ),
                org_id,
                accelerators,
                domestic,
            )
        )
    jobs.sort(key=lambda j: (j.spec.submit_s, j.spec.id))
    return jobs


def _replay(uow: UnitOfWork, now: dt.datetime) -> Counter[str]:
    """Simulate the last hours and store what had happened by ``now``."""
    s = uow.session
    bodies = {make_credit_code(b): b for b in WEIGHTS}
    org_names = {
        bodies[code]: (oid, name)
        for oid, name, code in s.execute(
            select(OrganizationRow.id, OrganizationRow.name, OrganizationRow.credit_code).where(
                OrganizationRow.credit_code.in_(list(bodies))
            )
        ).all()
    }
    centers = compute.list_centers(uow)
    pools = compute.core_pools(centers)
    by_key = {p.key: p for c in centers for p in c.pools}
    core_centers = tuple(
        Center(
            c.key, c.name, c.city_code, c.operator_name, pools=tuple(p for p in pools if p.center == c.key)
        )
        for c in centers
    )
    quotas = {org_names[b][1]: q for b, q in _core_quotas().items()}
    province = Province(
        key="demo",
        name="demo",
        region="340000",
        centers=core_centers,
        orgs=tuple(OrgSpec(id=name, name=name, quota=quotas.get(name)) for _oid, name in org_names.values()),
    )
    now_s = int(now.timestamp())
    start_s = now_s - HISTORY_S
    jobs = synthetic_jobs(org_names, 0)
    trace = Trace("demo", tuple(j.spec for j in jobs), epoch_s=start_s)
    result = simulate(trace, province, "zhisuan", seed=SEED, failure_rate=0.03)
    at = {j.spec.id: j for j in jobs}
    stats: Counter[str] = Counter()

    def when(offset: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(start_s + offset, dt.UTC)

    rows: list[tuple[JobRow, list[dict[str, object]], dict[str, object] | None]] = []
    for r in result.jobs:
        job = at[r.job_id]
        spec = job.spec
        if r.state is JobState.CANCELLED:  # unrunnable at submission: the platform refuses it
            stats["refused"] += 1
            continue
        row = JobRow(
            org_id=job.org_id,
            user_id=None,
            name=spec.name,
            command=spec.command,
            cards=spec.cards,
            accelerators=json.dumps(sorted(job.accelerators)),
            min_memory_gb=None,
            domestic_only=job.domestic,
            runtime_s=spec.runtime_s,
            reference=spec.reference,
            retries=0,
            attempts=0,
            state=JobState.QUEUED.value,
            submitted_at=when(spec.submit_s),
            updated_at=now,
            engine_cancel_pending=False,
        )
        rows.append((row, *_history(row, job, r, now_s, start_s, by_key, stats)))
    s.add_all([row for row, _e, _r in rows])
    s.flush()
    events = [e | {"job_id": row.id} for row, evs, _r in rows for e in evs]
    runs = [run | {"job_id": row.id} for row, _e, run in rows if run is not None]
    s.execute(insert(JobEventRow), events)
    if runs:
        s.execute(insert(JobRunRow), runs)
    stats["jobs"] = len(rows)
    return stats


def _core_quotas() -> dict[str, Quota]:
    out = {}
    for body, q in QUOTAS.items():
        out[body] = Quota(
            max_cards=q.max_cards,
            max_cards_by_model=dict(q.max_cards_by_model),
            monthly_budget_yuan=Money(q.monthly_budget) if q.monthly_budget is not None else None,
            monthly_card_hours=None if q.monthly_card_hours is None else Decimal(q.monthly_card_hours),
        )
    return out


def _history(
    row: JobRow,
    job: _Synthetic,
    r: JobResult,
    now_s: int,
    start_s: int,
    by_key: dict[str, compute.PoolView],
    stats: Counter[str],
) -> tuple[list[dict[str, object]], dict[str, object] | None]:
    """Fill in the job's state at ``now``; return its events and run (job ids are set after insert)."""

    def when(offset: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(start_s + offset, dt.UTC)

    events: list[dict[str, object]] = []

    def event(at: dt.datetime, old: str | None, new: str, note: str, pool_id: int | None = None) -> None:
        events.append(
            {"at": at, "from_state": old, "to_state": new, "pool_id": pool_id, "actor": "demo", "note": note}
        )

    event(row.submitted_at, None, "queued", "submitted")
    started = r.start_s is not None and start_s + r.start_s < now_s
    if not started or r.pool_id is None or r.start_s is None or r.end_s is None:
        stats["queued"] += 1
        return events, None
    pool = by_key[r.pool_id]
    begin, end = when(r.start_s), when(r.end_s)
    engine_job_id = f"sim-demo-{job.spec.id}"
    row.pool_id = pool.id
    row.placed_at = begin
    row.started_at = begin
    row.attempts = 1
    row.engine_job_id = engine_job_id
    row.expected_end = begin + dt.timedelta(
        seconds=Scaling().runtime(job.spec.runtime_s, job.spec.reference, pool.accelerator)
    )
    event(begin, "queued", "placed", f"placed on {pool.key}", pool.id)
    event(begin, "placed", "placed", f"dispatched to {pool.key} as {engine_job_id}", pool.id)
    event(begin, "placed", "running", f"started at {begin.isoformat()}", pool.id)
    run: dict[str, object] = {
        "attempt": 1,
        "pool_id": pool.id,
        "cards": row.cards,
        "engine": "simulated",
        "engine_job_id": engine_job_id,
        "dispatched_at": begin,
        "started_at": begin,
        "ended_at": None,
        "outcome": None,
        "exit_code": None,
    }
    if start_s + r.end_s > now_s:
        row.state = JobState.RUNNING.value
        stats["running"] += 1
        return events, run
    outcome = JobState.COMPLETED if r.state is JobState.COMPLETED else JobState.FAILED
    code = 0 if outcome is JobState.COMPLETED else 1
    row.state = outcome.value
    row.ended_at = end
    row.exit_code = code
    run |= {"ended_at": end, "outcome": outcome.value, "exit_code": code}
    event(end, "running", outcome.value, f"exit code {code}", pool.id)
    stats[outcome.value] += 1
    return events, run
