"""Compute services on both databases: centers, submission, refusal, scheduling, quotas, worker calls."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from tests.conftest import TestDatabase
from tests.factories.compute import VOUCHERS
from zhisuan import accounts, audit, compute
from zhisuan.compute import dispatch
from zhisuan.compute._context import _Context
from zhisuan.compute.engines.port import INSTALLATION_RE
from zhisuan.compute.model import DEFAULT_REFERENCE, Scaling
from zhisuan.compute.scheduling import runtime_history
from zhisuan.core.access import Principal, Role
from zhisuan.core.catalog import capacity_p
from zhisuan.core.clock import ManualClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.core.ids import OrgId
from zhisuan.core.orgs import OrgKind
from zhisuan.store.models.compute import JobEventRow, JobRow

ADMIN = Principal(None, "test-admin", Role.ADMIN)


@dataclass
class Setup:
    org_a: int
    org_b: int
    operator: int
    alice: Principal  # member of A
    bob: Principal  # member of B
    olga: Principal  # operator staff


def _org(uow, name: str, body: str, kind: OrgKind, now: dt.datetime) -> int:  # type: ignore[no-untyped-def]
    return accounts.create_org(
        uow,
        ADMIN,
        accounts.OrgInput(name=name, credit_code=make_credit_code(body), kind=kind, city_code="340100"),
        now,
    ).id


A100 = "a100-sxm4-80gb"


def job(cards: int = 8, runtime_s: int = 3600, **kw: object) -> compute.JobInput:
    return compute.JobInput.model_validate(
        {
            "name": kw.pop("name", "train"),
            "command": "python train.py",
            "cards": cards,
            "runtime_s": runtime_s,
        }
        | kw
    )


def submit_many(uow, who: Principal, n: int, now: dt.datetime, **kw: object) -> list[int]:  # type: ignore[no-untyped-def]
    """``n`` equal jobs of ``who``'s organization, submitted at ``now``: their ids."""
    return [compute.submit_job(uow, who, job(**kw), now).id for _ in range(n)]  # type: ignore[arg-type]


@pytest.fixture
def world(db: TestDatabase, clock: ManualClock) -> Setup:
    now = clock.now()
    with db.uow() as uow:
        a = _org(uow, "甲科技有限公司", "91340100MA2CC0001", OrgKind.ENTERPRISE, now)
        b = _org(uow, "乙科技有限公司", "91340100MA2CC0002", OrgKind.ENTERPRISE, now)
        op = _org(uow, "丙算力运营有限公司", "91340100MA2CC0003", OrgKind.CENTER_OPERATOR, now)
        compute.create_center(
            uow,
            ADMIN,
            compute.CenterInput(key="hf-one", name="合肥一号", operator=str(op), city_code="340100"),
            now,
        )
        compute.add_pool(
            uow,
            ADMIN,
            "hf-one",
            compute.PoolInput(
                key="hf-one-a100", accelerator="a100-sxm4-80gb", nodes=2, cards_per_node=8, price="18.00"
            ),
            now,
        )
        compute.add_pool(
            uow,
            ADMIN,
            "hf-one",
            compute.PoolInput(
                key="hf-one-910b", accelerator="ascend-910b3", nodes=1, cards_per_node=8, price="12.00"
            ),
            now,
        )
        uow.commit()
    return Setup(
        a,
        b,
        op,
        Principal(None, "alice", Role.USER, OrgId(a)),
        Principal(None, "bob", Role.USER, OrgId(b)),
        Principal(None, "olga", Role.OPERATOR, OrgId(op)),
    )


def test_capacity_in_p_per_pool_center_city_and_province(db: TestDatabase, world: Setup) -> None:
    with db.uow() as uow:
        cap = compute.capacity(uow)
    # 16 A100 × 312 TFLOPS + 8 × 910B3 (catalog figures) / 1000
    assert cap.by_pool["hf-one-a100"] == (capacity_p([("a100-sxm4-80gb", 16)]), 16)
    assert cap.by_center["hf-one"][1] == 24
    assert cap.by_city["340100"] == (cap.province_p, 24)
    assert cap.province_p == capacity_p([("a100-sxm4-80gb", 16), ("ascend-910b3", 8)])


