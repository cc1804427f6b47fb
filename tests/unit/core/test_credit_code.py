import pytest

from zhisuan.core.credit_code import make_credit_code, validate_credit_code
from zhisuan.core.errors import ValidationError


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L"])
def test_known_good_codes_pass(code: str) -> None:
    assert validate_credit_code(code) == code


def test_lower_case_is_normalised() -> None:
    assert validate_credit_code("91350100m000100y43") == "91350100M000100Y43"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y44", "check digit"),
        ("91350100M000100I43", "not allowed"),
        ("9135010OM000100Y43", "not allowed"),
    ],
)
def test_bad_codes_are_refused_with_a_reason(code: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        validate_credit_code(code)
    assert info.value.field == "credit_code"


def test_generated_codes_validate() -> None:
    code = make_credit_code("91340100MA2TGXKL4")
    assert validate_credit_code(code) == code
