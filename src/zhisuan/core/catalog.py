"""The accelerator catalog and capacity in P (peak dense FP16/BF16 PFLOPS)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from zhisuan.core._data import read_csv
from zhisuan.core.errors import NotFoundError, ValidationError
from zhisuan.core.ids import AcceleratorModel


@dataclass(frozen=True, slots=True)
class Accelerator:
    """One accelerator model with the figures placement and capacity need."""

    key: AcceleratorModel
    vendor: str
    model: str
    domestic: bool
    memory_gb: int | None
    fp16_tflops: Decimal | None
    fp32_tflops: Decimal | None
    int8_tops: Decimal | None
    tdp_w: int | None
    confidence: str
    source: str

    @property
    def rated(self) -> bool:
        """Whether the catalog knows this model's FP16 throughput (needed for capacity and pools)."""
        return self.fp16_tflops is not None


def _dec(text: str) -> Decimal | None:
    return Decimal(text) if text.strip() else None


def _int(text: str) -> int | None:
    return int(Decimal(text)) if text.strip() else None


@cache
def catalog() -> tuple[Accelerator, ...]:
    """Every accelerator model shipped in ``data/accelerators.csv``."""
    return tuple(
        Accelerator(
            key=AcceleratorModel(row["key"]),
            vendor=row["vendor"],
            model=row["model"],
            domestic=row["domestic"] == "true",
            memory_gb=_int(row["memory_gb"]),
            fp16_tflops=_dec(row["fp16_dense_tflops"]),
            fp32_tflops=_dec(row["fp32_tflops"]),
            int8_tops=_dec(row["int8_tops"]),
            tdp_w=_int(row["tdp_w"]),
            confidence=row["confidence"],
            source=row["source"],
        )
        for row in read_csv("accelerators.csv")
    )


@cache
def _by_key() -> dict[str, Accelerator]:
    return {a.key: a for a in catalog()}


def accelerator(key: str, field: str = "accelerator") -> Accelerator:
    """Look a model up by its key (e.g. ``a100-sxm4-80gb``, ``ascend-910b3``)."""
    found = _by_key().get(key)
    if found is None:
        raise NotFoundError(
            f"no accelerator {key!r} in the catalog (see `zhisuan catalog list`)", field=field
        )
    return found


def capacity_p(cards: Iterable[tuple[str, int]]) -> Decimal:
    """Capacity in P = Σ cards × FP16 TFLOPS / 1000.

    >>> capacity_p([("a100-sxm4-80gb", 8), ("ascend-910b3", 8)])
    Decimal('5')
    """
    total = Decimal(0)
    for key, count in cards:
        acc = accelerator(key)
        if acc.fp16_tflops is None:
            raise ValidationError(
                f"the catalog has no FP16 rating for {key}; its capacity is unknown", field="accelerator"
            )
        if count < 0:
            raise ValidationError("a card count cannot be negative", field="cards")
        total += acc.fp16_tflops * count
    return total / 1000
