# ruff: noqa: S106  -- a benchmark user with a throwaway password on a throwaway database
"""Job submission over HTTP: ``POST /api/v1/jobs`` on ``zhisuan serve`` as shipped, against a bare app.

Both servers run on the same fresh PostgreSQL database with the same number of uvicorn processes
(``zhisuan serve``'s default: one per core). ``C`` clients (threads, keep-alive connections) post jobs
as fast as they can for ``--seconds``; requests per second and latency percentiles are measured on
the client. The reference is the smallest thing that does the same work: a FastAPI sync handler that
takes the same JSON body and does one ``INSERT`` through SQLAlchemy (``bench/_bare_api.py``).

Usage::

    .venv/bin/python bench/bench_api.py [--clients 16] [--seconds 20] [--workers N]

Prints the ratios first (zhisuan ÷ reference), then the figures; writes ``bench/results/bench_api.json``.
On Linux it also reports the CPU the server's processes spent per request (from ``/proc``, the process
and its children): on a shared machine the rates swing with the other load, the work per request much
less.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform as pyplatform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from zhisuan import accounts, compute
from zhisuan.audit import Seal
from zhisuan.compute.schemas import CenterInput, PoolInput
from zhisuan.core.access import Principal, Role
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind
from zhisuan.store.db import make_engine
from zhisuan.store.migrate import upgrade
from zhisuan.store.uow import UnitOfWork

PG_ADMIN = os.environ.get("ZHISUAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).parent / "results"
ROOT = Principal(None, "bench", Role.ADMIN)
JOB = {"name": "train", "command": "python train.py", "cards": 8, "runtime_s": 3600}


def fresh_database() -> tuple[Engine, str]:
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"zhisuan_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    return engine, url


def drop(url: str) -> None:
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def seed(engine: Engine, data_dir: Path) -> str:
    """Eight centers of two simulated pools each, a compute user's organization and its token (audited
    with the key of the servers' data directory)."""
    now = dt.datetime.now(dt.UTC)
    with UnitOfWork.for_engine(engine, seal=Seal.for_data_dir(data_dir)) as uow:
        user_org = accounts.create_org(
            uow,
            ROOT,
            accounts.OrgInput(
                name="甲智能科技有限公司",
                credit_code=make_credit_code("91340100MA2E2E001"),
                kind=OrgKind.ENTERPRISE,
                city_code="340100",
            ),
            now,
        )
        for c in range(8):
            op = accounts.create_org(
                uow,
                ROOT,
                accounts.OrgInput(
                    name=f"算力运营{c}有限公司",
                    credit_code=make_credit_code(f"91340100MA2E3E{c:03d}"),
                    kind=OrgKind.CENTER_OPERATOR,
                    city_code="340100",
                ),
                now,
            )
            key = f"c{c}"
            compute.create_center(
                uow, ROOT, CenterInput(key=key, name=f"中心{c}", operator=str(op.id), city_code="340100"), now
            )
            for acc in ("a100-sxm4-80gb", "h100-sxm5-80gb"):
                compute.add_pool(
                    uow,
                    ROOT,
                    key,
                    PoolInput(
                        key=f"{key}-{acc[:4]}", accelerator=acc, nodes=64, cards_per_node=8, price="10"
                    ),
                    now,
                )
        accounts.add_user(
            uow, ROOT, username="alice", password="password-1", role=Role.USER, org=user_org.id, now=now
        )
        token = accounts.create_token(uow, ROOT, "alice", "bench", now)
        uow.commit()
    return token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # a loaded machine takes a while to import three processes
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"{cmd} did not start") from None
            time.sleep(0.2)


