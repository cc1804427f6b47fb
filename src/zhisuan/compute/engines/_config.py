"""Reading an engine configuration dict (from a center's or a pool's settings) into typed values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TypeVar

from zhisuan.compute.engines.port import INSTALLATION_RE
from zhisuan.core.clock import UTC
from zhisuan.core.errors import ValidationError

T = TypeVar("T")

# Keys that describe how one accelerator model is reached on an engine (the single-pool shorthand).
POOL_KEYS = frozenset(
    {"gres_type", "partition", "resource", "num_gpus", "resource_name", "queue", "node_selector"}
)


def accelerators(config: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """The per-model mapping of an engine config.

    Either ``{"accelerators": {model: {...}, ...}}`` for a center with several pools, or the
    single-pool shorthand ``{"accelerator": model, "gres_type": ..., "partition": ...}``.

    >>> accelerators({"kind": "slurm", "accelerator": "a100-sxm4-80gb", "gres_type": "a100"})
    {'a100-sxm4-80gb': {'gres_type': 'a100'}}
    """
    raw = config.get("accelerators")
    if raw is None:
        model = config.get("accelerator")
        if not isinstance(model, str) or not model:
            raise ValidationError(
                "an engine config needs 'accelerators' (model → mapping) or 'accelerator'", field="engine"
            )
        return {model: {k: v for k, v in config.items() if k in POOL_KEYS}}
    if not isinstance(raw, Mapping) or not raw:
        raise ValidationError("'accelerators' must map accelerator models to settings", field="engine")
    out: dict[str, dict[str, object]] = {}
    for model, spec in raw.items():
        if not isinstance(model, str):
            raise ValidationError("accelerator models are strings", field="engine.accelerators")
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise ValidationError(
                f"settings for {model} must be a mapping", field=f"engine.accelerators.{model}"
            )
        out[model] = dict(spec)
    return out


def installation_of(config: Mapping[str, object]) -> str:
    """The platform installation whose jobs this engine handles ('' when the config names none).

    The dispatcher puts it in every engine config it builds, so that engine job names carry it.

    >>> installation_of({"kind": "slurm", "installation": "k3x9q2ab"}), installation_of({})
    ('k3x9q2ab', '')
    """
    value = config.get("installation") or ""
    if not isinstance(value, str) or (value and not INSTALLATION_RE.match(value)):
        raise ValidationError(
            "installation must be a letter then 3–31 letters or digits", field="engine.installation"
        )
    return value


def opt_str(spec: Mapping[str, object], key: str, where: str) -> str | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{key} must be a non-empty string", field=f"{where}.{key}")
    return value


def opt_int(spec: Mapping[str, object], key: str, where: str, default: int) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValidationError(f"{key} must be a positive number", field=f"{where}.{key}")
    return int(value)


def from_epoch(seconds: float | int | None) -> dt.datetime | None:
    """An engine's epoch seconds as aware UTC; 0 and None mean 'not yet'.

    >>> from_epoch(0) is None, from_epoch(1_700_000_000).isoformat()
    (True, '2023-11-14T22:13:20+00:00')
    """
    if not seconds:
        return None
    return dt.datetime.fromtimestamp(float(seconds), UTC)
