"""Province descriptions: centers, pools and compute users as YAML (``provinces/demo.yaml`` ships).

Errors name the key that is wrong, e.g. ``centers[2].pools[0].nodes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from zhisuan.compute.model import ENGINES, Center, Pool, PriceBand
from zhisuan.compute.placement import Quota
from zhisuan.core.catalog import accelerator
from zhisuan.core.credit_code import validate_credit_code
from zhisuan.core.errors import NotFoundError, ValidationError, ZhisuanError
from zhisuan.core.money import Money
from zhisuan.core.regions import city

SHIPPED = ("demo",)


@dataclass(frozen=True, slots=True)
class OrgSpec:
    """A compute user of the province: id, legal name, credit code, fair-share weight, quota."""

    id: str
    name: str
    credit_code: str = ""
    weight: float = 1.0
    aliases: tuple[str, ...] = ()
    quota: Quota | None = None


@dataclass(frozen=True, slots=True)
class Province:
    """Centers (with their pools) and compute users."""

    key: str
    name: str
    region: str
    centers: tuple[Center, ...]
    orgs: tuple[OrgSpec, ...] = ()
    _alias: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def pools(self) -> tuple[Pool, ...]:
        return tuple(p for c in self.centers for p in c.pools)

    @property
    def cards(self) -> int:
        return sum(c.cards for c in self.centers)

    @property
    def capacity_p(self) -> Decimal:
        return sum((c.capacity_p for c in self.centers), Decimal(0))

    def capacity_by_city(self) -> dict[str, Decimal]:
        """Capacity in P per city code."""
        out: dict[str, Decimal] = {}
        for c in self.centers:
            out[c.city] = out.get(c.city, Decimal(0)) + c.capacity_p
        return out

    def org_for(self, name: str) -> str:
        """The org id a trace's organization maps to (itself if no alias names it)."""
        return self._alias.get(name, name)

    def quotas(self) -> dict[str, Quota]:
        return {o.id: o.quota for o in self.orgs if o.quota is not None}

    def weights(self) -> dict[str, float]:
        return {o.id: o.weight for o in self.orgs}

    def center(self, center_id: str) -> Center:
        for c in self.centers:
            if c.id == center_id:
                return c
        raise NotFoundError(f"no center {center_id!r} in province {self.key}", field="center")


def _need(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping):
        raise ValidationError("expected a mapping (key: value)", field=where)
    if key not in mapping or mapping[key] is None:
        raise ValidationError(f"missing key {key!r}", field=f"{where}.{key}" if where else key)
    return mapping[key]


def _str(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"expected text, got {value!r}", field=where)
    text = str(value).strip()
    if not text:
        raise ValidationError("cannot be empty", field=where)
    return text


def _int(value: Any, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"expected a whole number, got {value!r}", field=where)
    if value < minimum:
        raise ValidationError(f"must be at least {minimum}, got {value}", field=where)
    return value


def _money(value: Any, where: str) -> Money:
    if isinstance(value, float):
        raise ValidationError(f'write prices as quoted decimals (e.g. "12.50"), got {value!r}', field=where)
    try:
        amount = Money(value, field=where)
    except ZhisuanError as exc:
        raise ValidationError(exc.message, field=where) from None
    if amount.is_negative():
        raise ValidationError("a price cannot be negative", field=where)
    return amount


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool | float):
        raise ValidationError(f"write numbers as integers or quoted decimals, got {value!r}", field=where)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"not a number: {value!r}", field=where) from None


