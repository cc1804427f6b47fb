"""Every English msgid the pages use has its Chinese: templates, navigation, role-home tiles and lists."""

from __future__ import annotations

import re
from importlib import resources

from zhisuan.web.i18n import catalog

#: ``_("…")`` / ``_('…')`` with a literal inside (dynamic ``_(value)`` calls are checked by the lists below)
LITERAL = re.compile(r"""(?<![\w.])_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)]""")


def _templates() -> dict[str, str]:
    root = resources.files("zhisuan.web").joinpath("templates")
    out: dict[str, str] = {}

    def walk(folder: object, prefix: str) -> None:
        for item in folder.iterdir():  # type: ignore[attr-defined]
            if item.is_dir():
                walk(item, f"{prefix}{item.name}/")
            elif item.name.endswith(".html"):
                out[prefix + item.name] = item.read_text(encoding="utf-8")

    walk(root, "")
    return out


def template_msgids() -> dict[str, set[str]]:
    """msgid → the templates that use it."""
    used: dict[str, set[str]] = {}
    for name, text in _templates().items():
        for m in LITERAL.finditer(text):
            msgid = m.group(1) if m.group(1) is not None else m.group(2)
            used.setdefault(msgid.replace('\\"', '"').replace("\\'", "'"), set()).add(name)
    return used


def code_msgids() -> dict[str, str]:
    """msgid → where code declares it: navigation, role-home tiles, list titles and column labels."""
    import importlib
    import pkgutil

    from zhisuan.web import pages
    from zhisuan.web.app import create_app  # noqa: F401  (importing the pages registers nav and tiles)
    from zhisuan.web.homes import TILES
    from zhisuan.web.listing import ListSpec

    for module in pkgutil.walk_packages(pages.__path__, f"{pages.__name__}."):  # every page's lists
        importlib.import_module(module.name)
    from zhisuan.web.templating import NAV, NAV_GROUPS

    out: dict[str, str] = {}
    for nav in NAV:
        out[nav.label] = f"nav {nav.path}"
    for group in NAV_GROUPS:
        out[group] = "nav menu"
    for tile in TILES:
        out[tile.label] = f"tile {tile.key}"
        if tile.note:
            out[tile.note] = f"tile {tile.key} note"
    import gc

    for obj in gc.get_objects():
        if isinstance(obj, ListSpec):
            out[obj.title] = f"list {obj.name}"
            for c in obj.columns:
                if c.label != "#":
                    out[c.label] = f"list {obj.name} column {c.key}"
    return out


#: words the pages translate from values (states, hold kinds, vendor classes, roles, scopes)
VALUE_WORDS = (
    "queued", "placed", "running", "completed", "failed", "cancelled",
    "draft", "issued", "paid", "void",
    "granted", "pro_rated", "clawback", "provisional", "replaced", "not_in_force", "ineligible",
    "capacity", "quota", "budget", "unavailable", "unrunnable", "engine", "reserved",
    "nvidia", "domestic", "other",
    "user", "org_admin", "operator", "city", "province", "finance", "data_bureau", "admin",
    "none", "own",
    "self_use", "in_force", "cap", "round", "stacking", "not_with", "clawback", "rejudged",
)  # fmt: skip


def test_every_template_msgid_has_chinese() -> None:
    zh = catalog("zh")
    missing = {m: sorted(where) for m, where in template_msgids().items() if m not in zh}
    assert not missing, f"msgids without a Chinese translation (add them to web/locale/zh/*.po): {missing}"


def test_every_msgid_declared_in_code_has_chinese() -> None:
    zh = catalog("zh")
    missing = {m: where for m, where in code_msgids().items() if m not in zh}
    assert not missing, f"msgids without a Chinese translation: {missing}"


def test_words_translated_from_values_have_chinese() -> None:
    zh = catalog("zh")
    assert [w for w in VALUE_WORDS if w not in zh] == []


def test_the_extractor_finds_msgids_and_would_catch_a_missing_one() -> None:
    used = template_msgids()
    assert "Log in" in used and "Home" in code_msgids()
    assert LITERAL.findall('{{ _("Not translated anywhere") }}') == [("Not translated anywhere", "")]
    assert "Not translated anywhere" not in catalog("zh")


def test_english_is_the_msgid_itself() -> None:
    assert catalog("en") == {}


def test_no_msgid_has_two_different_chinese_translations_across_catalogs() -> None:
    """The catalogs are merged into one: a msgid two contexts translate differently would show one of
    them on the other's pages (matching's "none" once read 无 instead of 暂无)."""
    from babel.messages.pofile import read_po

    root = resources.files("zhisuan.web").joinpath("locale", "zh")
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for item in sorted(root.iterdir(), key=lambda i: i.name):
        if not item.name.endswith(".po"):
            continue
        with item.open("rb") as fh:
            for message in read_po(fh):
                if not message.id or not isinstance(message.id, str):
                    continue
                first = seen.setdefault(message.id, (item.name, str(message.string)))
                if first[1] != message.string:
                    clashes.append((message.id, first, (item.name, message.string)))
    assert clashes == []
