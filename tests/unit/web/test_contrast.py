"""Text on the pages keeps a WCAG contrast of at least 4.5:1 (the stylesheet's colours, computed)."""

from __future__ import annotations

import re
from importlib import resources

import pytest

CSS = resources.files("zhisuan.web").joinpath("static/zhisuan.css").read_text(encoding="utf-8")
VARS = dict(re.findall(r"--(\w+):(#[0-9a-fA-F]{6})", CSS))


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("text", ["ink", "muted", "accent", "brand", "ok", "warn"])
@pytest.mark.parametrize("background", ["bg", "card"])
def test_text_colours_are_readable_on_the_page_backgrounds(text: str, background: str) -> None:
    assert contrast(VARS[text], VARS[background]) >= 4.5


def test_the_contrast_formula_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