def _quota(raw: Any, where: str) -> Quota:
    if not isinstance(raw, Mapping):
        raise ValidationError("expected a mapping", field=where)
    known = {"max_cards", "max_cards_by_model", "monthly_budget_yuan", "monthly_card_hours"}
    for key in raw:
        if key not in known:
            raise ValidationError(f"unknown key {key!r}; one of {sorted(known)}", field=f"{where}.{key}")
    by_model: dict[str, int] = {}
    raw_models = raw.get("max_cards_by_model") or {}
    if not isinstance(raw_models, Mapping):
        raise ValidationError("expected model: cards", field=f"{where}.max_cards_by_model")
    for model, cards in raw_models.items():
        accelerator(str(model), field=f"{where}.max_cards_by_model.{model}")
        by_model[str(model)] = _int(cards, f"{where}.max_cards_by_model.{model}", 0)
    return Quota(
        max_cards=_int(raw["max_cards"], f"{where}.max_cards", 0)
        if raw.get("max_cards") is not None
        else None,
        max_cards_by_model=by_model,
        monthly_budget_yuan=(
            _money(raw["monthly_budget_yuan"], f"{where}.monthly_budget_yuan")
            if raw.get("monthly_budget_yuan") is not None
            else None
        ),
        monthly_card_hours=(
            _decimal(raw["monthly_card_hours"], f"{where}.monthly_card_hours")
            if raw.get("monthly_card_hours") is not None
            else None
        ),
    )


def _pool(raw: Any, where: str, center: str, city_code: str, operator: str) -> Pool:
    if not isinstance(raw, Mapping):
        raise ValidationError("expected a mapping", field=where)
    known = {"id", "accelerator", "nodes", "cards_per_node", "price", "bands", "engine"}
    for key in raw:
        if key not in known:
            raise ValidationError(f"unknown key {key!r}; one of {sorted(known)}", field=f"{where}.{key}")
    key = _str(_need(raw, "accelerator", where), f"{where}.accelerator")
    acc = accelerator(key, field=f"{where}.accelerator")
    if acc.fp16_tflops is None:
        raise ValidationError(
            f"{key} has no FP16 rating in the catalog; pick a rated model", field=f"{where}.accelerator"
        )
    bands: list[PriceBand] = []
    raw_bands = raw.get("bands") or []
    if not isinstance(raw_bands, list):
        raise ValidationError("expected a list of {from, to, price}", field=f"{where}.bands")
    for j, band in enumerate(raw_bands):
        bw = f"{where}.bands[{j}]"
        try:
            bands.append(
                PriceBand(
                    _int(_need(band, "from", bw), f"{bw}.from", 0),
                    _int(_need(band, "to", bw), f"{bw}.to", 0),
                    _money(_need(band, "price", bw), f"{bw}.price"),
                )
            )
        except ValidationError as exc:
            if exc.field and exc.field.startswith(bw):
                raise
            key = {"start_hour": "from", "end_hour": "to", "price": "price"}.get(exc.field or "", "")
            raise ValidationError(exc.message, field=f"{bw}.{key}" if key else bw) from None
    engine = _str(raw.get("engine", "simulated"), f"{where}.engine")
    if engine not in ENGINES:
        raise ValidationError(f"unknown engine {engine!r}; one of {sorted(ENGINES)}", field=f"{where}.engine")
    try:
        return Pool(
            id=_str(_need(raw, "id", where), f"{where}.id"),
            center=center,
            city=city_code,
            operator=operator,
            accelerator_key=key,
            nodes=_int(_need(raw, "nodes", where), f"{where}.nodes"),
            cards_per_node=_int(_need(raw, "cards_per_node", where), f"{where}.cards_per_node"),
            price=_money(_need(raw, "price", where), f"{where}.price"),
            bands=tuple(bands),
            engine=engine,
        )
    except ValidationError as exc:
        if exc.field and exc.field.startswith(where):
            raise
        raise ValidationError(exc.message, field=f"{where}.{exc.field or 'pool'}") from None


