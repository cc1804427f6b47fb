import pytest

from zhisuan.core.errors import ValidationError
from zhisuan.core.text import clean_name, clean_text


def test_names_are_nfkc_normalised_and_stripped() -> None:
    assert clean_name(" ａｄｍｉｎ ") == "admin"
    assert clean_name("合肥算力中心") == "合肥算力中心"


@pytest.mark.parametrize("bad", ["a\x00b", "a\tb", "a\u202eb", "a\u200bb", "a\x1bb", "a\nb"])
def test_names_refuse_control_and_format_characters(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        clean_name(bad, "name")
    assert err.value.field == "name"


def test_free_text_keeps_lines_and_tabs_but_refuses_nul_and_overrides() -> None:
    assert clean_text("python train.py\n\t--epochs 3") == "python train.py\n\t--epochs 3"
    for bad in ("a\x00", "a\u202e", "\x1b[31m"):
        with pytest.raises(ValidationError):
            clean_text(bad, "command")
