"""The award workflow's pure rules: amounts, approvers, the round limit, notice states, duplicates."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhisuan.awards import model as m
from zhisuan.core.access import Principal, Role
from zhisuan.core.errors import ConflictError, PermissionDeniedError, ValidationError

T = dt.datetime(2026, 1, 10, 2, tzinfo=dt.UTC)
FROZEN = m.Frozen(
    eligible=True, max_fen=240_000, max_plain_fen=200_000, provisional=False, case_by_case_allowed=True
)


@given(
    max_plain=st.integers(1, 10**12),
    uplift=st.sampled_from([1, 6 / 5]),
    amount=st.integers(1, 10**13),
    confirmed=st.booleans(),
)
def test_an_approved_amount_never_exceeds_what_the_formula_allows(
    max_plain: int, uplift: float, amount: int, confirmed: bool
) -> None:
    frozen = m.Frozen(True, int(max_plain * uplift), max_plain, False, True)
    try:
        m.check_amount(frozen, amount, uplift_confirmed=confirmed, case_by_case=False, reason=None)
    except ValidationError:
        assert amount > m.limit(frozen, confirmed)
    else:
        assert amount <= (frozen.max_fen if confirmed else frozen.max_plain_fen)


def test_the_uplift_counts_only_once_a_reviewer_confirms_it() -> None:
    with pytest.raises(ValidationError, match="uplift is not confirmed"):
        m.check_amount(FROZEN, 240_000, uplift_confirmed=False, case_by_case=False, reason=None)
    m.check_amount(FROZEN, 240_000, uplift_confirmed=True, case_by_case=False, reason=None)
    m.check_amount(FROZEN, 200_000, uplift_confirmed=False, case_by_case=False, reason=None)


def test_case_by_case_needs_a_written_reason_and_a_measure_that_allows_it() -> None:
    with pytest.raises(ValidationError, match="written reason"):
        m.check_amount(FROZEN, 10**9, uplift_confirmed=False, case_by_case=True, reason="  ")
    m.check_amount(FROZEN, 10**9, uplift_confirmed=False, case_by_case=True, reason="省重大项目，一事一议")
    no = m.Frozen(True, 1, 1, False, case_by_case_allowed=False)
    with pytest.raises(ValidationError, match="no case-by-case"):
        m.check_amount(no, 10, uplift_confirmed=False, case_by_case=True, reason="重大项目")


def test_no_money_rests_on_a_provisional_parameter_or_an_ineligible_decision() -> None:
    with pytest.raises(ConflictError, match="provisional"):
        m.check_amount(
            m.Frozen(True, 100, 100, True, False), 50, uplift_confirmed=False, case_by_case=False, reason=None
        )
    with pytest.raises(ConflictError, match="not eligible"):
        m.check_amount(
            m.Frozen(False, 0, 0, False, False), 50, uplift_confirmed=False, case_by_case=False, reason=None
        )
    for bad in (0, -1, m.MAX_FEN + 1):
        with pytest.raises(ValidationError):
            m.check_amount(FROZEN, bad, uplift_confirmed=True, case_by_case=False, reason=None)


def test_two_distinct_approvers_agree_on_a_case_by_case_amount() -> None:
    first = [m.Approval(1, 5_000, True)]
    with pytest.raises(ConflictError, match="second, different"):
        m.check_second_approver(first, 1, 5_000)
    with pytest.raises(ConflictError, match="same amount"):
        m.check_second_approver(first, 2, 6_000)
    m.check_second_approver(first, 2, 5_000)
    assert not m.approvals_complete(first, case_by_case=True)
    assert not m.approvals_complete([*first, m.Approval(1, 5_000, True)], case_by_case=True)
    assert m.approvals_complete([*first, m.Approval(2, 5_000, True)], case_by_case=True)
    assert m.approvals_complete([m.Approval(3, 7, False)], case_by_case=False)


def test_a_round_grants_at_most_its_limit() -> None:
    m.check_round_limit(9, 10)
    with pytest.raises(ConflictError, match="10 awards"):
        m.check_round_limit(10, 10)
    m.check_round_limit(10_000, None)


def test_an_approved_award_is_in_notice_then_final_and_held_by_an_open_objection() -> None:
    ends = T + dt.timedelta(days=5)
    assert m.effective_state(m.State.APPROVED, ends, False, T) is m.State.NOTICE
    assert m.effective_state(m.State.APPROVED, ends, True, T) is m.State.HELD
    assert m.effective_state(m.State.APPROVED, ends, True, ends + dt.timedelta(days=30)) is m.State.HELD
    assert m.effective_state(m.State.APPROVED, ends, False, ends) is m.State.FINAL
    assert m.effective_state(m.State.PAID, ends, True, T) is m.State.PAID


def test_reviews_are_routed_to_the_applicants_city_then_the_province() -> None:
    org = m.Applicant("org", "340100", 7)
    city = m.Applicant("city", "341300")
    hefei = Principal(1, "hf", Role.CITY, city_code="340100")
    wuhu = Principal(2, "wh", Role.CITY, city_code="340200")
    pia = Principal(3, "pia", Role.PROVINCE)
    assert m.first_review(org) is m.State.CITY_REVIEW and m.first_review(city) is m.State.PROVINCE_REVIEW
    assert m.check_may_review(hefei, m.State.CITY_REVIEW, org) is m.Stage.CITY
    for who, state in (
        (wuhu, m.State.CITY_REVIEW),
        (pia, m.State.CITY_REVIEW),
        (hefei, m.State.PROVINCE_REVIEW),
    ):
        with pytest.raises(PermissionDeniedError):
            m.check_may_review(who, state, org)
    with pytest.raises(ConflictError):
        m.check_may_review(pia, m.State.DRAFT, org)
    assert m.may_edit(Principal(4, "a", Role.USER, org_id=7), org)
    assert not m.may_edit(Principal(5, "b", Role.USER, org_id=8), org)
    assert not m.may_edit(hefei, org)


def test_duplicate_funding_is_flagged_by_kind_and_the_2025_bar_named() -> None:
    others = [
        m.Claim(1, "anhui-2025/art1", "approved", 100),
        m.Claim(2, "anhui-2025/art2", "city_review", None),
        m.Claim(3, "art5", "paid", 10),
        m.Claim(4, "art5", "rejected", None),
        m.Claim(9, "anhui-2025/art2", "draft", None),
    ]
    got = [(d.kind, d.other.application_id) for d in m.duplicates("anhui-2025/art2", 9, others)]
    assert got == [("after_2025_art1", 1), ("same_program", 2), ("other_program", 3)]
    assert "2.0" in m.duplicates("anhui-2025/art2", 9, others)[0].text_zh()


def test_project_references_are_normalised_and_reasons_keep_chinese_punctuation() -> None:
    assert m.clean_ref(" ｈｆ-ZS-01 ") == "HF-ZS-01"
    for bad in ("", "a\u202eb", "x" * 101, 5):
        with pytest.raises(ValidationError):
            m.clean_ref(bad)
    assert m.clean_reason("经核实，无重复。") == "经核实，无重复。"
    with pytest.raises(ValidationError):
        m.clean_reason("ok\x00ok")
