"""Rules as code: policy packs (YAML, dated parameters) and a pure engine that explains each decision.

The public surface, for other contexts and for the CLI, web and benchmarks:

* :class:`PackSource` — the shipped packs plus the administrators' ``*.yaml`` folder, validated once
  and reloaded when a new version is published (the platform holds one: ``platform.packs.current()``);
  :func:`load_pack_set` builds a :class:`PackSet` from files directly.
* :func:`evaluate` — one case → :class:`Decision` with ``in_force``, ``eligible``, ``amount`` (Money,
  rounded once), ``payee``, ``case_by_case``, ``steps`` and ``reasons`` (zh and en);
  ``Decision.to_dict()`` is the evaluation contract's JSON object (POLICY.md).
* :func:`answer` / :func:`answer_json` — one batch line (``{"id", "program", "on", "facts"}``) → its
  answer (dict / JSON text) or an ``error`` object.
* :func:`art2_amounts` — compute-voucher maxima in fen for a usage month, vectorised and exact; with
  :func:`apply_budget` for a limited program budget (``queued`` or ``pro_rated``, a pack parameter)
  and :func:`art2_in_force` to tell "no policy in force" from "not eligible".
* :func:`amounts` — the same vectorised, amounts-only mode for any money article.
* :func:`voucher_version` / ``PackSet.for_measure(COMPUTE_VOUCHER, on)`` — the compute-voucher article
  in force on a date, whatever pack and number carries it (2023 art2, 2.0 art3, an admin's revision).
  A :class:`Decision` says ``provisional`` (and ``provisional_parameters``) when it rests on a
  placeholder value: no money is granted on it.

Example (metering's monthly voucher settlement)::

    packs = platform.packs.current()
    fen = art2_amounts(packs, "2025-06", spend_fen, in_province, self_use, subsidy_this_year_fen)
    explained = evaluate("art2", {"city": "340100", "in_province": True, "self_use": False,
                                  "spend": "1234.56"}, "2025-06-01", packs)
    assert explained.amount_fen == int(fen[0])  # same rules, same answer

Errors: :class:`FactError` (a fact is missing, unknown or ill-typed; ``field`` names it),
:class:`PackError` (a pack file breaks the schema; names file, line and key),
:class:`RuleConflictError`; all are :class:`zhisuan.core.errors.PolicyError`.
"""

from __future__ import annotations

import datetime as dt

from zhisuan.policy.batch import answer, answer_json, evaluate_many
from zhisuan.policy.decision import Decision, PartAnswer, Reason, Step, fen_text
from zhisuan.policy.engine import evaluate
from zhisuan.policy.errors import FactError, PackError, RuleConflictError
from zhisuan.policy.facts import as_day, parser_for
from zhisuan.policy.loader import builtin_pack_dir, load_pack, load_pack_set, parse_pack
from zhisuan.policy.packset import PackSet, as_params
from zhisuan.policy.schema import COMPUTE_VOUCHER, MEASURES, ArticleVersion, Pack, Parameter, article_key
from zhisuan.policy.source import PackSource, Published, PublishedPack, combine
from zhisuan.policy.vector import (
    RATE_SCALE,
    amounts,
    apply_budget,
    art2_amounts,
    art2_in_force,
    voucher_version,
)


def check_fact(packs: PackSet, version: ArticleVersion, name: str, raw: object) -> object:
    """Check one fact of ``version`` as the engine will read it (a form's inline validation).

    Raises :class:`FactError` naming ``name`` for an unknown fact or an ill-typed value.
    """
    spec = version.fact(name)
    if spec is None:
        takes = ", ".join(s.name for s in version.facts)
        raise FactError(f"{version.qualified} takes no fact {name!r} (it takes: {takes})", field=name)
    return parser_for(spec, packs.pack(version.pack_id).region)(raw, name)


def parameters(
    packs: PackSet, program: str, on: dt.date | str, pack: str | None = None
) -> dict[str, object] | None:
    """The parameter values of the article version in force on ``on`` (None: no policy in force).

    E.g. ``parameters(packs, "art2", "2025-06-01")["budget_exhausted"]`` → ``"queued"``; money and
    rates are exact :class:`fractions.Fraction` (yuan), a null cap is ``None``.
    """
    version = packs.resolve(program, as_day(on), pack)
    if version is None:
        return None
    return as_params(version, as_day(on))


__all__ = [
    "COMPUTE_VOUCHER",
    "MEASURES",
    "RATE_SCALE",
    "ArticleVersion",
    "Decision",
    "FactError",
    "Pack",
    "PackError",
    "PackSet",
    "PackSource",
    "Parameter",
    "PartAnswer",
    "Published",
    "PublishedPack",
    "Reason",
    "RuleConflictError",
    "Step",
    "amounts",
    "answer",
    "answer_json",
    "apply_budget",
    "art2_amounts",
    "art2_in_force",
    "article_key",
    "builtin_pack_dir",
    "check_fact",
    "combine",
    "evaluate",
    "evaluate_many",
    "fen_text",
    "load_pack",
    "load_pack_set",
    "parameters",
    "parse_pack",
    "voucher_version",
]
