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
    """A link in the top navigation; ``roles`` empty means everyone sees it; ``group`` names the menu it
    sits in (one of :data:`NAV_GROUPS`), empty for a link on the bar itself."""

    path: str
    label: str  # English msgid
    roles: tuple[str, ...] = ()
    order: int = 50
    group: str = ""

    def __post_init__(self) -> None:
        if self.group and self.group not in NAV_GROUPS:
            raise ValueError(f"nav {self.path}: group {self.group!r} is not one of {NAV_GROUPS}")


#: the menus the bar groups links into by area (English msgids): a role seeing two or more links of an
#: area gets one menu instead of a bar that wraps; one link of an area stays on the bar
NAV_GROUPS = ("Compute", "Policy", "Funds", "Data", "Registries")


@dataclass(frozen=True, slots=True)
class NavEntry:
    """One place on the bar: a link, or a menu (``label``) of links."""

    label: str
    items: tuple[NavItem, ...]

    @property
    def menu(self) -> bool:
        return len(self.items) > 1

    def active(self, path: str) -> bool:
        return any(is_current(i, path) for i in self.items)


NAV: list[NavItem] = []


def add_nav(*items: NavItem) -> None:
    for item in items:
        if item.path not in {n.path for n in NAV}:
            NAV.append(item)
    NAV.sort(key=lambda n: (n.order, n.path))


def is_current(item: NavItem, path: str) -> bool:
    """Whether ``path`` is the item's page or under it (the home page only for itself)."""
    return path == "/" if item.path == "/" else path == item.path or path.startswith(item.path + "/")


def nav_entries(items: list[NavItem]) -> list[NavEntry]:
    """The bar for the links a caller sees: links of a group with two or more of them become one menu,
    placed where the group's first link would be."""
    entries: list[NavEntry] = []
    for item in items:
        if not item.group:
            entries.append(NavEntry(item.label, (item,)))
            continue
        if any(e.items[0].group == item.group for e in entries):
            continue
        same = tuple(i for i in items if i.group == item.group)
        entries.append(NavEntry(item.group if len(same) > 1 else item.label, same))
    return entries


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
        "nav": nav_entries(nav),
        "is_current": lambda item: is_current(item, request.url.path),
        "csrf_token": csrf_token(request),
        "_": _,
        "gettext": _,
        "path": request.url.path,
        # how values read (web/display.py): city names, ¥ amounts, Shanghai times, steps in the language
        "city_name": lambda code: display.city_name(code, lang),
        "yuan": display.yuan,
        "one_language": lambda text: display.one_language(str(text), lang),
        "sh": display.shanghai,
        "step_text": lambda step, orgs=None, words=None: display.step_text(step, lang, orgs, words),
    }
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status_code)
