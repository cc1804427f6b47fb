from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import OrgId
from zhisuan.core.orgs import RELATED_PARTY_SHARE, Ownership, OwnershipGraph, share_from_percent

A, B, C, D, E = (OrgId(i) for i in range(1, 6))


def link(owner: OrgId, owned: OrgId, percent: str, controls: bool = False) -> Ownership:
    return Ownership(owner, owned, share_from_percent(percent), controls)


def test_direct_shareholding_of_20_percent_makes_related_parties_either_way() -> None:
    graph = OwnershipGraph.of([link(A, B, "20")])
    assert graph.related(A, B)
    assert graph.related(B, A)


def test_just_under_20_percent_is_not_related() -> None:
    graph = OwnershipGraph.of([link(A, B, "19.99")])
    assert not graph.related(A, B)


def test_a_chain_of_shareholdings_multiplies() -> None:
    # A holds 60% of B, B holds 40% of C: A holds 24% of C through B.
    graph = OwnershipGraph.of([link(A, B, "60"), link(B, C, "40")])
    assert graph.effective_share(A, C) == Fraction(24, 100)
    assert graph.related(A, C)
    # 40% × 40% = 16%: not enough
    weak = OwnershipGraph.of([link(A, B, "40"), link(B, C, "40")])
    assert not weak.related(A, C)


def test_same_ultimate_controller_makes_siblings_related() -> None:
    # A controls B (parent link) and owns 51% of C: B and C share the ultimate controller A.
    graph = OwnershipGraph.of([link(A, B, "10", controls=True), link(A, C, "51"), link(C, D, "5")])
    assert graph.ultimate_controller(B) == A
    assert graph.ultimate_controller(C) == A
    assert graph.related(B, C)
    assert not graph.related(B, D)  # D is only 5% owned by C, controlled by nobody
    assert not graph.related(A, E)


def test_cycles_do_not_loop_forever() -> None:
    graph = OwnershipGraph.of([link(A, B, "60"), link(B, A, "60")])
    assert graph.related(A, B)
    assert graph.effective_share(A, B) <= 1


def test_bad_percentages() -> None:
    with pytest.raises(ValidationError):
        share_from_percent("0")
    with pytest.raises(ValidationError):
        share_from_percent("100.5")
    with pytest.raises(ValidationError):
        share_from_percent(20.0)  # type: ignore[arg-type]


_ORGS = st.integers(1, 6).map(OrgId)
_LINKS = st.lists(
    st.tuples(_ORGS, _ORGS, st.integers(1, 100), st.booleans()).filter(lambda t: t[0] != t[1]), max_size=8
)


@given(_LINKS, st.integers(1, 8).map(OrgId), st.integers(1, 8).map(OrgId))
def test_related_is_its_definition_for_linked_and_unlinked_organizations(
    links: list[tuple[OrgId, OrgId, int, bool]], a: OrgId, b: OrgId
) -> None:
    """Same organization, same ultimate controller, or a look-through holding of 20% either way; the
    shortcut for organizations in no link (7 and 8 here, and any 1–6 no link names) changes nothing."""
    graph = OwnershipGraph.of([Ownership(o, d, Fraction(p, 100), c) for o, d, p, c in links])
    expected = (
        a == b
        or graph.ultimate_controller(a) == graph.ultimate_controller(b)
        or graph.effective_share(a, b) >= RELATED_PARTY_SHARE
        or graph.effective_share(b, a) >= RELATED_PARTY_SHARE
    )
    assert graph.related(a, b) is expected
