"""Text from outside: names normalised (NFKC) and free of control and direction-override characters.

A NUL cannot be stored by PostgreSQL, a right-to-left override makes ``admin‮txt`` read as something
else, and a full-width ``ａｄｍｉｎ`` looks like ``admin``: names are normalised and such characters refused
before anything is written.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

from zhisuan.core.errors import ValidationError

#: line breaks and tabs are allowed in free text (a job's command), never in a name
_TEXT_WHITESPACE = frozenset("\t\n\r")


def _refused(ch: str, *, multiline: bool) -> bool:
    if multiline and ch in _TEXT_WHITESPACE:
        return False
    # Cc: control characters (NUL, ESC …); Cf: format characters (bidi overrides, zero-width joiners)
    return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"}


def clean_name(value: str, field: str | None = None, *, max_length: int = 200) -> str:
    """A name or identifier: NFKC-normalised, stripped, one line, no control or format characters.

    >>> clean_name(" ａｄｍｉｎ ")
    'admin'
    >>> clean_name("bad\\u202ename", "username")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zhisuan.core.errors.ValidationError: username: control or direction characters are not allowed ...
    """
    text = unicodedata.normalize("NFKC", value).strip()
    if any(_refused(ch, multiline=False) for ch in text):
        raise ValidationError(
            "control or direction characters are not allowed in a name (U+"
            + f"{ord(next(ch for ch in text if _refused(ch, multiline=False))):04X})",
            field=field,
        )
    if len(text) > max_length:
        raise ValidationError(f"at most {max_length} characters", field=field)
    return text


def clean_text(value: str, field: str | None = None, *, max_length: int = 100_000) -> str:
    """Free text (a command, a reason): tabs and line breaks allowed, other control characters refused."""
    bad = next((ch for ch in value if _refused(ch, multiline=True)), None)
    if bad is not None:
        raise ValidationError(f"control characters are not allowed (U+{ord(bad):04X})", field=field)
    if len(value) > max_length:
        raise ValidationError(f"at most {max_length} characters", field=field)
    return value


def _name(value: str) -> str:
    try:
        return clean_name(value, max_length=100_000)
    except ValidationError as exc:  # pydantic names the field of a ValueError
        raise ValueError(exc.message) from None


def _text(value: str) -> str:
    try:
        return clean_text(value)
    except ValidationError as exc:
        raise ValueError(exc.message) from None


#: a pydantic field type for names and identifiers (lengths are the field's own)
Name = Annotated[str, AfterValidator(_name)]
#: a pydantic field type for free text
Text = Annotated[str, AfterValidator(_text)]

__all__ = ["Name", "Text", "clean_name", "clean_text"]
