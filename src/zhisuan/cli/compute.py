"""Compute commands: centers, pools, jobs, quotas and the scheduling step.

zhisuan center add/list/show     zhisuan pool add/list/down/up
zhisuan job submit/list/show/cancel
zhisuan quota set/show/list      zhisuan schedule
"""

from __future__ import annotations

import json
import re
from typing import Any

import typer

from zhisuan import compute
from zhisuan.cli._common import console as out
from zhisuan.cli._common import guarded, print_json, print_table
from zhisuan.cli._platform import cli_principal, platform
from zhisuan.compute.model import JobState
from zhisuan.compute.placement import DEFAULT_POLICY, policy_names
from zhisuan.compute.schemas import parse_duration
from zhisuan.core.clock import SHANGHAI, parse_timestamp
from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import parse_id

center_app = typer.Typer(help="Intelligent-computing centers.", no_args_is_help=True)
pool_app = typer.Typer(help="Pools of accelerators at a center.", no_args_is_help=True)
job_app = typer.Typer(help="Jobs in the platform queue.", no_args_is_help=True)
quota_app = typer.Typer(help="Organizations' limits over all centers.", no_args_is_help=True)


def _json_option(text: str | None, field: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON: {exc.msg}", field=field) from None
    if not isinstance(value, dict):
        raise ValidationError("expected a JSON object", field=field)
    return value


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


# --------------------------------------------------------------------------------------------------
# centers and pools
# --------------------------------------------------------------------------------------------------


@center_app.command("add")
@guarded
def center_add(
    key: str = typer.Option(..., help="Short id, e.g. hf-chaohu."),
    name: str = typer.Option(..., help="Name (Chinese)."),
    operator: str = typer.Option(..., help="Operator organization: id, credit code or name."),
    city: str = typer.Option(..., help="City division code, e.g. 340100."),
    name_en: str | None = typer.Option(None, "--name-en"),
    engine: str | None = typer.Option(
        None, help='Engine settings shared by its pools (JSON), e.g. {"kind": "slurm"}.'
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register a center run by an operator organization."""
    p = platform()
    data = compute.CenterInput(
        key=key,
        name=name,
        name_en=name_en,
        operator=operator,
        city_code=city,
        engine=_json_option(engine, "engine"),
    )
    with p.uow() as uow:
        view = compute.create_center(uow, cli_principal(), data, p.clock.now())
        uow.commit()
    if as_json:
        print_json(view.as_dict())
    else:
        out.print(f"[green]registered[/] center {view.id} {view.key}: {view.name} ({view.operator_name})")


@center_app.command("list")
@guarded
def center_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Centers with capacity (P), cards, running jobs and utilization now and over 24 h."""
    p = platform()
    with p.uow() as uow:
        ov = compute.overview(uow, p.clock.now())
    if as_json:
        print_json([c.as_dict() for c in ov.centers])
        return
    print_table(
        f"centers — {ov.capacity.province_p} P, {ov.capacity.province_cards} cards, {ov.queued} jobs queued",
        [
            "id",
            "key",
            "name",
            "city",
            "operator",
            "P",
            "cards",
            "queued, could run",
            "busy",
            "running",
            "placed",
            "util now",
            "util 24h",
        ],
        [
            (
                c.center.id,
                c.center.key,
                c.center.name,
                c.center.city_code,
                c.center.operator_name,
                c.center.capacity_p,
                c.center.cards,
                c.eligible_queued,
                c.busy_cards,
                c.running,
                c.placed,
                _pct(c.utilization_now),
                _pct(c.utilization_window),
            )
            for c in ov.centers
        ],
    )


@center_app.command("show")
@guarded
def center_show(ref: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One center (by id or key) and its pools."""
    p = platform()
    with p.uow() as uow:
        ov = compute.overview(uow, p.clock.now())
        center = compute.get_center(uow, ref)
    load = next(c for c in ov.centers if c.center.id == center.id)
    if as_json:
        print_json(load.as_dict())
        return
    out.print(f"[bold]{center.name}[/] ({center.key}) · {center.operator_name} · city {center.city_code}")
    out.print(f"{center.capacity_p} P, {center.cards} cards, utilization now {_pct(load.utilization_now)}")
    _pool_table(f"pools of {center.key}", [load])


def _pool_table(title: str, loads: list[compute.CenterLoad]) -> None:
    print_table(
        title,
        [
            "id",
            "key",
            "center",
            "accelerator",
            "cards",
            "P",
            "yuan/card-h",
            "engine",
            "available",
            "busy",
            "util 24h",
        ],
        [
            (
                pl.pool.id,
                pl.pool.key,
                pl.pool.center_key,
                pl.pool.accelerator,
                f"{pl.pool.nodes}×{pl.pool.cards_per_node}",
                pl.pool.capacity_p,
                pl.pool.price.to_decimal(),
                pl.pool.engine,
                "yes" if pl.pool.available else f"no: {pl.pool.unavailable_reason}",
                pl.busy_cards,
                _pct(pl.utilization_window),
            )
            for c in loads
            for pl in c.pools
        ],
    )


_BAND = re.compile(r"^(\d{1,2})-(\d{1,2})=(\d+(?:\.\d{1,2})?)$")


@pool_app.command("add")
@guarded
def pool_add(
    center: str = typer.Argument(..., help="The center (id or key)."),
    key: str = typer.Option(..., help="Short id, e.g. hf-chaohu-910b3."),
    accelerator: str = typer.Option(..., help="Catalog key, e.g. ascend-910b3 (see `zhisuan catalog list`)."),
    nodes: int = typer.Option(..., help="Number of nodes."),
    cards_per_node: int = typer.Option(8, help="Cards per node."),
    price: str = typer.Option(..., help="List price, yuan per card-hour, e.g. 12.50."),
    band: list[str] = typer.Option(
        [], help="A time band FROM-TO=PRICE in Shanghai hours, e.g. 0-8=9.60 (repeatable)."
    ),
    engine: str = typer.Option("simulated", help="simulated, slurm, ray or kubernetes."),
    engine_config: str | None = typer.Option(None, help="Pool-specific engine settings (JSON)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add a pool of one accelerator model to a center."""
    bands = []
    for text in band:
        m = _BAND.match(text.strip())
        if m is None:
            raise ValidationError(f"a band is FROM-TO=PRICE, e.g. 0-8=9.60; got {text!r}", field="band")
        bands.append(compute.BandInput.model_validate({"from": int(m[1]), "to": int(m[2]), "price": m[3]}))
    data = compute.PoolInput(
        key=key,
        accelerator=accelerator,
        nodes=nodes,
        cards_per_node=cards_per_node,
        price=price,
        bands=bands,
        engine=engine,
        engine_config=_json_option(engine_config, "engine_config"),
    )
    p = platform()
    with p.uow() as uow:
        view = compute.add_pool(uow, cli_principal(), center, data, p.clock.now())
        uow.commit()
    if as_json:
        print_json(view.as_dict())
    else:
        out.print(
            f"[green]added[/] pool {view.id} {view.key}: {view.cards} × {view.accelerator} "
            f"({view.capacity_p} P) at {view.price.to_decimal()} yuan/card-hour"
        )


@pool_app.command("list")
@guarded
def pool_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every pool with its capacity, price, engine and load."""
    p = platform()
    with p.uow() as uow:
        ov = compute.overview(uow, p.clock.now())
    if as_json:
        print_json([pl.as_dict() for c in ov.centers for pl in c.pools])
        return
    _pool_table("pools", list(ov.centers))


@pool_app.command("down")
@guarded
def pool_down(pool: str, reason: str = typer.Option(..., help="Why (shown to users).")) -> None:
    """Take a pool out of placement (maintenance, engine down)."""
    p = platform()
    with p.uow() as uow:
        view = compute.set_pool_available(uow, pool, False, reason, p.clock.now(), cli_principal())
        uow.commit()
    out.print(f"[yellow]pool {view.key} unavailable[/]: {reason}")


@pool_app.command("up")
@guarded
def pool_up(pool: str) -> None:
    """Return a pool to placement."""
    p = platform()
    with p.uow() as uow:
        view = compute.set_pool_available(uow, pool, True, None, p.clock.now(), cli_principal())
        uow.commit()
    out.print(f"[green]pool {view.key} available[/]")


# --------------------------------------------------------------------------------------------------
# jobs
# --------------------------------------------------------------------------------------------------


@job_app.command("submit")
@guarded
def job_submit(
    org: str = typer.Option(..., help="Submitting organization: id, credit code or name."),
    name: str = typer.Option(..., help="Job name."),
    command: str = typer.Option(..., help="Command the engine runs."),
    cards: int = typer.Option(..., help="Cards, all started at once."),
    runtime: str = typer.Option(..., help="Estimated run time on the reference card: 3600, 90m, 2h, 1h30m."),
    accelerator: list[str] = typer.Option([], help="Acceptable model (repeatable; default: any)."),
    min_memory: int | None = typer.Option(None, help="Minimum memory per card, GB."),
    domestic: bool = typer.Option(False, "--domestic", help="Domestic accelerators only."),
    reference: str = typer.Option("v100-sxm2-32gb", help="The card the run-time estimate refers to."),
    price_ceiling: str | None = typer.Option(None, help="Most yuan per card-hour the job may cost."),
    deadline: str | None = typer.Option(None, help="Finish by (ISO timestamp; Shanghai time if no zone)."),
    data_city: str | None = typer.Option(None, help="City holding the data (division code)."),
    data_center: str | None = typer.Option(None, help="Center holding the data (id or key)."),
    retries: int = typer.Option(0, help="Further attempts after a failure."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Submit a job to the platform queue (refused with the reason if no pool can ever run it)."""
    when = None
    if deadline is not None:
        when = parse_timestamp(deadline, "deadline") if "T" in deadline or "+" in deadline else None
        if when is None:
            when = parse_timestamp(deadline.replace(" ", "T") + "+08:00", "deadline")
        when = when.astimezone(SHANGHAI)
    data = compute.JobInput(
        org=org,
        name=name,
        command=command,
        cards=cards,
        runtime_s=parse_duration(runtime),
        accelerators=accelerator,
        min_memory_gb=min_memory,
        domestic_only=domestic,
        reference=reference,
        price_ceiling=price_ceiling,
        deadline=when,
        data_city=data_city,
        data_center=data_center,
        retries=retries,
    )
    p = platform()
    with p.uow() as uow:
        view = compute.submit_job(uow, cli_principal(), data, p.clock.now())
        uow.commit()
    if as_json:
        print_json(view.as_dict())
    else:
        out.print(
            f"[green]queued[/] job {view.id} ({view.name}, {view.cards} cards, {view.constraint.describe()})"
        )


@job_app.command("list")
@guarded
def job_list(
    state: list[JobState] = typer.Option([], help="Only these states (repeatable)."),
    org: str | None = typer.Option(None, help="Only this organization."),
    center: str | None = typer.Option(None, help="Only jobs bound to this center."),
    held: bool = typer.Option(False, "--held", help="Only queued jobs with a hold reason."),
    limit: int = typer.Option(100, help="At most this many (newest first)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List jobs, newest first."""
    p = platform()
    with p.uow() as uow:
        jobs = compute.list_jobs(
            uow, cli_principal(), states=state, org=org, center=center, held_only=held, limit=limit
        )
    if as_json:
        print_json([j.as_dict() for j in jobs])
        return
    print_table(
        "jobs",
        ["id", "org", "name", "cards", "state", "pool", "submitted", "started", "ended", "why waiting"],
        [
            (
                j.id,
                j.org_name,
                j.name,
                j.cards,
                j.state,
                j.pool_key,
                f"{j.submitted_at.astimezone(SHANGHAI):%m-%d %H:%M}",
                f"{j.started_at.astimezone(SHANGHAI):%m-%d %H:%M}" if j.started_at else "",
                f"{j.ended_at.astimezone(SHANGHAI):%m-%d %H:%M}" if j.ended_at else "",
                j.hold_reason or "",
            )
            for j in jobs
        ],
    )


@job_app.command("show")
@guarded
def job_show(job_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One job with every event."""
    p = platform()
    with p.uow() as uow:
        view = compute.get_job(uow, cli_principal(), job_id)
    data = view.as_dict()
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        if key != "events" and value not in (None, "", []):
            out.print(f"[bold]{key}[/]: {value}", highlight=False)
    print_table(
        "events",
        ["at (Shanghai)", "from", "to", "pool", "by", "note"],
        [
            (
                f"{e.at.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}",
                e.from_state,
                e.to_state,
                e.pool,
                e.actor,
                e.note,
            )
            for e in view.events
        ],
    )


@job_app.command("cancel")
@guarded
def job_cancel(job_id: str) -> None:
    """Cancel a queued, placed or running job."""
    p = platform()
    with p.uow() as uow:
        view = compute.cancel_job(uow, cli_principal(), job_id, p.clock.now())
        uow.commit()
    out.print(f"[yellow]cancelled[/] job {view.id} ({view.name})")


# --------------------------------------------------------------------------------------------------
# quotas and scheduling
# --------------------------------------------------------------------------------------------------


def _quota_lines(view: compute.QuotaView) -> None:
    d = view.as_dict()
    out.print(f"[bold]{view.org_name}[/] (org {view.org_id})")
    out.print(f"  concurrent cards: {view.max_cards if view.max_cards is not None else 'no limit'}")
    for model, cards in view.max_cards_by_model.items():
        out.print(f"    {model}: {cards}")
    budget = d["monthly_budget_yuan"] or "no limit"
    hours = view.monthly_card_hours if view.monthly_card_hours is not None else "no limit"
    out.print(f"  monthly budget: {budget} yuan; monthly card-hours: {hours}")
    out.print(f"  usage: {d['usage']}", highlight=False)


@quota_app.command("set")
@guarded
def quota_set(
    org: str,
    max_cards: int | None = typer.Option(None, help="Concurrent cards over all centers."),
    model_cards: list[str] = typer.Option([], help="Per-model limit MODEL=CARDS (repeatable)."),
    budget: str | None = typer.Option(None, help="Monthly budget in yuan."),
    card_hours: int | None = typer.Option(None, help="Monthly card-hours."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Set an organization's limits (replacing earlier ones; omitted limits are lifted)."""
    by_model: dict[str, int] = {}
    for text in model_cards:
        model, sep, cards = text.partition("=")
        count = parse_id(cards) if sep else None
        if count is None:
            raise ValidationError(f"expected MODEL=CARDS, got {text!r}", field="model_cards")
        by_model[model.strip()] = count
    data = compute.QuotaInput(
        max_cards=max_cards, max_cards_by_model=by_model, monthly_budget=budget, monthly_card_hours=card_hours
    )
    p = platform()
    with p.uow() as uow:
        view = compute.set_quota(uow, cli_principal(), org, data, p.clock.now(), p.vouchers)
        uow.commit()
    if as_json:
        print_json(view.as_dict())
    else:
        _quota_lines(view)


@quota_app.command("show")
@guarded
def quota_show(org: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """An organization's limits and what it uses now and this month."""
    p = platform()
    with p.uow() as uow:
        view = compute.get_quota(uow, cli_principal(), org, p.clock.now(), p.vouchers)
    if as_json:
        print_json(view.as_dict())
    else:
        _quota_lines(view)


@quota_app.command("list")
@guarded
def quota_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every organization with limits."""
    p = platform()
    with p.uow() as uow:
        views = compute.list_quotas(uow, cli_principal(), p.clock.now(), p.vouchers)
    if as_json:
        print_json([v.as_dict() for v in views])
        return
    print_table(
        "quotas",
        ["org", "cards", "per model", "budget (yuan)", "card-hours", "in use", "committed (yuan)"],
        [
            (
                v.org_name,
                v.max_cards,
                ", ".join(f"{k}={n}" for k, n in v.max_cards_by_model.items()),
                v.monthly_budget.to_decimal() if v.monthly_budget is not None else None,
                v.monthly_card_hours,
                v.cards_in_use,
                v.month_committed.round().to_decimal(),
            )
            for v in views
        ],
    )


@guarded
def schedule(
    policy: str = typer.Option(DEFAULT_POLICY, help="Placement policy: " + ", ".join(policy_names()) + "."),
    steps: int = typer.Option(1, min=1, max=1000, help="Scheduling steps to run."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Run scheduling steps now: bind queued jobs to pools, record why the others wait."""
    p = platform()
    reports = []
    for _ in range(steps):
        with p.uow() as uow:
            report = compute.schedule_once(
                uow, p.clock.now(), policy, vouchers=p.vouchers, priority=p.priority
            )
            uow.commit()
        reports.append(report)
        if not report.placed:
            break
    if as_json:
        print_json([r.as_dict() for r in reports])
        return
    for r in reports:
        held = ", ".join(f"{k} {n}" for k, n in sorted(r.held.items())) or "none"
        out.print(f"{r.policy}: {r.queued} queued, placed {len(r.placed)}, held: {held}")
        for job_id, pool in r.placed:
            out.print(f"  job {job_id} → {pool}")
        for article, names in r.provisional.items():
            out.print(
                f"  prices and budgets rest on provisional parameter(s) of {article}: {', '.join(names)}"
                " — an estimate; no money is granted on them until confirmed"
            )