def test_operators_manage_only_their_own_centers(db: TestDatabase, world: Setup, clock: ManualClock) -> None:
    with db.uow() as uow:
        compute.add_pool(
            uow,
            world.olga,
            "hf-one",
            compute.PoolInput(key="hf-one-h20", accelerator="h20-96gb", nodes=1, cards_per_node=8, price="9"),
            clock.now(),
        )
        with pytest.raises(PermissionDeniedError):
            compute.add_pool(
                uow,
                world.alice,
                "hf-one",
                compute.PoolInput(key="x-pool", accelerator="h20-96gb", nodes=1, cards_per_node=8, price="9"),
                clock.now(),
            )
        with pytest.raises(ValidationError, match="not a center operator"):
            compute.create_center(
                uow,
                ADMIN,
                compute.CenterInput(key="bad", name="坏中心", operator=str(world.org_a), city_code="340100"),
                clock.now(),
            )


def test_submit_queues_the_job_with_a_submitted_event(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    with db.uow() as uow:
        view = compute.submit_job(uow, world.alice, job(), clock.now())
        uow.commit()
    with db.uow() as uow:
        shown = compute.get_job(uow, world.alice, view.id)
    assert shown.state == "queued"
    assert shown.org_id == world.org_a
    assert [(e.from_state, e.to_state) for e in shown.events] == [(None, "queued")]


def test_submitting_and_cancelling_a_job_are_audited(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    """Issue 16: a job's submission and cancellation commit money; each is an event naming the user, in
    the order they happened (the submission's event is deferred, the cancellation's chained at once)."""
    with db.uow() as uow:
        view = compute.submit_job(uow, world.alice, job(price_ceiling="30.00"), clock.now())
        compute.cancel_job(uow, world.alice, view.id, clock.now())
        uow.commit()
    with db.uow() as uow:
        events = audit.list_events(uow, ADMIN, action="job.")
        assert [(e.action, e.actor, e.subject) for e in events] == [
            ("job.cancel", "alice", f"job:{view.id}"),
            ("job.submit", "alice", f"job:{view.id}"),
        ]
        assert events[1].detail["price_ceiling_fen"] == 3000
        assert audit.verify(uow).intact


@pytest.mark.parametrize(
    ("request_", "field", "words"),
    [
        ({"cards": 32}, "cards", "32 cards at once"),
        ({"accelerators": ["h100-sxm5-80gb"]}, "accelerators", "h100-sxm5-80gb"),
        ({"price_ceiling": "5.00"}, "price_ceiling", "ceiling"),
        ({"domestic_only": True, "cards": 16}, "cards", "16 cards at once"),
    ],
)
def test_a_job_no_pool_can_ever_run_is_refused_with_the_reason(
    db: TestDatabase, world: Setup, clock: ManualClock, request_: dict[str, object], field: str, words: str
) -> None:
    with db.uow() as uow:
        with pytest.raises(ValidationError, match=words) as exc:
            compute.submit_job(uow, world.alice, job(**request_), clock.now())
        assert exc.value.field == field
        assert uow.session.execute(select(func.count()).select_from(JobRow)).scalar() == 0


def test_a_job_wider_than_the_org_card_quota_is_refused(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    with db.uow() as uow:
        compute.set_quota(uow, ADMIN, world.org_a, compute.QuotaInput(max_cards=4), clock.now(), VOUCHERS)
        with pytest.raises(ValidationError, match="at most 4 cards"):
            compute.submit_job(uow, world.alice, job(cards=8), clock.now())


def test_user_of_org_a_cannot_see_or_cancel_org_b_job(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    with db.uow() as uow:
        theirs = compute.submit_job(uow, world.bob, job(), clock.now())
        uow.commit()
    with db.uow() as uow:
        with pytest.raises(NotFoundError):
            compute.get_job(uow, world.alice, theirs.id)
        with pytest.raises(NotFoundError):
            compute.cancel_job(uow, world.alice, theirs.id, clock.now())
        assert compute.list_jobs(uow, world.alice) == []
        assert [j.id for j in compute.list_jobs(uow, world.bob)] == [theirs.id]
        # the operator sees no job until one runs on its center
        assert compute.list_jobs(uow, world.olga) == []


def test_scheduling_never_exceeds_pool_capacity_and_records_why_others_wait(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    with db.uow() as uow:
        ids = submit_many(uow, world.alice, 3, clock.now(), cards=8, accelerators=[A100])
        report = compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        uow.commit()
    assert len(report.placed) == 2  # 16 A100 cards: two 8-card jobs, the third waits
    with db.uow() as uow:
        views = {i: compute.get_job(uow, ADMIN, i) for i in ids}
        overview = compute.overview(uow, clock.now())
    placed = [v for v in views.values() if v.state == "placed"]
    waiting = [v for v in views.values() if v.state == "queued"]
    assert {v.pool_key for v in placed} == {"hf-one-a100"}
    assert len(waiting) == 1
    assert waiting[0].hold_reason
    pool = next(p for c in overview.centers for p in c.pools if p.pool.key == "hf-one-a100")
    assert pool.busy_cards == 16 <= pool.pool.cards
    # the waiting job asks for A100s: only that pool (and its center) could take it
    assert {p.pool.key: p.eligible_queued for c in overview.centers for p in c.pools} == {
        "hf-one-a100": 1,
        "hf-one-910b": 0,
    }
    assert overview.centers[0].eligible_queued == 1
    # placed jobs are visible to the operator of the center they are bound to
    with db.uow() as uow:
        assert {j.id for j in compute.list_jobs(uow, world.olga)} == {v.id for v in placed}


def test_quota_holds_carry_their_reason_and_admins_see_them(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    with db.uow() as uow:
        compute.set_quota(uow, ADMIN, world.org_a, compute.QuotaInput(max_cards=8), clock.now(), VOUCHERS)
        first = compute.submit_job(uow, world.alice, job(cards=8), clock.now())
        second = compute.submit_job(uow, world.alice, job(cards=8), clock.now())
        compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        uow.commit()
    with db.uow() as uow:
        assert compute.get_job(uow, world.alice, first.id).state == "placed"
        held = compute.get_job(uow, world.alice, second.id)
        assert held.state == "queued"
        assert held.hold_kind == "quota"
        assert held.hold_reason is not None
        assert "uses 8 of 8 concurrent cards" in held.hold_reason
        assert [j.id for j in compute.list_jobs(uow, ADMIN, held_only=True)] == [second.id]
        quota = compute.get_quota(uow, world.alice, world.org_a, clock.now(), VOUCHERS)
        assert quota.cards_in_use == 8


def test_budget_hold_when_the_month_is_spent(db: TestDatabase, world: Setup, clock: ManualClock) -> None:
    with db.uow() as uow:
        # 8 cards × 2 h on a V100 ≈ 48 min on the 910B at 12 yuan less the 20% voucher ≈ 61 yuan
        compute.set_quota(
            uow, ADMIN, world.org_b, compute.QuotaInput(monthly_budget="100.00"), clock.now(), VOUCHERS
        )
        first = compute.submit_job(
            uow, world.bob, job(cards=8, runtime_s=7200, domestic_only=True), clock.now()
        )
        second = compute.submit_job(
            uow, world.bob, job(cards=8, runtime_s=7200, domestic_only=True), clock.now()
        )
        compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        assert compute.get_job(uow, world.bob, first.id).state == "placed"
        view = compute.get_job(uow, world.bob, second.id)
        assert view.state == "queued"
        assert view.hold_kind == "budget"
        # a job dearer than the whole monthly budget is refused at submission
        with pytest.raises(ValidationError, match="monthly budget"):
            compute.submit_job(uow, world.bob, job(cards=16, runtime_s=7200), clock.now())


def test_cancel_a_queued_job_keeps_every_event(db: TestDatabase, world: Setup, clock: ManualClock) -> None:
    with db.uow() as uow:
        view = compute.submit_job(uow, world.alice, job(), clock.now())
        clock.advance(60)
        compute.cancel_job(uow, world.alice, view.id, clock.now())
        with pytest.raises(ConflictError):
            compute.cancel_job(uow, world.alice, view.id, clock.now())
        shown = compute.get_job(uow, world.alice, view.id)
        events = [
            (e.from_state, e.to_state, e.at)
            for e in uow.session.execute(select(JobEventRow).where(JobEventRow.job_id == view.id)).scalars()
        ]
    assert shown.state == "cancelled"
    assert [(a, b) for a, b, _at in events] == [(None, "queued"), ("queued", "cancelled")]
    assert events[1][2] > events[0][2]


def test_worker_lifecycle_dispatch_run_finish_and_usage_record(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    with db.uow() as uow:
        view = compute.submit_job(uow, world.alice, job(cards=8), clock.now())
        compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        tickets = dispatch.claim_placed(uow, "w1", clock.now())
        assert [t.job_id for t in tickets] == [view.id]
        assert dispatch.claim_placed(uow, "w2", clock.now()) == []  # claimed already
        t = tickets[0]
        assert t.nodes == 1
        assert t.engine_config["kind"] == "simulated"
        # one place computes a pool's engine settings: the tickets carry what the pool listing says,
        # this database's installation id (which engine job names carry) among them
        (pool,) = [p for p in dispatch.engine_pools(uow) if p.pool_id == t.pool_id]
        assert t.engine_config == pool.engine_config
        assert t.engine_config["installation"] == dispatch.installation(uow)
        assert INSTALLATION_RE.match(dispatch.installation(uow))
        dispatch.record_dispatch(uow, t.job_id, t.attempt, "sim-1", clock.now())
        start = clock.now() + dt.timedelta(seconds=5)
        dispatch.record_running(uow, t.job_id, start, clock.now())
        end = start + dt.timedelta(hours=1)
        state = dispatch.record_finished(
            uow, t.job_id, succeeded=True, exit_code=0, started_at=start, ended_at=end, now=end
        )
        assert state == "completed"
        runs = compute.finished_runs(uow)
        shown = compute.get_job(uow, world.alice, view.id)
    assert [(r.job_id, r.cards, r.seconds, r.outcome, r.engine_job_id) for r in runs] == [
        (view.id, 8, 3600, "completed", "sim-1")
    ]
    assert runs[0].operator_org_id == world.operator
    assert [e.to_state for e in shown.events] == ["queued", "placed", "placed", "running", "completed"]


def test_the_scheduler_learns_each_organizations_run_times_from_completed_jobs(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    # alice's organization asks for four times what its jobs take: they end after 1 h on the A100
    # pool, which is `ran` seconds of the reference accelerator; bob's job fails
    ran = 3600 * float(Scaling().speedup(DEFAULT_REFERENCE, A100))
    asked = round(4 * ran)
    with db.uow() as uow:
        ids = submit_many(uow, world.alice, 8, clock.now(), cards=1, runtime_s=asked, accelerators=[A100])
        failed = compute.submit_job(uow, world.bob, job(cards=1, runtime_s=3600), clock.now()).id
        compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        tickets = {t.job_id: t for t in dispatch.claim_placed(uow, "w1", clock.now())}
        assert set(tickets) == {*ids, failed}
        start = clock.now() + dt.timedelta(seconds=5)
        for jid, t in tickets.items():
            dispatch.record_dispatch(uow, jid, t.attempt, f"sim-{jid}", clock.now())
            dispatch.record_running(uow, jid, start, clock.now())
            end = start + dt.timedelta(hours=1)
            dispatch.record_finished(
                uow, jid, succeeded=jid != failed, exit_code=0, started_at=start, ended_at=end, now=end
            )
        ctx = _Context.load(uow)
        history = runtime_history(uow, ctx)
    assert {ctx.pool_by_id[tickets[i].pool_id].accelerator for i in ids} == {A100}
    a, b = ctx.orgs[world.org_a][0], ctx.orgs[world.org_b][0]
    assert history.jobs(a) == 8
    assert history.jobs(b) == 0  # a failed job says nothing about how long the work takes
    assert history.ratio(a) == 0.25
    assert history.estimate(a, asked) == pytest.approx(ran, abs=1)


def test_failed_job_with_retries_goes_back_to_the_queue_and_lost_placed_job_too(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    with db.uow() as uow:
        view = compute.submit_job(uow, world.alice, job(cards=8, retries=1), clock.now())
        compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        t = dispatch.claim_placed(uow, "w1", clock.now())[0]
        dispatch.record_dispatch(uow, t.job_id, t.attempt, "sim-1", clock.now())
        now = clock.now()
        state = dispatch.record_finished(
            uow,
            t.job_id,
            succeeded=False,
            exit_code=1,
            started_at=now,
            ended_at=now + dt.timedelta(minutes=5),
            now=now + dt.timedelta(minutes=5),
        )
        assert state == "queued"
        compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        t2 = dispatch.claim_placed(uow, "w1", clock.now())[0]
        assert t2.attempt == 2
        dispatch.record_dispatch(uow, t2.job_id, t2.attempt, "sim-2", clock.now())
        dispatch.record_running(uow, t2.job_id, clock.now(), clock.now())
        assert dispatch.record_lost(uow, t2.job_id, "node died", clock.now()) == "failed"  # no retry left
        assert len(compute.finished_runs(uow)) == 2
        assert compute.get_job(uow, world.alice, view.id).state == "failed"


def test_unavailable_pool_is_skipped_and_the_hold_says_so(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    with db.uow() as uow:
        compute.set_pool_available(uow, "hf-one-910b", False, "engine unreachable", clock.now())
        view = compute.submit_job(uow, world.alice, job(cards=8, domestic_only=True), clock.now())
        report = compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        shown = compute.get_job(uow, world.alice, view.id)
        assert report.placed == ()
        assert shown.hold_kind == "unavailable"
        assert shown.hold_reason is not None
        assert "engine unreachable" in shown.hold_reason
        compute.set_pool_available(uow, "hf-one-910b", True, None, clock.now())
        report = compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        assert report.placed == ((view.id, "hf-one-910b"),)


def test_random_steps_never_overfill_a_pool_nor_exceed_the_card_quota(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    import random

    rng = random.Random(7)
    with db.uow() as uow:
        compute.set_quota(uow, ADMIN, world.org_b, compute.QuotaInput(max_cards=8), clock.now(), VOUCHERS)
        for _ in range(25):
            who = rng.choice([world.alice, world.bob])
            compute.submit_job(
                uow, who, job(cards=rng.choice([1, 2, 4, 8]), runtime_s=rng.randint(600, 7200)), clock.now()
            )
        for _step in range(12):
            compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
            for t in dispatch.claim_placed(uow, "w", clock.now()):
                dispatch.record_dispatch(uow, t.job_id, t.attempt, f"e-{t.job_id}", clock.now())
                dispatch.record_running(uow, t.job_id, clock.now(), clock.now())
            ov = compute.overview(uow, clock.now())
            for c in ov.centers:
                for p in c.pools:
                    assert p.busy_cards <= p.pool.cards
            assert compute.get_quota(uow, ADMIN, world.org_b, clock.now(), VOUCHERS).cards_in_use <= 8
            running = compute.list_jobs(uow, ADMIN, states=["running"])
            for j in rng.sample(running, k=len(running) // 2):
                assert j.started_at is not None
                dispatch.record_finished(
                    uow,
                    j.id,
                    succeeded=True,
                    exit_code=0,
                    started_at=j.started_at,
                    ended_at=clock.now(),
                    now=clock.now(),
                )
            clock.advance(600)
        states = compute.count_jobs(uow, ADMIN)
    assert states.get("completed", 0) > 10
    assert sum(states.values()) == 25


def test_per_model_quota_hold_says_quota_not_capacity(
    db: TestDatabase, world: Setup, clock: ManualClock
) -> None:
    with db.uow() as uow:
        limits = compute.QuotaInput(max_cards_by_model={"a100-sxm4-80gb": 8})
        compute.set_quota(uow, ADMIN, world.org_a, limits, clock.now(), VOUCHERS)
        first = compute.submit_job(
            uow, world.alice, job(cards=8, accelerators=["a100-sxm4-80gb"]), clock.now()
        )
        second = compute.submit_job(
            uow, world.alice, job(cards=8, accelerators=["a100-sxm4-80gb"]), clock.now()
        )
        compute.schedule_once(uow, clock.now(), vouchers=VOUCHERS)
        assert compute.get_job(uow, world.alice, first.id).state == "placed"
        held = compute.get_job(uow, world.alice, second.id)
        # the pool has 8 free A100 cards: it is the per-model quota that holds the job
        assert held.hold_kind == "quota"
        assert held.hold_reason is not None
        assert "uses 8 of 8 a100-sxm4-80gb cards" in held.hold_reason
