from fractions import Fraction

import pytest

from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import OrgId
from zhisuan.core.orgs import Ownership, OwnershipGraph, share_from_percent

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
