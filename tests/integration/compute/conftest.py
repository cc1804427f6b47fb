"""Fixtures for the engine tests: real Slurm and real Ray, as started by ``scripts/services/services-up``.

The services write an env file (``var/services/env`` by default; ``ZHISUAN_SERVICES_ENV`` or
``ZHISUAN_SERVICES_DIR`` point elsewhere). Without it the tests are skipped with the reason, or fail
under ``ZHISUAN_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shlex
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import service_missing
from zhisuan.compute.engines import Engine, JobStatus, RayEngine, SlurmEngine
from zhisuan.core.ids import JobId

REPO = Path(__file__).resolve().parents[3]

A100 = "a100-sxm4-80gb"
ASCEND = "ascend-910b3"

#: This test run's installation id: its engine jobs are its own even when other runs share the cluster.
INSTALLATION = "t" + secrets.token_hex(4)

SLURM_ACCELERATORS = {A100: {"gres_type": "a100"}, ASCEND: {"gres_type": "ascend910b"}}
RAY_ACCELERATORS = {A100: {"resource": "a100", "num_gpus": True}, ASCEND: {"resource": "ascend910b"}}


def env_file() -> Path:
    if os.environ.get("ZHISUAN_SERVICES_ENV"):
        return Path(os.environ["ZHISUAN_SERVICES_ENV"])
    base = Path(os.environ.get("ZHISUAN_SERVICES_DIR", REPO / "var" / "services"))
    return base / "env"


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as the services script writes them (values may be shell-quoted)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        parts = shlex.split(value)
        out[key] = parts[0] if len(parts) == 1 else " ".join(parts)
    return out


@pytest.fixture(scope="session")
def services_env() -> dict[str, str]:
    path = env_file()
    if not path.exists():
        service_missing(f"local engines (no {path}; run scripts/services/services-up)")
    return read_env(path)


@pytest.fixture(scope="session")
def slurm_env(services_env: dict[str, str]) -> dict[str, str]:
    conf = services_env.get("SLURM_CONF")
    if not conf:
        service_missing("Slurm (the services env file has no SLURM_CONF)")
    assert conf is not None
    env = {**os.environ, "SLURM_CONF": conf}
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%D %t"], env=env, capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        service_missing(f"Slurm ({exc})")
    if done.returncode != 0 or not any(s in done.stdout for s in ("idle", "mix", "alloc")):
        service_missing(f"Slurm (sinfo: {(done.stderr or done.stdout).strip()[:200]})")
    return env


@pytest.fixture(scope="session")
def slurm_engine(services_env: dict[str, str], slurm_env: dict[str, str]) -> SlurmEngine:
    return SlurmEngine(
        {
            "kind": "slurm",
            "slurm_conf": slurm_env["SLURM_CONF"],
            "jobdir": services_env.get(
                "ZHISUAN_SLURM_JOBDIR", str(REPO / "var" / "services" / "slurm" / "jobs")
            ),
            "accelerators": SLURM_ACCELERATORS,
            "installation": INSTALLATION,
        }
    )


def sacct(env: dict[str, str], engine_job_id: str, fields: str) -> list[str]:
    """One job's allocation line from ``sacct --parsable2`` (the test's own view of accounting)."""
    out = subprocess.run(
        ["sacct", "--parsable2", "--noheader", "--allocations", "-j", engine_job_id, f"--format={fields}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    ).stdout.strip()
    return out.splitlines()[0].split("|") if out else []


@pytest.fixture(scope="session")
def ray_address(services_env: dict[str, str]) -> Iterator[str]:
    address = services_env.get("RAY_ADDRESS")
    if not address:
        service_missing("Ray (the services env file has no RAY_ADDRESS)")
    assert address is not None
    try:
        with urllib.request.urlopen(address.rstrip("/") + "/api/version", timeout=5) as resp:  # noqa: S310
            resp.read()
    except OSError as exc:
        service_missing(f"Ray (jobs API at {address}: {exc})")
    # A stray ~/.ray/auth_token must not switch the client to token auth (see ENGINES.md).
    old = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = services_env.get("RAY_AUTH_MODE", "disabled")
    yield address
    if old is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = old


@pytest.fixture(scope="session")
def ray_engine(ray_address: str) -> RayEngine:
    return RayEngine(
        {
            "kind": "ray",
            "address": ray_address,
            "accelerators": RAY_ACCELERATORS,
            "installation": INSTALLATION,
        }
    )


_ids = itertools.count(int(time.time() * 10) % 10**9 * 100)


@pytest.fixture
def new_job_id() -> Callable[[], JobId]:
    """Fresh zhisuan job ids, distinct across test runs against the same long-lived services."""
    return lambda: JobId(next(_ids))


def wait_for(
    engine: Engine, engine_job_id: str, done: Callable[[JobStatus], bool], timeout: float = 60
) -> JobStatus:
    """Poll the engine until ``done(status)``; fail with the last status seen."""
    deadline = time.monotonic() + timeout
    last: JobStatus | None = None
    while time.monotonic() < deadline:
        last = engine.status(engine_job_id)
        if last is not None and done(last):
            return last
        time.sleep(0.25)
    pytest.fail(f"job {engine_job_id} did not reach the expected state in {timeout} s; last: {last}")


def finished(status: JobStatus) -> bool:
    return status.state.finished
