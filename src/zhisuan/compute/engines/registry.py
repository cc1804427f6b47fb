"""Build an engine from a center's (or pool's) engine configuration dict.

>>> engine = build_engine({"kind": "simulated", "accelerators": {"a100-sxm4-80gb": {"cards": 8}}})
>>> engine.kind, isinstance(engine, Engine)
('simulated', True)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from zhisuan.compute.engines.kubernetes import KubernetesEngine
from zhisuan.compute.engines.port import Engine
from zhisuan.compute.engines.ray import RayEngine
from zhisuan.compute.engines.simulated import SimulatedEngine
from zhisuan.compute.engines.slurm import SlurmEngine
from zhisuan.core.clock import Clock
from zhisuan.core.errors import ValidationError

KINDS = ("simulated", "slurm", "ray", "kubernetes")


def build_engine(config: Mapping[str, object], clock: Clock | None = None) -> Engine:
    """The engine a configuration describes (its ``kind``: slurm, ray, kubernetes or simulated)."""
    kind = config.get("kind")
    if kind == "slurm":
        return SlurmEngine(config, clock)
    if kind == "ray":
        return RayEngine(config)
    if kind == "kubernetes":
        return KubernetesEngine(config)
    if kind == "simulated":
        return SimulatedEngine(config, clock)
    raise ValidationError(f"unknown engine kind {kind!r}; use one of {', '.join(KINDS)}", field="engine.kind")


class EngineSet:
    """One engine per pool, built from the settings dispatch computed for it and kept across steps."""

    def __init__(self, clock: Clock, factory: Callable[..., Engine] = build_engine) -> None:
        self._clock = clock
        self._factory = factory
        self._engines: dict[int, tuple[str, Engine]] = {}

    def for_pool(self, pool_id: int, config: Mapping[str, Any]) -> Engine:
        """The engine of pool ``pool_id`` for these settings (the same one while they do not change)."""
        fingerprint = json.dumps(config, sort_keys=True, default=str)
        cached = self._engines.get(int(pool_id))
        if cached is None or cached[0] != fingerprint:
            cached = (fingerprint, self._factory(config, self._clock))
            self._engines[int(pool_id)] = cached
        return cached[1]


def merge_pool_configs(configs: Mapping[str, Mapping[str, object]]) -> dict[str, object]:
    """One engine config for a center out of its pools' shorthand configs (model → pool config).

    Pools of one center share the engine (same kind and connection settings) and differ in how their
    accelerator model is requested.

    >>> merge_pool_configs({"a100": {"kind": "slurm", "gres_type": "a100"},
    ...                     "910b": {"kind": "slurm", "partition": "ascend"}})["accelerators"]
    {'a100': {'gres_type': 'a100'}, '910b': {'partition': 'ascend'}}
    """
    from zhisuan.compute.engines._config import POOL_KEYS

    merged: dict[str, object] = {}
    per_model: dict[str, dict[str, object]] = {}
    for model, cfg in configs.items():
        shared = {
            k: v for k, v in cfg.items() if k not in POOL_KEYS and k not in ("accelerator", "accelerators")
        }
        for key, value in shared.items():
            if key in merged and merged[key] != value:
                raise ValidationError(
                    f"pools of one center disagree on engine setting {key!r}", field=f"engine.{key}"
                )
            merged[key] = value
        per_model[model] = {k: v for k, v in cfg.items() if k in POOL_KEYS}
    merged["accelerators"] = per_model
    return merged


__all__ = ["KINDS", "build_engine", "merge_pool_configs"]
