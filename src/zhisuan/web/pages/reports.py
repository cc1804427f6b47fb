"""Pages: the province dashboard — Anhui's cities on a map coloured by capacity or utilisation, capacity by
vendor, utilisation by day, vouchers and awards by measure, city and month, budget burn, queue and wait."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from zhisuan.core.money import Money
from zhisuan.policy import PackSet
from zhisuan.reports.province import VENDOR_CLASSES, province_figures
from zhisuan.web import display
from zhisuan.web.deps import PlatformDep, PrincipalDep, UowDep
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(
    NavItem("/dashboard", "Province dashboard", roles=("province", "finance", "data_bureau", "city"), order=5)
)

DAYS = (7, 14, 30, 90)


def measure_name(program: str, packs: PackSet, lang: str) -> str:
    """A measure as people name it: 'art2 算力券', a city program by its pack's title."""
    pack_id, _, article = program.rpartition("/")
    for pack in packs:
        if pack_id and pack.id != pack_id:
            continue
        version = pack.articles.get(article or program)
        if version is not None:
            return f"{article or program} {version.name_zh if lang == 'zh' else version.name_en}"
    for pack in packs:
        if pack.id == program:
            return str(pack.title_zh if lang == "zh" else pack.title_en)
    return program


@router.get("/dashboard", response_class=HTMLResponse)
def province_dashboard(
    request: Request,
    uow: UowDep,
    who: PrincipalDep,
    platform: PlatformDep,
    days: Annotated[int, Query(ge=1, le=92)] = 14,
) -> HTMLResponse:
    lang: str = request.state.lang
    figures = province_figures(uow, who, platform.clock.now(), days)
    packs = platform.packs.current()
    data = figures.as_dict()
    names = {
        "cities": {c.code: display.city_name(c.code, lang) for c in figures.cities},
        "cities_zh": {c.code: display.city_name(c.code, "zh") for c in figures.cities},
        "measures": {
            m: measure_name(m, packs, lang)
            for m in {row[0] for row in (*figures.vouchers, *figures.awards, *figures.burn)}
        },
    }
    return render(
        request,
        "reports/province.html",
        {
            "f": figures,
            "data": data,
            "names": names,
            "vendors": VENDOR_CLASSES,
            "days_choices": DAYS,
            "fen": lambda fen: display.yuan(str(Money.from_fen(int(fen)))),
        },
    )
