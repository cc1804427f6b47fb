"""Shared values for policy tests: the evaluation contract's keys, in the documented order (POLICY.md)."""

from __future__ import annotations

#: the keys of one answer, in order, for an article that answers in one part and rests on no
#: provisional parameter (``provisional_parameters``, ``superseded_by`` and ``parts`` appear when they apply)
CONTRACT_KEYS = [
    "id",
    "program",
    "pack",
    "on",
    "in_force",
    "eligible",
    "amount",
    "payee",
    "case_by_case",
    "provisional",
    "steps",
    "reasons",
]
