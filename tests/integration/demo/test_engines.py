"""The demo step that routes part of the demo province to the machine's own Slurm and Ray."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from zhisuan import compute
from zhisuan.bootstrap import Platform
from zhisuan.core.errors import ValidationError
from zhisuan.demo import DEMO_ADMIN
from zhisuan.demo.engines import A100_PCIE, attach_local_engines, local_centers, read_services_env
from zhisuan.settings import load_settings

ENV = """# written by services-up
SLURM_CONF=/srv/slurm/slurm.conf
ZHISUAN_SLURM_JOBDIR=/srv/jobs
ZHISUAN_SLURM_NODES='n1 n2 n3 n4'
RAY_ADDRESS=http://127.0.0.1:8265
"""


def test_env_file_values_may_be_shell_quoted(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text(ENV)
    env = read_services_env(path)
    assert env["ZHISUAN_SLURM_NODES"] == "n1 n2 n3 n4"
    (slurm,) = local_centers(env, ["slurm"])
    assert slurm.engine_config == {"slurm_conf": "/srv/slurm/slurm.conf", "jobdir": "/srv/jobs"}
    with pytest.raises(ValidationError, match="unknown local engine"):
        local_centers(env, ["lsf"])


def test_settings_name_the_demo_engines_and_the_services_env_file(tmp_path: Path) -> None:
    base = {"ZHISUAN_DATA_DIR": str(tmp_path), "ZHISUAN_SECRET_KEY": "k"}
    plain = load_settings(base)
    assert plain.demo_engines == ()
    assert plain.services_env == Path("var/services/env")
    given = load_settings(base | {"ZHISUAN_DEMO_ENGINES": " slurm, ,ray ", "ZHISUAN_SERVICES_DIR": "/srv/s"})
    assert given.demo_engines == ("slurm", "ray")
    assert given.services_env == Path("/srv/s/env")
    env_file = load_settings(base | {"ZHISUAN_SERVICES_ENV": "/e", "ZHISUAN_SERVICES_DIR": "/srv/s"})
    assert env_file.services_env == Path("/e")


def test_demo_step_adds_local_centers_and_queues_jobs_for_them(platform: Platform, tmp_path: Path) -> None:
    (tmp_path / "env").write_text(ENV)
    settings = dataclasses.replace(platform.settings, services_env=tmp_path / "env")
    assert "not used" in attach_local_engines(dataclasses.replace(platform, settings=settings))[0]
    with_engines = dataclasses.replace(settings, demo_engines=("slurm", "ray"))
    (line,) = attach_local_engines(dataclasses.replace(platform, settings=with_engines))
    assert "local-slurm (slurm), local-ray (ray); 4 jobs" in line
    with platform.uow() as uow:
        centers = {c.key: c for c in compute.list_centers(uow)}
        jobs = compute.list_jobs(uow, DEMO_ADMIN)
    assert {p.engine for p in centers["local-ray"].pools} == {"ray"}
    assert {p.accelerator for p in centers["local-slurm"].pools} >= {A100_PCIE}
    assert len([j for j in jobs if j.name.startswith("real-engine-demo")]) == 4