def parse_province(data: Any, key: str = "province") -> Province:
    """Build a province from parsed YAML, naming the offending key on any error."""
    if not isinstance(data, Mapping):
        raise ValidationError(
            "a province file is a mapping with `centers:` (and optionally `orgs:`)", field=""
        )
    raw_orgs = data.get("orgs") or []
    if not isinstance(raw_orgs, list):
        raise ValidationError("expected a list", field="orgs")
    orgs: list[OrgSpec] = []
    alias: dict[str, str] = {}
    by_code: dict[str, str] = {}
    for i, raw in enumerate(raw_orgs):
        where = f"orgs[{i}]"
        oid = _str(_need(raw, "id", where), f"{where}.id")
        code = raw.get("credit_code")
        if code:
            code = validate_credit_code(str(code), field=f"{where}.credit_code")
            by_code[code] = oid
        weight = raw.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | float | str) or Decimal(str(weight)) <= 0:
            raise ValidationError(
                f"a fair-share weight is a positive number, got {weight!r}", field=f"{where}.weight"
            )
        aliases = raw.get("aliases") or []
        if not isinstance(aliases, list):
            raise ValidationError("expected a list of names", field=f"{where}.aliases")
        for a in aliases:
            alias[str(a)] = oid
        quota = _quota(raw["quota"], f"{where}.quota") if raw.get("quota") is not None else None
        orgs.append(
            OrgSpec(
                id=oid,
                name=_str(_need(raw, "name", where), f"{where}.name"),
                credit_code=code or "",
                weight=float(Decimal(str(weight))),
                aliases=tuple(str(a) for a in aliases),
                quota=quota,
            )
        )
    if len({o.id for o in orgs}) != len(orgs):
        raise ValidationError("org ids must be unique", field="orgs")
    raw_centers = _need(data, "centers", "")
    if not isinstance(raw_centers, list) or not raw_centers:
        raise ValidationError("expected a non-empty list of centers", field="centers")
    centers: list[Center] = []
    seen_pools: set[str] = set()
    for i, raw in enumerate(raw_centers):
        where = f"centers[{i}]"
        cid = _str(_need(raw, "id", where), f"{where}.id")
        city_code = _str(_need(raw, "city", where), f"{where}.city")
        city(city_code, field=f"{where}.city")
        op = _need(raw, "operator", where)
        op_name = _str(_need(op, "name", f"{where}.operator"), f"{where}.operator.name")
        op_code = ""
        if op.get("credit_code"):
            op_code = validate_credit_code(str(op["credit_code"]), field=f"{where}.operator.credit_code")
        operator = by_code.get(op_code, op_code or op_name)
        raw_pools = _need(raw, "pools", where)
        if not isinstance(raw_pools, list) or not raw_pools:
            raise ValidationError("expected a non-empty list of pools", field=f"{where}.pools")
        pools = []
        for j, rp in enumerate(raw_pools):
            pool = _pool(rp, f"{where}.pools[{j}]", cid, city_code, operator)
            if pool.id in seen_pools:
                raise ValidationError(f"pool id {pool.id!r} appears twice", field=f"{where}.pools[{j}].id")
            seen_pools.add(pool.id)
            pools.append(pool)
        centers.append(
            Center(
                id=cid,
                name=_str(_need(raw, "name", where), f"{where}.name"),
                city=city_code,
                operator=op_name,
                operator_credit_code=op_code,
                pools=tuple(pools),
                name_en=_str(raw["name_en"], f"{where}.name_en") if "name_en" in raw else "",
            )
        )
    if len({c.id for c in centers}) != len(centers):
        raise ValidationError("center ids must be unique", field="centers")
    return Province(
        key=str(data.get("province", key)),
        name=str(data.get("name", key)),
        region=str(data.get("region", "")),
        centers=tuple(centers),
        orgs=tuple(orgs),
        _alias=alias,
    )


def load_province(name_or_path: str | Path) -> Province:
    """A shipped province by name (``demo``) or a YAML file path."""
    text: str
    key = str(name_or_path)
    if key in SHIPPED:
        text = resources.files("zhisuan.compute").joinpath("provinces", f"{key}.yaml").read_text("utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise NotFoundError(
                f"no province {key!r}: give a shipped name ({', '.join(SHIPPED)}) or a YAML file",
                field="province",
            )
        text = path.read_text("utf-8")
        key = path.stem
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ValidationError(f"not valid YAML: {getattr(exc, 'problem', exc)}", row=line) from None
    return parse_province(data, key)


__all__ = ["SHIPPED", "OrgSpec", "Province", "load_province", "parse_province"]
