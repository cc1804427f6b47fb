"""Chinese first, English on request: message catalogs (Babel .po files) loaded at start.

Templates and code write English msgids; ``locale/zh/*.po`` (one file per context) give the Chinese.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from babel.messages.pofile import read_po

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
