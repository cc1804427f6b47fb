"""The machine's own Slurm and Ray (``scripts/services/services-up``) as centers of the demo province.

With ``ZHISUAN_DEMO_ENGINES=slurm,ray`` (:attr:`Settings.demo_engines`, and the services up),
:func:`attach_local_engines` registers a center per engine — ``local-slurm`` (Hefei) and ``local-ray``
(Wuhu) — whose pools are the fake GPU cards of the local services, and queues a few small jobs for them;
the worker inside ``zhisuan serve`` then places and runs them on the real engines. The pools carry
accelerator models that the rest of the demo province does not have (``a100-pcie-80gb``,
``ascend-910b4``), so those jobs go there and nowhere else; the GRES types and Ray resources behind them
are what the services define (``a100``, ``ascend910b``) — mapping a catalog model to an engine's own
names is exactly what pool settings do. Where the services wrote their env file is
:attr:`Settings.services_env`.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zhisuan import accounts, compute
from zhisuan.bootstrap import Platform
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.errors import ValidationError
from zhisuan.core.orgs import OrgKind
from zhisuan.demo.organizations import DEMO_ADMIN

A100_PCIE = "a100-pcie-80gb"
ASCEND_910B4 = "ascend-910b4"
OPERATOR_CODE_BODY = "91340100MA8Q0LC09"  # the demo's "local engines" operator (illustrative)
USER_CODE_BODY = "91340100MA8Q0LC10"  # the organization submitting the demo's real-engine jobs


def read_services_env(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of the services env file (values may be shell-quoted)."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key] = " ".join(shlex.split(value))
    return out


@dataclass(frozen=True)
class LocalPool:
    accelerator: str
    nodes: int
    cards_per_node: int
    engine_config: dict[str, Any]


@dataclass(frozen=True)
class LocalCenter:
    key: str
    name: str
    city_code: str
    kind: str
    engine_config: dict[str, Any]
    pools: list[LocalPool] = field(default_factory=list)


def local_centers(env: dict[str, str], kinds: Sequence[str]) -> list[LocalCenter]:
    """Centers and pools for the local services named in ``kinds`` (``slurm``, ``ray``)."""
    out: list[LocalCenter] = []
    for kind in kinds:
        if kind == "slurm":
            if "SLURM_CONF" not in env:
                raise ValidationError(
                    "the services env file has no SLURM_CONF: is Slurm up?", field="engines"
                )
            config: dict[str, Any] = {"slurm_conf": env["SLURM_CONF"]}
            if "ZHISUAN_SLURM_JOBDIR" in env:
                config["jobdir"] = env["ZHISUAN_SLURM_JOBDIR"]
            out.append(
                LocalCenter(
                    "local-slurm",
                    "本机 Slurm 集群（演示）",
                    "340100",
                    "slurm",
                    config,
                    [
                        LocalPool(A100_PCIE, 2, 4, {"gres_type": "a100"}),
                        LocalPool(ASCEND_910B4, 2, 4, {"gres_type": "ascend910b"}),
                    ],
                )
            )
        elif kind == "ray":
            if "RAY_ADDRESS" not in env:
                raise ValidationError("the services env file has no RAY_ADDRESS: is Ray up?", field="engines")
            out.append(
                LocalCenter(
                    "local-ray",
                    "本机 Ray 集群（演示）",
                    "340200",
                    "ray",
                    {"address": env["RAY_ADDRESS"]},
                    [
                        LocalPool(A100_PCIE, 1, 4, {"resource": "a100", "num_gpus": True}),
                        LocalPool(ASCEND_910B4, 1, 4, {"resource": "ascend910b"}),
                    ],
                )
            )
        else:
            raise ValidationError(f"unknown local engine {kind!r}; use slurm and/or ray", field="engines")
    return out


def attach_local_engines(platform: Platform) -> list[str]:
    """Demo step: route part of the demo province to the local Slurm/Ray (``settings.demo_engines``)."""
    kinds = platform.settings.demo_engines
    if not kinds:
        return ["real engines not used (make services-up, then ZHISUAN_DEMO_ENGINES=slurm,ray make demo)"]
    path = platform.settings.services_env
    if not path.exists():
        raise ValidationError(f"ZHISUAN_DEMO_ENGINES is set but {path} is missing: run make services-up")
    centers = local_centers(read_services_env(path), kinds)
    now = platform.clock.now()
    code = make_credit_code(OPERATOR_CODE_BODY)
    with platform.uow() as uow:
        accounts.create_org(
            uow,
            DEMO_ADMIN,
            accounts.OrgInput(
                name="本机算力运营（演示）",
                credit_code=code,
                kind=OrgKind.CENTER_OPERATOR,
                city_code="340100",
            ),
            now,
        )
        for center in centers:
            compute.create_center(
                uow,
                DEMO_ADMIN,
                compute.CenterInput(
                    key=center.key,
                    name=center.name,
                    operator=code,
                    city_code=center.city_code,
                    engine=center.engine_config,
                ),
                now,
            )
            for pool in center.pools:
                compute.add_pool(
                    uow,
                    DEMO_ADMIN,
                    center.key,
                    compute.PoolInput(
                        key=f"{center.key}-{pool.accelerator}",
                        accelerator=pool.accelerator,
                        nodes=pool.nodes,
                        cards_per_node=pool.cards_per_node,
                        price="6.00",
                        engine=center.kind,
                        engine_config=pool.engine_config,
                    ),
                    now,
                )
        # Its own submitting organization: no quota of the demo province holds these jobs back.
        submitter_org = make_credit_code(USER_CODE_BODY)
        accounts.create_org(
            uow,
            DEMO_ADMIN,
            accounts.OrgInput(
                name="本机演示用户（演示）",
                credit_code=submitter_org,
                kind=OrgKind.ENTERPRISE,
                city_code="340100",
            ),
            now,
        )
        jobs = 0
        for i, (model, cards) in enumerate(
            [(A100_PCIE, 2), (ASCEND_910B4, 1), (A100_PCIE, 8), (ASCEND_910B4, 4)]
        ):
            command = (
                f'echo "zhisuan demo job {i + 1} on $(hostname): cards=${{CUDA_VISIBLE_DEVICES:-}}"; sleep 20'
            )
            compute.submit_job(
                uow,
                DEMO_ADMIN,
                compute.JobInput(
                    name=f"real-engine-demo-{i + 1}",
                    command=command,
                    cards=cards,
                    accelerators=[model],
                    runtime_s=20,
                    reference=model,
                    org=submitter_org,
                ),
                now + dt.timedelta(seconds=i),
            )
            jobs += 1
        uow.commit()
    names = ", ".join(f"{c.key} ({c.kind})" for c in centers)
    return [f"real engines: {names}; {jobs} jobs queued for them (the worker in `zhisuan serve` runs them)"]


__all__ = [
    "A100_PCIE",
    "ASCEND_910B4",
    "LocalCenter",
    "LocalPool",
    "attach_local_engines",
    "local_centers",
    "read_services_env",
]
