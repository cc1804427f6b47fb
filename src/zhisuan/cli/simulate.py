"""`zhisuan simulate`: replay a job trace on a province under one placement policy, or all of them."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zhisuan.cli._common import console, dumps, err_console, guarded, output_file
from zhisuan.core.errors import ValidationError

if TYPE_CHECKING:
    from zhisuan.compute.province import Province
    from zhisuan.metering.estimate import PackVoucherEstimate
    from zhisuan.policy import PackSet

app = typer.Typer(
    help="Replay a job trace (canonical CSV or Philly) on a province under placement policies.",
    invoke_without_command=True,
    no_args_is_help=False,
)

PROGRESS_FROM = 20_000  # jobs: smaller runs finish before a bar would be useful

TRACE_HELP = "Trace file (CSV)."
FORMAT_HELP = "Trace format: canonical or philly."
PROVINCE_HELP = "A shipped province (demo) or a province YAML file."
ART2_ON_HELP = (
    "Judge the art. 2 voucher as of this day (YYYY-MM-DD) instead of each job's own date "
    "(an old trace predates the policy); packs: the shipped ones and the data directory's."
)
ROWS: tuple[tuple[str, str], ...] = (
    ("jobs", "jobs"),
    ("completed", "completed"),
    ("unrunnable", "unrunnable"),
    ("jct_avg_s", "JCT avg (s)"),
    ("jct_p50_s", "JCT p50 (s)"),
    ("jct_p95_s", "JCT p95 (s)"),
    ("jct_p99_s", "JCT p99 (s)"),
    ("wait_avg_s", "wait avg (s)"),
    ("makespan_s", "makespan (s)"),
    ("utilization", "utilization"),
    ("gross_cost_yuan", "list cost (yuan)"),
    ("voucher_yuan", "voucher (yuan)"),
    ("user_cost_yuan", "user cost (yuan)"),
    ("jain_fairness", "Jain fairness"),
    ("wall_s", "wall (s)"),
)


def _load_factor(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"not a number: {text!r}", field="--load-factor") from None
    if not value.is_finite() or value <= 0:
        raise ValidationError(f"must be a positive number, got {text}", field="--load-factor")
    return Decimal(format(value, "f"))  # 1e3 is shown and stored as 1000


def voucher_estimate(province: Province, packs: PackSet, as_of: dt.date | None = None) -> PackVoucherEstimate:
    """Art. 2 from ``packs`` for a simulated province: every trace user registered in the province,
    self-use only on its own centers, and living in the city of the province's first center; each
    job judged on its own date, or every one as of ``as_of``."""
    from zhisuan.metering.estimate import PackVoucherEstimate

    home = province.centers[0].city
    return PackVoucherEstimate(
        packs,
        in_province=lambda _org: True,
        related=lambda org, operator: org == operator,
        city=lambda _org: home,
        as_of=as_of,
    )


def _as_of(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"not a date: {text!r} (e.g. 2025-06-30)", field="--art2-on") from None


def _fmt(value: object, key: str = "") -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if key in ("utilization", "jain_fairness") else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if key.endswith("_yuan") and isinstance(value, str):
        return f"{Decimal(value):,}"
    return str(value)


def _run(
    trace: Path,
    fmt: str,
    province_name: str,
    policies: list[str],
    load_factor: str,
    seed: int,
    limit: int | None,
    json_out: Path | None,
    jobs_out: Path | None,
    art2_on: str | None,
) -> None:
    from zhisuan.cli._platform import platform
    from zhisuan.compute.placement import policy_info
    from zhisuan.compute.province import load_province
    from zhisuan.compute.simulator import simulate
    from zhisuan.compute.traces import load_trace

    for name in policies:
        policy_info(name)
    lf = _load_factor(load_factor)
    province = load_province(province_name)
    tr = load_trace(trace, fmt, load_factor=lf, limit=limit, orgs=province.org_for)
    if not tr.jobs:
        raise ValidationError("the trace holds no jobs", field="--trace")
    vouchers = voucher_estimate(province, platform().packs.current(), _as_of(art2_on))
    runs: list[dict[str, Any]] = []
    last_jobs: Any = None
    show = len(tr.jobs) * len(policies) >= PROGRESS_FROM
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not show,
    ) as bar:
        for name in policies:
            task = bar.add_task(f"{name}", total=len(tr.jobs))

            def tick(done: int, total: int, task: Any = task) -> None:
                bar.update(task, completed=done)

            result = simulate(tr, province, name, seed=seed, vouchers=vouchers, progress=tick)
            metrics = dict(result.metrics)
            metrics.update(
                {
                    "trace": str(trace),
                    "format": fmt,
                    "province": province.key,
                    "load_factor": str(lf),
                    "seed": seed,
                }
            )
            runs.append(metrics)
            last_jobs = result.jobs
    _print(runs)
    for article, names in vouchers.used_provisional().items():
        # an estimate may use provisional parameters (dispatch prices with them); settlement pays none
        console.print(
            f"[yellow]the voucher estimate rests on provisional parameter(s) of {article}: "
            f"{', '.join(names)} — an estimate; no money is granted on them until confirmed[/]"
        )
    if json_out is not None:
        body: dict[str, Any] = runs[0] if len(runs) == 1 else {"runs": runs}
        json_out.write_text(dumps(body) + "\n", "utf-8")
        console.print(f"wrote {json_out}")
    if jobs_out is not None and last_jobs is not None:
        with jobs_out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                [
                    "job_id",
                    "org",
                    "cards",
                    "state",
                    "pool",
                    "center",
                    "submit_s",
                    "start_s",
                    "end_s",
                    "cost_yuan",
                    "voucher_yuan",
                    "reason",
                ]
            )
            for r in last_jobs:
                writer.writerow(
                    [
                        r.job_id,
                        r.org,
                        r.cards,
                        r.state,
                        r.pool_id or "",
                        r.center_id or "",
                        r.submit_s,
                        "" if r.start_s is None else r.start_s,
                        "" if r.end_s is None else r.end_s,
                        r.gross.round().to_decimal(),
                        r.voucher.round().to_decimal(),
                        r.reason,
                    ]
                )
        console.print(f"wrote {jobs_out} (per-job results of {runs[-1]['policy']})")


def _print(runs: list[dict[str, Any]]) -> None:
    first = runs[0]
    title = (
        f"{Path(first['trace']).name} · {first['province']} · "
        f"load ×{first['load_factor']} · seed {first['seed']}"
    )
    table = Table(title=title)
    table.add_column("metric")
    for r in runs:
        table.add_column(str(r["policy"]), justify="right")
    for key, label in ROWS:
        table.add_row(label, *(_fmt(r[key], key) for r in runs))
    console.print(table)
    centers = list(first["utilization_by_center"])
    util = Table(title="utilization by center")
    util.add_column("center")
    for r in runs:
        util.add_column(str(r["policy"]), justify="right")
    for c in centers:
        util.add_row(c, *(f"{r['utilization_by_center'][c]:.3f}" for r in runs))
    console.print(util)
    _print_unrunnable(runs)


def _print_unrunnable(runs: list[dict[str, Any]]) -> None:
    """How many jobs can never run (no pool the policy may use fits them) and the first reasons; the
    policies that say the same are named together."""
    said: dict[tuple[int, int, tuple[tuple[Any, ...], ...]], list[str]] = {}
    for r in runs:
        if r["unrunnable"]:
            shown = tuple((u["job_id"], u["org"], u["cards"], u["reason"]) for u in r["unrunnable_jobs"][:5])
            key = (int(r["unrunnable"]), int(r["jobs"]), shown)
            said.setdefault(key, []).append(str(r["policy"]))
    for (count, jobs, shown), names in said.items():
        console.print(f"[yellow]{', '.join(names)}: {count} of {jobs} jobs can never run[/]")
        for job_id, org, cards, reason in shown:
            console.print(f"  {job_id} ({org}, {cards} cards): {reason}")
        if count > len(shown):
            console.print(f"  … and {count - len(shown)} more (see --json)")


@app.callback()
@guarded
def simulate(
    ctx: typer.Context,
    trace: Path | None = typer.Option(None, "--trace", help=TRACE_HELP),
    fmt: str = typer.Option("canonical", "--format", help=FORMAT_HELP),
    province: str = typer.Option("demo", "--province", help=PROVINCE_HELP),
    policy: str = typer.Option(
        "zhisuan", "--policy", help="Placement policy, or `all` to compare every one."
    ),
    load_factor: str = typer.Option(
        "1", "--load-factor", help="Compress arrivals by this factor (2 = twice as fast)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for everything random (home centers, failures)."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N jobs by submit time."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the metrics as one JSON object here."),
    jobs_out: Path | None = typer.Option(None, "--jobs-csv", help="Write per-job results (CSV) here."),
    art2_on: str | None = typer.Option(None, "--art2-on", help=ART2_ON_HELP),
) -> None:
    """Replay a trace: `zhisuan simulate --trace FILE --format philly --policy zhisuan --load-factor 16`."""
    if ctx.invoked_subcommand is not None:
        return
    if trace is None:
        raise ValidationError("give a trace file with --trace (see --help)", field="--trace")
    from zhisuan.compute.placement import policy_names

    output_file(json_out, "--json")
    output_file(jobs_out, "--jobs-csv")

    policies = policy_names() if policy == "all" else [policy]
    _run(trace, fmt, province, policies, load_factor, seed, limit, json_out, jobs_out, art2_on)


@app.command("compare")
@guarded
def compare(
    trace: Path = typer.Option(..., "--trace", help=TRACE_HELP),
    fmt: str = typer.Option("canonical", "--format", help=FORMAT_HELP),
    province: str = typer.Option("demo", "--province", help=PROVINCE_HELP),
    load_factor: str = typer.Option("1", "--load-factor"),
    seed: int = typer.Option(0, "--seed"),
    limit: int | None = typer.Option(None, "--limit"),
    json_out: Path | None = typer.Option(None, "--json", help="Write {runs: [...]} here."),
    art2_on: str | None = typer.Option(None, "--art2-on", help=ART2_ON_HELP),
) -> None:
    """Run every placement policy on the same trace and show them side by side."""
    from zhisuan.compute.placement import policy_names

    output_file(json_out, "--json")
    _run(trace, fmt, province, policy_names(), load_factor, seed, limit, json_out, None, art2_on)


SWEEP_ROWS: tuple[tuple[str, str], ...] = (
    ("jct_avg_s", "JCT mean (s)"),
    ("jct_p50_s", "JCT p50 (s)"),
    ("jct_p99_s", "JCT p99 (s)"),
    ("wait_avg_s", "wait mean (s)"),
    ("user_cost_yuan", "user cost (yuan)"),
    ("jain_fairness", "Jain"),
)
PLOT_ROWS: tuple[tuple[str, str], ...] = (
    ("jct_avg_s", "mean JCT (h)"),
    ("jct_p50_s", "median JCT (h)"),
    ("jct_p99_s", "p99 JCT (h)"),
)


def _loads(text: str) -> list[Decimal]:
    try:
        loads = [_load_factor(part.strip()) for part in text.split(",") if part.strip()]
    except ValidationError as exc:
        raise ValidationError(exc.message, field="--loads") from None
    if not loads:
        raise ValidationError("give at least one load factor, e.g. 1,4,8,16", field="--loads")
    return list(dict.fromkeys(loads))  # each load once, in the order given (1 and 1.0 are one)


def plot_sweep(curves: list[tuple[str, list[dict[str, Any]]]], out: Path) -> None:
    """JCT against load, one column per scenario (mean, median, p99 rows), one line per policy: a PNG."""
    try:
        import matplotlib as mpl
    except ImportError:
        raise ValidationError(
            "drawing a plot needs matplotlib: pip install matplotlib (or the dev extra)", field="--plot"
        ) from None
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    cols = len(curves)
    fig, axes = plt.subplots(
        len(PLOT_ROWS), cols, figsize=(4.2 * cols, 3.0 * len(PLOT_ROWS)), squeeze=False, sharex=True
    )
    for c, (name, rows) in enumerate(curves):
        policies = list(dict.fromkeys(str(r["policy"]) for r in rows))
        for r_i, (key, label) in enumerate(PLOT_ROWS):
            ax = axes[r_i][c]
            for policy in policies:
                mine = [r for r in rows if r["policy"] == policy]
                xs = [float(r["load_factor"]) for r in mine]
                ys = [max(float(r[key]), 1.0) / 3600 for r in mine]
                bold = policy == "zhisuan"
                ax.plot(
                    xs,
                    ys,
                    marker="o",
                    markersize=3,
                    linewidth=2.4 if bold else 1.2,
                    label=policy,
                    zorder=3 if bold else 2,
                )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
            if r_i == 0:
                ax.set_title(name, fontsize=9)
            if c == 0:
                ax.set_ylabel(label)
            if r_i == len(PLOT_ROWS) - 1:
                ax.set_xlabel("load factor (arrivals ×)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _print_sweep(rows: list[dict[str, Any]], checks: list[dict[str, Any]], title: str) -> None:
    policies = list(dict.fromkeys(str(r["policy"]) for r in rows))
    for key, label in SWEEP_ROWS:
        table = Table(title=f"{title} · {label}")
        table.add_column("load")
        for name in policies:
            table.add_column(name, justify="right")
        for load in dict.fromkeys(str(r["load_factor"]) for r in rows):
            by = {str(r["policy"]): r for r in rows if str(r["load_factor"]) == load}
            table.add_row(f"×{load}", *(_fmt(by[n][key], key) if n in by else "" for n in policies))
        console.print(table)
    for c in checks:
        mark = "[green]ok[/]" if c["ok"] else "[red]missed: " + "; ".join(c["missed"]) + "[/]"
        ratios = ", ".join(f"{k} {v}" for k, v in c["ratios"].items())
        console.print(f"zhisuan at ×{c['load_factor']}: {ratios} — {mark}")


@app.command("sweep")
@guarded
def sweep_command(
    trace: Path = typer.Option(..., "--trace", help=TRACE_HELP),
    fmt: str = typer.Option("canonical", "--format", help=FORMAT_HELP),
    province: str = typer.Option("demo", "--province", help=PROVINCE_HELP),
    loads: str = typer.Option("1,4,8,16", "--loads", help="Comma-separated load factors, e.g. 1,4,8,16."),
    policy: str = typer.Option("all", "--policy", help="Placement policy, or `all` to compare every one."),
    seed: int = typer.Option(0, "--seed"),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N jobs by submit time."),
    json_out: Path | None = typer.Option(None, "--json", help="Write every figure as JSON here."),
    plot: Path | None = typer.Option(None, "--plot", help="Draw JCT against load (PNG) here."),
    art2_on: str | None = typer.Option(None, "--art2-on", help=ART2_ON_HELP),
) -> None:
    """Every policy at several loads: JCT (mean, median, p99), wait, user cost, fairness; a plot."""
    from zhisuan.cli._platform import platform
    from zhisuan.compute.placement import policy_info, policy_names
    from zhisuan.compute.province import load_province
    from zhisuan.compute.simulator import TARGETS, check_targets, sweep
    from zhisuan.compute.traces import load_trace

    names = policy_names() if policy == "all" else [policy]
    for name in names:
        policy_info(name)
    factors = _loads(loads)
    output_file(json_out, "--json")
    output_file(plot, "--plot", (".png",))
    prov = load_province(province)
    tr = load_trace(trace, fmt, limit=limit, orgs=prov.org_for)
    if not tr.jobs:
        raise ValidationError("the trace holds no jobs", field="--trace")
    vouchers = voucher_estimate(prov, platform().packs.current(), _as_of(art2_on))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("sweep", total=len(factors) * len(names))

        def tick(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, description=f"sweep (last: {what})")

        rows = sweep(tr, prov, factors, names, seed=seed, vouchers=vouchers, progress=tick)
    first: list[dict[str, Any]] = rows[: len(names)]  # which jobs can run does not depend on the load
    if not any(r["completed"] for r in first):
        # the late-binding policies' reason (last in the registry) speaks of the province, not a home
        why = next((r["unrunnable_jobs"][0] for r in reversed(first) if r["unrunnable_jobs"]), None)
        detail = f" ({why['job_id']}: {why['reason']})" if why else ""
        raise ValidationError(f"no job of the trace can run on {prov.key}{detail}", field="--trace")
    checks = check_targets(rows) if "zhisuan" in names and len(names) > 1 else []
    title = f"{trace.name} · {prov.key} · {len(tr.jobs):,} jobs · seed {seed}"
    _print_sweep(rows, checks, title)
    _print_unrunnable(first)
    if json_out is not None:
        body = {
            "trace": str(trace),
            "format": fmt,
            "province": prov.key,
            "jobs": len(tr.jobs),
            "seed": seed,
            "loads": [str(x) for x in factors],
            "policies": names,
            "runs": rows,
            "targets": TARGETS,
            "checks": checks,
        }
        json_out.write_text(dumps(body) + "\n", "utf-8")
        console.print(f"wrote {json_out}")
    if plot is not None:
        plot_sweep([(title, rows)], plot)
        console.print(f"wrote {plot}")


@app.command("policies")
@guarded
def policies(as_json: bool = typer.Option(False, "--json")) -> None:
    """List the placement policies."""
    from zhisuan.compute.placement import POLICIES

    rows = [(p.name, "late" if p.late_binding else "early", p.description) for p in POLICIES.values()]
    if as_json:
        typer.echo(json.dumps([dict(zip(("name", "binding", "description"), r, strict=True)) for r in rows]))
        return
    table = Table(title="placement policies")
    for col in ("name", "binding", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(*r)
    console.print(table)


__all__ = ["app"]
