"""Chinese first, English on request: message catalogs (Babel .po files) loaded at start.

Templates and code write English msgids; ``locale/zh/*.po`` (one file per context) give the Chinese.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from babel.messages.pofile import read_po
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


@cache
def catalog(lang: str) -> dict[str, str]:
    """msgid → translation for ``lang`` (English is the msgid itself)."""
    if lang == "en":
        return {}
    folder = resources.files("zhisuan.web").joinpath("locale").joinpath(lang)
    messages: dict[str, str] = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".po"):
            continue
        with item.open("rb") as fh:
            po = read_po(fh, locale=lang)
        for message in po:
            if message.id and isinstance(message.id, str) and message.string:
                messages[message.id] = str(message.string)
    return messages


def gettext(lang: str, text: str) -> str:
    return catalog(lang).get(text, text)


def pick_language(query: str | None, cookie: str | None) -> str:
    """?lang= beats the cookie; otherwise Chinese, whatever the browser prefers (Chinese first)."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


#: how long a ``?lang=`` choice is remembered (the ``lang`` cookie)
LANG_COOKIE_S = 365 * 86400


class LanguageMiddleware:
    """Pure ASGI middleware: ``request.state.lang`` from ``?lang=`` or the ``lang`` cookie, and the
    cookie set when ``?lang=`` chose (no task or stream per request, unlike ``@app.middleware``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = HTTPConnection(scope)
        query = asked.query_params.get("lang")
        scope.setdefault("state", {})["lang"] = pick_language(query, asked.cookies.get("lang"))
        if query not in LANGUAGES:
            await self.app(scope, receive, send)
            return
        cookie = Response()
        cookie.set_cookie("lang", str(query), max_age=LANG_COOKIE_S, samesite="lax")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in cookie.raw_headers:
                    if name == b"set-cookie":
                        headers.append("set-cookie", value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
