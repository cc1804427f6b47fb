"""Regions (provinces) and their cities, loaded from shipped data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

import yaml

from zhisuan.core._data import read_csv, read_text
from zhisuan.core.errors import NotFoundError, ValidationError
from zhisuan.core.ids import CityCode

#: the city code facts carry for an organization whose city is not recorded (matches no city's rules)
UNKNOWN_CITY: Final = "000000"


@dataclass(frozen=True, slots=True)
class City:
    """A prefecture-level city with its GB/T 2260 division code."""

    code: CityCode
    name_zh: str
    name_en: str
    region_code: str
    northern_anhui: bool

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True, slots=True)
class Region:
    """A province-level region and its cities."""

    code: str
    name_zh: str
    name_en: str
    cities: tuple[City, ...]

    def name(self, lang: str = "zh") -> str:
        return self.name_zh if lang == "zh" else self.name_en


def _truth(text: str, field: str) -> bool:
    low = text.strip().lower()
    if low in {"true", "1", "yes"}:
        return True
    if low in {"false", "0", "no", ""}:
        return False
    raise ValidationError(f"not a boolean: {text!r}", field=field)


@cache
def regions() -> tuple[Region, ...]:
    """Every region zhisuan ships, with its cities."""
    spec = yaml.safe_load(read_text("regions.yaml"))
    out: list[Region] = []
    for item in spec["regions"]:
        code = str(item["code"])
        cities = tuple(
            City(
                code=CityCode(row["code"]),
                name_zh=row["name_zh"],
                name_en=row["name_en"],
                region_code=code,
                northern_anhui=_truth(row["northern_anhui"], "northern_anhui"),
            )
            for row in read_csv(item["cities_file"])
        )
        out.append(Region(code=code, name_zh=item["name_zh"], name_en=item["name_en"], cities=cities))
    return tuple(out)


@cache
def _by_code() -> dict[str, City]:
    return {c.code: c for r in regions() for c in r.cities}


def all_cities() -> tuple[City, ...]:
    return tuple(_by_code().values())


def city(code: str, field: str = "city") -> City:
    """The city with a 6-digit division code, or a clear error."""
    found = _by_code().get(str(code).strip())
    if found is None:
        raise NotFoundError(
            f"no city with division code {code!r} (expected e.g. 340100 for 合肥市)", field=field
        )
    return found


def is_city(code: str) -> bool:
    return str(code).strip() in _by_code()


def region(code: str) -> Region:
    for r in regions():
        if r.code == code:
            return r
    raise NotFoundError(f"no region with code {code!r}", field="region")


def is_northern_anhui(code: str) -> bool:
    """Whether a city is one of the six 皖北 cities (POLICY.md, Terms)."""
    return city(code).northern_anhui
