"""Pages: the policy pack browser and "what would I get?" — fill in the facts, see the decision and its steps.

Public: no login is needed to browse packs or to try a case. The form is a GET, so a result is a
link that can be shared, and nothing is stored.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from zhisuan.core.clock import SHANGHAI
from zhisuan.core.errors import NotFoundError, ZhisuanError
from zhisuan.core.regions import region
from zhisuan.policy import Decision, evaluate
from zhisuan.policy.browse import article_rows, describe, pack_summary, packs_by_today
from zhisuan.policy.packset import packs_period
from zhisuan.policy.schema import FactSpec
from zhisuan.web import display, listing
from zhisuan.web.deps import PlatformDep, PrincipalDep
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(NavItem("/policy", "Policies", order=40, group="Policy"))

OUTSIDE = "000000"  # a 6-digit code outside the pack's region: "elsewhere"


def _today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


ARTICLES = ListSpec(
    "articles",
    "Policy articles",
    (
        Column("n", "#", "num"),
        Column("pack_title", "Pack", filter=True),
        Column("article", "Article"),
        Column("name", "Measure", link=lambda r: f"/policy/{r['article']}?pack={r['pack']}"),
        Column("effective", "Judges events"),
        Column("replaced_by", "Replaced by"),
        Column("provisional", "Parameters", "word", filter=True),
        Column("grants", "Grants", "word", filter=True),
        Column("payee", "Payee", "word", filter=True),
        Column("lead_units", "Lead unit"),
        Column("in_force", "In force today", "word", filter=True),
    ),
    sort="n",
    attrs=lambda r: {"pack": r["pack"]},
)
PAYEES = {"applicant": "the applicant", "city": "the city government"}


def _article_rows(
    rows: list[dict[str, object]], titles: dict[str, str], today: dt.date, lang: str
) -> list[dict[str, object]]:
    """The browser's rows as the list reads them: names in ``lang``, each part's lead unit on one line,
    whether the version judges events dated ``today`` (its period ``from..to``, both days in, ``…`` open)."""

    def in_force(period: object) -> bool:
        start, _, end = str(period).partition("..")
        return start <= today.isoformat() and (end == "…" or today.isoformat() <= end)

    def units(row: dict[str, object]) -> str:
        parts = row["units"] if isinstance(row["units"], list) else []
        return "；".join(
            (f"{u['part_zh' if lang == 'zh' else 'part_en']}：" if u["part_zh"] else "") + str(u["lead_unit"])
            for u in parts
        )

    return [
        {
            "n": n,
            "pack": r["pack"],
            "pack_title": titles.get(str(r["pack"]), str(r["pack"])),
            "article": r["article"],
            "name": r["name_zh"] if lang == "zh" else r["name_en"],
            "effective": r["effective"],
            "replaced_by": r["replaced_by"] or "",
            "provisional": "provisional" if r["provisional"] else "",
            "grants": r["grants"],
            "payee": PAYEES.get(str(r["payee"]), str(r["payee"])),
            "lead_units": units(r),
            "in_force": "yes" if in_force(r["effective"]) else "no",
        }
        for n, r in enumerate(rows, start=1)
    ]


@router.get("/policy", response_model=None)
def browser(request: Request, who: PrincipalDep, platform: PlatformDep) -> Response:
    """Every pack, and every article version as one list with the dates it judges events."""
    packs = platform.packs.current()
    today = _today()
    lang = getattr(request.state, "lang", "zh")
    live, expired = packs_by_today(packs, today)
    summaries = [{**pack_summary(p), "in_force": True} for p in live]
    summaries += [{**pack_summary(p), "in_force": False} for p in expired]
    titles = {str(p["id"]): str(p["title_zh"] if lang == "zh" else p["title_en"]) for p in summaries}
    rows = _article_rows(article_rows(packs, today), titles, today, lang)
    lv = listing.view(request, ARTICLES, rows)
    if isinstance(lv, Response):
        return lv
    return render(request, "policy/index.html", {"packs": summaries, "lv": lv, "today": today})


def _cities(region_code: str) -> list[tuple[str, str, bool]]:
    try:
        r = region(region_code)
    except NotFoundError:
        return []
    return [(c.code, f"{c.name_zh} {c.name_en}", c.northern_anhui) for c in r.cities]


def _facts_from_query(specs: tuple[FactSpec, ...], query: dict[str, str]) -> dict[str, object]:
    """Form fields ``f_<fact>`` → facts; empty optional fields are left out, types checked by the engine."""
    facts: dict[str, object] = {}
    for spec in specs:
        raw = query.get(f"f_{spec.name}", "").strip()
        if raw == "":
            if spec.required and spec.type == "bool":
                facts[spec.name] = False  # an unticked box
            continue  # a missing required fact: the engine names the field
        facts[spec.name] = raw
    return {k: v for k, v in facts.items() if v != ""}


@router.get("/policy/{article}", response_class=HTMLResponse)
def article_page(
    request: Request,
    article: str,
    who: PrincipalDep,
    platform: PlatformDep,
    on: str | None = None,
    pack: str | None = None,
    evaluate_case: int = 0,
) -> HTMLResponse:
    """An article: parameters in force with history, rules, evidence, and the "what would I get?" form."""
    packs = platform.packs.current()
    if not packs.knows(article, pack or None):
        raise NotFoundError(f"no article {article!r}", field="article")
    lang = getattr(request.state, "lang", "zh")
    day = _today()
    error: str | None = None
    error_field: str | None = None
    if on:
        try:
            day = dt.date.fromisoformat(on)
        except ValueError:
            error, error_field = f"not an ISO date (YYYY-MM-DD): {on!r}", "on"
    pack = pack or None
    try:
        version = packs.resolve(article, day, pack)
    except ZhisuanError as exc:
        version, error, error_field = None, exc.message, exc.field
    # the form shows the facts of the version in force, or of the latest version when none is
    own = packs.pack(pack).articles.get(article) if pack else None
    base = [v for v in packs.versions(article) if packs.base_numbering(v.pack_id)]
    shown = version or own or (base or packs.versions(article))[-1]
    info = describe(shown, packs, day)
    query = dict(request.query_params)
    decision: Decision | None = None
    facts: dict[str, object] = {}
    if evaluate_case and error is None:
        facts = _facts_from_query(shown.facts, query)
        try:
            decision = evaluate(article, facts, day, packs, pack)
        except ZhisuanError as exc:
            error, error_field = exc.message, exc.field
    versions = [{"pack": v.pack_id, "effective": packs_period(packs, v)} for v in packs.versions(article)]
    pack_region = packs.pack(shown.pack_id).region
    return render(
        request,
        "policy/article.html",
        {
            "article": article,
            "version": shown,
            "words": display.pack_words(shown, lang),
            "in_force": version is not None,
            "superseded_by": packs.superseded_by(article, day, pack) if error is None else None,
            "replaced_by": info.get("superseded"),
            "info": info,
            "on": day.isoformat(),
            "pack": pack or "",
            "versions": versions,
            "decision": decision,
            "error": error,
            "error_field": error_field,
            "values": {k[2:]: v for k, v in query.items() if k.startswith("f_")},
            "cities": _cities(pack_region),
            "facts": facts,
            "outside": OUTSIDE,
            "reasons": [r.text(lang) for r in decision.reasons] if decision else [],
            "decision_parts": [p.to_dict(lang) for p in decision.parts] if decision else [],
            "pack_info": pack_summary(packs.pack(shown.pack_id)),
            "evaluated": bool(evaluate_case),
        },
    )
