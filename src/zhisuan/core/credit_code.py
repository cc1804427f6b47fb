"""Unified social credit codes (统一社会信用代码, GB 32100-2015): 18 characters, last one a check digit."""

from __future__ import annotations

from zhisuan.core.errors import ValidationError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(first17: str) -> str:
    """The check character for the first 17 characters."""
    total = sum(ALPHABET.index(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(code: str, field: str = "credit_code") -> str:
    """Return the normalised code or raise a ValidationError saying what is wrong.

    >>> validate_credit_code("91350100M000100Y43")
    '91350100M000100Y43'
    """
    text = code.strip().upper()
    if len(text) != 18:
        raise ValidationError(f"a unified social credit code has 18 characters, got {len(text)}", field=field)
    for pos, ch in enumerate(text, start=1):
        if ch not in ALPHABET:
            raise ValidationError(
                f"character {pos} ({ch!r}) is not allowed in a credit code"
                " (letters I, O, S, V, Z never appear)",
                field=field,
            )
    expected = check_character(text[:17])
    if text[17] != expected:
        raise ValidationError(
            f"check digit is {text[17]!r} but the first 17 characters require {expected!r}", field=field
        )
    return text


def make_credit_code(first17: str) -> str:
    """Complete 17 characters with their check character (for demo and test data)."""
    body = first17.upper()
    if len(body) != 17 or any(ch not in ALPHABET for ch in body):
        raise ValidationError(f"not 17 credit-code characters: {first17!r}", field="credit_code")
    return body + check_character(body)
