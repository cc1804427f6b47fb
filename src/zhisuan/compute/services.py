"""Compute federation, the services the API and the CLI call for centers, pools, quotas and load.

Centers and pools (operators manage their own, everyone reads), organization quotas with what they
use, capacity and the province overview. Jobs are in :mod:`zhisuan.compute.jobs`, the scheduling
step in :mod:`zhisuan.compute.scheduling`, the dispatcher's way in :mod:`zhisuan.compute.dispatch`
and the feed metering reads in :mod:`zhisuan.compute.feed`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from sqlalchemy import func, or_, select

from zhisuan import audit
from zhisuan.accounts.services import find_org
from zhisuan.compute._context import _Context, _PoolFacts
from zhisuan.compute.model import ENGINES, JobState, Pool, PriceBand, pool_refusal
from zhisuan.compute.placement import MonthUsage, VoucherRule
from zhisuan.compute.scheduling import _month_usage
from zhisuan.compute.schemas import CenterInput, PoolInput, QuotaInput, _check_key, _yuan
from zhisuan.compute.views import (
    Capacity,
    CenterLoad,
    CenterView,
    Overview,
    PoolLoad,
    PoolView,
    QuotaView,
    _center_views,
    _pool_view,
    _quota_row_view,
)
from zhisuan.core.access import (
    Action,
    Kind,
    Principal,
    Resource,
    Role,
    authorize,
    require_role,
    visible_scope,
)
from zhisuan.core.catalog import accelerator, capacity_p
from zhisuan.core.clock import Month
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError
from zhisuan.core.ids import MAX_INT_ID, OrgId, PoolId, parse_id
from zhisuan.core.orgs import OrgKind
from zhisuan.core.regions import city as lookup_city
from zhisuan.store.models.compute import CenterRow, JobRow, JobRunRow, PoolRow, QuotaRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork


def find_center(uow: UnitOfWork, ref: str | int) -> CenterRow:
    """A center by id or key."""
    text = str(ref).strip()
    conds = [CenterRow.key == text.lower()]
    if (row_id := parse_id(text, MAX_INT_ID)) is not None:
        conds.append(CenterRow.id == row_id)
    row = uow.session.execute(select(CenterRow).where(or_(*conds))).scalars().first()
    if row is None:
        raise NotFoundError(f"no center {text!r} (give its id or key)", field="center")
    return row


def find_pool(uow: UnitOfWork, ref: str | int) -> PoolRow:
    """A pool by id or key."""
    text = str(ref).strip()
    conds = [PoolRow.key == text.lower()]
    if (row_id := parse_id(text, MAX_INT_ID)) is not None:
        conds.append(PoolRow.id == row_id)
    row = uow.session.execute(select(PoolRow).where(or_(*conds))).scalars().first()
    if row is None:
        raise NotFoundError(f"no pool {text!r} (give its id or key)", field="pool")
    return row


def create_center(uow: UnitOfWork, who: Principal, data: CenterInput, now: dt.datetime) -> CenterView:
    """Register a center for an operator organization (that operator's staff, the data bureau, admins)."""
    key = _check_key(data.key, "center")
    operator = find_org(uow, data.operator)
    city = lookup_city(data.city_code, field="city_code")
    authorize(
        who,
        Action.WRITE,
        Resource(
            Kind.CENTER, org_id=OrgId(operator.id), city_code=city.code, operator_org_id=OrgId(operator.id)
        ),
    )
    if operator.kind != OrgKind.CENTER_OPERATOR:
        raise ValidationError(
            f"{operator.name} is a {operator.kind}, not a center operator; register the operator first",
            field="operator",
        )
    engine = dict(data.engine)
    kind = engine.get("kind")
    if kind is not None and kind not in ENGINES:
        raise ValidationError(f"unknown engine kind {kind!r}; one of {sorted(ENGINES)}", field="engine.kind")
    s = uow.session
    if s.execute(select(CenterRow.id).where(CenterRow.key == key)).first() is not None:
        raise ConflictError(f"a center with key {key!r} exists", field="key")
    row = CenterRow(
        key=key,
        name=data.name.strip(),
        name_en=data.name_en,
        operator_org_id=operator.id,
        city_code=city.code,
        engine_config=json.dumps(engine, sort_keys=True),
        created_at=now,
    )
    s.add(row)
    s.flush()
    audit.record(
        uow, now, who.username, "center.create", f"center:{row.id}", {"key": key, "operator": operator.id}
    )
    return _center_views(uow, [CenterRow.id == row.id])[0]


def add_pool(
    uow: UnitOfWork, who: Principal, center_ref: str | int, data: PoolInput, now: dt.datetime
) -> PoolView:
    """Add a pool to a center (the center's operator, the data bureau, admins)."""
    center = find_center(uow, center_ref)
    view = _center_views(uow, [CenterRow.id == center.id])[0]
    authorize(who, Action.WRITE, view.resource())
    key = _check_key(data.key, "pool")
    price = _yuan(data.price, "price")
    bands = []
    for i, b in enumerate(data.bands):
        bands.append(PriceBand(b.start, b.end, _yuan(b.price, f"bands[{i}].price")))
    # the compute core validates the rest (rated accelerator, engine, overlapping bands)
    Pool(
        key,
        center.key,
        center.city_code,
        "",
        data.accelerator,
        data.nodes,
        data.cards_per_node,
        price,
        tuple(bands),
        data.engine,
    )
    s = uow.session
    if s.execute(select(PoolRow.id).where(PoolRow.key == key)).first() is not None:
        raise ConflictError(f"a pool with key {key!r} exists", field="key")
    row = PoolRow(
        key=key,
        center_id=center.id,
        accelerator=data.accelerator,
        nodes=data.nodes,
        cards_per_node=data.cards_per_node,
        price_fen=price.to_fen(),
        bands=json.dumps(
            [{"from": b.start_hour, "to": b.end_hour, "price_fen": b.price.to_fen()} for b in bands]
        ),
        engine_kind=data.engine,
        engine_config=json.dumps(data.engine_config, sort_keys=True),
        available=True,
        unavailable_reason=None,
        created_at=now,
    )
    s.add(row)
    s.flush()
    audit.record(
        uow,
        now,
        who.username,
        "pool.create",
        f"pool:{row.id}",
        {
            "key": key,
            "center": center.key,
            "cards": data.nodes * data.cards_per_node,
            "price_fen": row.price_fen,
        },
    )
    return _pool_view(row, center)


def list_centers(uow: UnitOfWork) -> list[CenterView]:
    """Every center with its pools (public)."""
    return _center_views(uow)


def get_center(uow: UnitOfWork, ref: str | int) -> CenterView:
    row = find_center(uow, ref)
    return _center_views(uow, [CenterRow.id == row.id])[0]


def capacity(uow: UnitOfWork) -> Capacity:
    """Capacity in P (peak dense FP16, catalog unit) per pool, center, city and province."""
    centers = list_centers(uow)
    by_pool = {p.key: (p.capacity_p, p.cards) for c in centers for p in c.pools}
    by_center = {c.key: (c.capacity_p, c.cards) for c in centers}
    cities: dict[str, list[tuple[str, int]]] = {}
    for c in centers:
        cities.setdefault(c.city_code, []).extend((p.accelerator, p.cards) for p in c.pools)
    by_city = {code: (capacity_p(items), sum(n for _k, n in items)) for code, items in sorted(cities.items())}
    everything = [(p.accelerator, p.cards) for c in centers for p in c.pools]
    return Capacity(capacity_p(everything), sum(n for _k, n in everything), by_city, by_center, by_pool)


def set_pool_available(
    uow: UnitOfWork,
    pool_ref: str | int,
    available: bool,
    reason: str | None,
    now: dt.datetime,
    who: Principal | None = None,
) -> PoolView:
    """Mark a pool (un)available, e.g. when its engine cannot be reached; placement skips it meanwhile.

    ``who=None`` is the dispatcher worker (a trusted process); a person needs write access to the center.
    """
    row = find_pool(uow, pool_ref)
    center = uow.session.get(CenterRow, row.center_id)
    assert center is not None
    if who is not None:
        authorize(who, Action.WRITE, _center_views(uow, [CenterRow.id == center.id])[0].resource())
    if not available and not (reason or "").strip():
        raise ValidationError("say why the pool is unavailable", field="reason")
    changed = row.available != available
    row.available = available
    row.unavailable_reason = None if available else (reason or "").strip()
    uow.session.flush()
    if changed:
        audit.record(
            uow,
            now,
            who.username if who is not None else "worker",
            "pool.available" if available else "pool.unavailable",
            f"pool:{row.id}",
            {"reason": row.unavailable_reason},
        )
    return _pool_view(row, center)


def set_center_available(
    uow: UnitOfWork, center_ref: str | int, available: bool, reason: str | None, now: dt.datetime
) -> list[PoolView]:
    """Mark every pool of a center (un)available: its engine is down, or back (dispatcher worker)."""
    center = find_center(uow, center_ref)
    pools = uow.session.execute(select(PoolRow).where(PoolRow.center_id == center.id)).scalars()
    return [set_pool_available(uow, p.id, available, reason, now) for p in pools]


def set_quota(
    uow: UnitOfWork,
    who: Principal,
    org_ref: str | int,
    data: QuotaInput,
    now: dt.datetime,
    vouchers: VoucherRule,
) -> QuotaView:
    """Set an organization's limits, replacing earlier ones (the platform: data bureau and admins).

    Quotas are the platform's limits on an organization, so its own org admin may read them, not lift them.
    """
    require_role(who, Role.DATA_BUREAU)
    org = find_org(uow, org_ref)
    by_model: dict[str, int] = {}
    for model, cards in data.max_cards_by_model.items():
        accelerator(model, field=f"max_cards_by_model.{model}")
        if cards < 0:
            raise ValidationError("a card limit cannot be negative", field=f"max_cards_by_model.{model}")
        by_model[model] = cards
    budget = _yuan(data.monthly_budget, "monthly_budget") if data.monthly_budget is not None else None
    s = uow.session
    row = s.get(QuotaRow, org.id)
    if row is None:
        row = QuotaRow(org_id=org.id)
        s.add(row)
    row.max_cards = data.max_cards
    row.max_cards_by_model = json.dumps(by_model, sort_keys=True)
    row.monthly_budget_fen = budget.to_fen() if budget is not None else None
    row.monthly_card_hours = data.monthly_card_hours
    row.updated_at = now
    s.flush()
    audit.record(uow, now, who.username, "quota.set", f"org:{org.id}", data.model_dump())
    return get_quota(uow, who, org.id, now, vouchers)


def get_quota(
    uow: UnitOfWork, who: Principal, org_ref: str | int, now: dt.datetime, vouchers: VoucherRule
) -> QuotaView:
    """An organization's limits and what it uses now and this month (its members, operators' staff no).

    The month's yuan is what the organization bears after the art. 2 estimate (``vouchers``), as the
    scheduler counts it against the budget.
    """
    org = find_org(uow, org_ref)
    authorize(who, Action.READ, Resource(Kind.ORGANIZATION, org_id=OrgId(org.id), city_code=org.city_code))
    base = _quota_row_view(uow.session.get(QuotaRow, org.id), org)
    return _with_usage(uow, base, now, vouchers)


def list_quotas(uow: UnitOfWork, who: Principal, now: dt.datetime, vouchers: VoucherRule) -> list[QuotaView]:
    """Quotas the caller may see, with current usage."""
    scope = visible_scope(who, Kind.ORGANIZATION)
    if scope.nothing:
        return []
    q = select(QuotaRow, OrganizationRow).join(OrganizationRow, OrganizationRow.id == QuotaRow.org_id)
    if not scope.everything:
        if scope.city_code is not None:
            q = q.where(OrganizationRow.city_code == scope.city_code)
        else:
            q = q.where(QuotaRow.org_id.in_(scope.org_ids))
    rows = uow.session.execute(q.order_by(QuotaRow.org_id)).all()
    return [_with_usage(uow, _quota_row_view(r, o), now, vouchers) for r, o in rows]


def _with_usage(uow: UnitOfWork, base: QuotaView, now: dt.datetime, vouchers: VoucherRule) -> QuotaView:
    ctx = _Context.load(uow)
    month = Month.of(now)
    usage = _month_usage(uow, ctx, now, vouchers(ctx.directory(uow))).get(base.org_name, MonthUsage())
    in_use: Counter[str] = Counter()
    for job, pool in ctx.occupying(uow, org_id=base.org_id):
        in_use[pool.accelerator] += pool.node_cards(job.cards)
    return QuotaView(
        org_id=base.org_id,
        org_name=base.org_name,
        max_cards=base.max_cards,
        max_cards_by_model=base.max_cards_by_model,
        monthly_budget=base.monthly_budget,
        monthly_card_hours=base.monthly_card_hours,
        cards_in_use=sum(in_use.values()),
        cards_in_use_by_model=dict(in_use),
        month_committed=usage.yuan,
        month_card_hours=usage.card_hours,
        month=str(month),
    )


def overview(uow: UnitOfWork, now: dt.datetime, *, window_s: int = 86_400) -> Overview:
    """Load now, utilization over the last ``window_s`` and the queue, per pool and center."""
    ctx = _Context.load(uow)
    s = uow.session
    busy: Counter[int] = Counter()
    running: Counter[int] = Counter()
    placed: Counter[int] = Counter()
    for job, facts in ctx.occupying(uow):
        pid = facts.pool.id
        busy[pid] += facts.node_cards(job.cards)
        if job.state == JobState.RUNNING.value:
            running[pid] += 1
        else:
            placed[pid] += 1
    since = now - dt.timedelta(seconds=window_s)
    used: Counter[int] = Counter()  # card-seconds per pool inside the window
    runs = s.execute(
        select(JobRunRow.pool_id, JobRunRow.cards, JobRunRow.started_at, JobRunRow.ended_at).where(
            JobRunRow.started_at.is_not(None),
            JobRunRow.started_at < now,
            or_(JobRunRow.ended_at.is_(None), JobRunRow.ended_at > since),
        )
    ).all()
    for pool_id, cards, start, end in runs:
        pool = ctx.pool_by_id.get(PoolId(pool_id))
        if pool is None or start is None:
            continue
        a, b = max(start, since), min(end or now, now)
        if b > a:
            used[pool_id] += _PoolFacts(pool).node_cards(cards) * int((b - a).total_seconds())
    eligible: Counter[int] = Counter()
    eligible_centers: Counter[int] = Counter()
    queued_rows = s.execute(select(JobRow).where(JobRow.state == JobState.QUEUED.value)).scalars()
    core = {p.id: ctx.core_pool(p) for p in ctx.pool_by_id.values()}
    for row in queued_rows:
        spec = ctx.spec(row)
        fits = [pid for pid, pool in core.items() if pool_refusal(spec, pool) is None]
        eligible.update(fits)
        eligible_centers.update({ctx.pool_by_id[pid].center_id for pid in fits})
    loads = []
    for c in ctx.centers:
        pools = tuple(
            PoolLoad(
                pool=p,
                busy_cards=busy[p.id],
                running=running[p.id],
                placed=placed[p.id],
                utilization_now=busy[p.id] / p.cards,
                utilization_window=min(1.0, used[p.id] / (p.cards * window_s)),
                eligible_queued=eligible[p.id],
            )
            for p in c.pools
        )
        loads.append(CenterLoad(c, pools, eligible_centers[c.id]))
    held_rows = s.execute(
        select(JobRow.hold_kind, func.count())
        .where(JobRow.state == JobState.QUEUED.value)
        .group_by(JobRow.hold_kind)
    ).all()
    held = {kind or "new": n for kind, n in held_rows}
    return Overview(now, window_s, tuple(loads), sum(held.values()), held, capacity(uow))


__all__ = [
    "add_pool",
    "capacity",
    "create_center",
    "find_center",
    "find_pool",
    "get_center",
    "get_quota",
    "list_centers",
    "list_quotas",
    "overview",
    "set_center_available",
    "set_pool_available",
    "set_quota",
]