def _cpu_s(root: int) -> float | None:
    """CPU seconds (user + system) used so far by ``root`` and its descendants (Linux; else None)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(used.get(pid, 0.0) for pid in tree)


def load(
    url: str, headers: dict[str, str], clients: int, seconds: float, server: int | None = None
) -> dict[str, float]:
    """``clients`` threads posting jobs for ``seconds`` (after one warm-up second); with ``server``
    (its process id) also the CPU its processes spent per request, which a shared machine's load
    changes far less than the rates."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    begin = threading.Barrier(clients + 1)
    measuring = threading.Event()
    stop = threading.Event()

    def client(i: int) -> None:
        with httpx.Client(headers=headers, timeout=60) as c:
            begin.wait()
            while not stop.is_set():
                t = time.perf_counter()
                r = c.post(url, json=JOB)
                took = time.perf_counter() - t
                if r.status_code != 201:
                    errors[i] += 1
                elif measuring.is_set():
                    latencies[i].append(took)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for th in threads:
        th.start()
    begin.wait()
    time.sleep(1.0)
    cpu0 = _cpu_s(server) if server is not None else None
    measuring.set()
    t0 = time.perf_counter()
    time.sleep(seconds)
    measuring.clear()
    wall = time.perf_counter() - t0
    cpu1 = _cpu_s(server) if server is not None else None
    stop.set()
    for th in threads:
        th.join()
    every = sorted(x for per in latencies for x in per)
    q = statistics.quantiles(every, n=100)
    result = {
        "requests": len(every),
        "per_s": round(len(every) / wall, 1),
        "p50_ms": round(q[49] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "errors": sum(errors),
    }
    if cpu0 is not None and cpu1 is not None and every:
        result["cpu_ms_per_request"] = round((cpu1 - cpu0) * 1000 / len(every), 2)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn processes of both")
    args = ap.parse_args()
    engine, url = fresh_database()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            token = seed(engine, Path(tmp))
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "CREATE TABLE bench_jobs (id BIGSERIAL PRIMARY KEY, name TEXT, command TEXT, "
                        "cards INT, runtime_s INT, submitted_at TIMESTAMPTZ)"
                    )
                )
            env = os.environ | {"ZHISUAN_DATABASE_URL": url, "ZHISUAN_DATA_DIR": tmp}
            port = free_port()
            serve = ["serve", "--port", str(port), "--workers", str(args.workers)]
            served = start([sys.executable, "-m", "zhisuan", *serve], env, port)
            try:
                ours = load(
                    f"http://127.0.0.1:{port}/api/v1/jobs",
                    {"Authorization": f"Bearer {token}"},
                    args.clients,
                    args.seconds,
                    served.pid,
                )
            finally:
                served.terminate()
                served.wait(timeout=30)
            port = free_port()
            bare = start(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "_bare_api:app",
                    "--app-dir",
                    str(Path(__file__).parent),
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--log-level",
                    "warning",
                ],
                env | {"BARE_DATABASE_URL": url},
                port,
            )
            try:
                reference = load(f"http://127.0.0.1:{port}/jobs", {}, args.clients, args.seconds, bare.pid)
            finally:
                bare.terminate()
                bare.wait(timeout=30)
    finally:
        engine.dispose()
        drop(url)
    result = {
        "clients": args.clients,
        "workers": args.workers,
        "seconds": args.seconds,
        "zhisuan": ours,
        "reference": reference,
        "throughput_ratio": round(ours["per_s"] / reference["per_s"], 2),
        "p99_ratio": round(ours["p99_ms"] / reference["p99_ms"], 2),
    }
    if "cpu_ms_per_request" in ours and "cpu_ms_per_request" in reference:
        result["cpu_per_request_ratio"] = round(
            ours["cpu_ms_per_request"] / reference["cpu_ms_per_request"], 2
        )
    print(
        f"POST /api/v1/jobs, {args.clients} clients, {args.workers} processes: "
        f"throughput ratio {result['throughput_ratio']}, p99 ratio {result['p99_ratio']}, "
        f"server CPU per request ratio {result.get('cpu_per_request_ratio', '?')}"
    )
    for name in ("zhisuan", "reference"):
        r = result[name]
        assert isinstance(r, dict)
        print(
            f"  {name:<10} {r['per_s']:>8} req/s  p50 {r['p50_ms']:>7} ms  p99 {r['p99_ms']:>7} ms  "
            f"errors {r['errors']}  server CPU {r.get('cpu_ms_per_request', '?')} ms/request"
        )
    RESULTS.mkdir(exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "python": pyplatform.python_version(),
        "load_after": os.getloadavg(),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (RESULTS / "bench_api.json").write_text(json.dumps({"machine": machine, **result}, indent=2))


if __name__ == "__main__":
    main()
