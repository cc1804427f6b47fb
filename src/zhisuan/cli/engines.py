"""`zhisuan worker` (dispatch and reconcile) and `zhisuan center check NAME` (reach a center's engine)."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer

from zhisuan.cli._common import console, guarded, print_json, print_table
from zhisuan.cli._platform import platform
from zhisuan.cli.compute import center_app


@guarded
def center_check(
    name: str = typer.Argument(..., help="Center key or id."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Can the platform reach the center's engine, and what capacity does it report per pool?"""
    from zhisuan import compute
    from zhisuan.compute import dispatch
    from zhisuan.core.errors import ZhisuanError

    p = platform()
    with p.uow() as uow:
        center = compute.get_center(uow, name)
        pools = dispatch.engine_pools(uow, center.key)
    engines = p.engines
    rows: list[dict[str, object]] = []
    for pool in pools:
        row: dict[str, object] = {
            "pool": pool.pool_key,
            "engine": pool.engine,
            "accelerator": pool.accelerator,
            "registered_cards": pool.cards,
            "available_in_platform": pool.available,
        }
        try:
            cap = engines.for_pool(pool.pool_id, pool.engine_config).capacity().get(pool.accelerator)
            row.update(
                reachable=True,
                total=cap.total if cap else 0,
                free=cap.free if cap else 0,
                message="ok" if cap and cap.total else "the engine reports no cards of this model",
            )
        except ZhisuanError as exc:
            row.update(reachable=False, total=None, free=None, message=str(exc))
        rows.append(row)
    if as_json:
        print_json({"center": center.key, "pools": rows})
    else:
        print_table(
            f"{center.key} — {center.name}",
            ["pool", "engine", "accelerator", "reachable", "cards (engine)", "free", "message"],
            [
                [
                    r["pool"],
                    r["engine"],
                    r["accelerator"],
                    "yes" if r["reachable"] else "NO",
                    r["total"],
                    r["free"],
                    r["message"],
                ]
                for r in rows
            ],
        )
    if not all(r["reachable"] for r in rows):
        raise typer.Exit(1)


@guarded
def worker(
    interval: float | None = typer.Option(
        None, help="Seconds between steps (default: ZHISUAN_WORKER_INTERVAL or 2)."
    ),
    once: bool = typer.Option(False, "--once", help="Reconcile and do one step, then exit."),
    schedule: bool = typer.Option(True, help="Also place queued jobs (late binding) in each step."),
    name: str | None = typer.Option(None, help="Worker name recorded on claimed jobs."),
    as_json: bool = typer.Option(False, "--json", help="Print each step's report as a JSON line."),
) -> None:
    """Dispatch placed jobs to their engines, poll them, reconcile after restarts (until Ctrl-C)."""
    from zhisuan.compute.worker import StepReport

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = platform()
    p.migrate()
    w = p.worker(name=name, schedule=schedule)

    def show(report: StepReport) -> None:
        if as_json:
            print_json(report.as_dict())
        elif report.busy():
            console.print(
                f"placed {report.placed}, dispatched {report.dispatched}, adopted {report.adopted}, "
                f"refused {report.refused}, started {report.started}, finished {report.finished}, "
                f"lost {report.lost}, cancelled {report.cancelled}"
                + (f", down: {', '.join(report.down)}" if report.down else "")
                + (f", back: {', '.join(report.up)}" if report.up else ""),
                highlight=False,
            )

    if once:
        show(w.reconcile())
        show(w.step())
        return
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    every = interval if interval is not None else p.settings.worker_interval_s
    console.print(f"worker {w.name} running every {every:g} s (Ctrl-C stops)", highlight=False)
    w.run(every, stop=stop, on_step=show)


# `check` joins the compute context's `zhisuan center` group (the command line's table loads it from here)
center_app.command("check")(center_check)

__all__ = ["center_app", "center_check", "worker"]
