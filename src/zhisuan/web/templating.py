"""Jinja2 pages with the language, the caller and the navigation filled in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from zhisuan.core.access import Principal
from zhisuan.web import display
from zhisuan.web.deps import csrf_token
from zhisuan.web.i18n import gettext


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the top navigation; ``roles`` empty means everyone sees it."""

    path: str
    label: str  # English msgid
    roles: tuple[str, ...] = ()
    order: int = 50


NAV: list[NavItem] = []


def add_nav(*items: NavItem) -> None:
    for item in items:
        if item.path not in {n.path for n in NAV}:
            NAV.append(item)
    NAV.sort(key=lambda n: (n.order, n.path))


env = Environment(
    loader=PackageLoader("zhisuan.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    lang: str = getattr(request.state, "lang", "zh")
    who: Principal | None = getattr(request.state, "principal", None)

    def _(text: str) -> str:
        return gettext(lang, text)

    role = str(who.role) if who is not None and who.role is not None else ""
    nav = [n for n in NAV if not n.roles or role in n.roles or role == "admin"]
    ctx: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "who": who,
        "nav": nav,
        "csrf_token": csrf_token(request),
        "_": _,
        "gettext": _,
        "path": request.url.path,
        # how values read (web/display.py): city names, ¥ amounts, Shanghai times, steps in the language
        "city_name": lambda code: display.city_name(code, lang),
        "yuan": display.yuan,
        "sh": display.shanghai,
        "step_text": lambda step, orgs=None, words=None: display.step_text(step, lang, orgs, words),
    }
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status_code)
