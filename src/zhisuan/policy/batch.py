"""Batch I/O of the evaluation contract: one line ``{"id", "program", "on", "facts"}`` → its JSON answer.

A bad line gets an ``error`` object (code, message, field; file and line for a pack) and never stops the
others.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping

from zhisuan.core.errors import PolicyError, ZhisuanError
from zhisuan.policy.decision import Decision
from zhisuan.policy.engine import evaluate
from zhisuan.policy.errors import FactError
from zhisuan.policy.packset import PackSet


def error_object(exc: ZhisuanError) -> dict[str, object]:
    """The ``error`` object of a batch answer."""
    body: dict[str, object] = {"code": exc.code, "message": exc.message, "field": exc.field}
    if exc.article is not None:
        body["article"] = exc.article
    file = getattr(exc, "file", None)
    if file:
        body["file"] = file
        body["line"] = exc.row
    return body


def answer(
    case: object, packs: PackSet, pack: str | None = None, line: int | None = None, lang: str = "both"
) -> dict[str, object]:
    """One batch line ``{"id", "program", "on", "facts"}`` → its JSON answer, or an ``error`` object."""
    case_id: object = None
    program: object = None
    on_text: object = None
    try:
        if not isinstance(case, Mapping):
            raise PolicyError("a batch line is a JSON object {id, program, on, facts}", field="line")
        case_id = case.get("id")
        program = case.get("program")
        on_text = case.get("on")
        if program is None:
            raise PolicyError("missing 'program'", field="program")
        if on_text is None:
            raise PolicyError("missing 'on' (the event date, YYYY-MM-DD)", field="on")
        facts = case.get("facts", {})
        if not isinstance(facts, Mapping):
            raise FactError("facts must be a JSON object", field="facts")
        use_pack = case.get("pack", pack)
        if use_pack is not None and not isinstance(use_pack, str):
            raise PolicyError("pack is a pack id", field="pack")
        if not isinstance(program, str):
            raise PolicyError(f"program is text such as 'art5', got {program!r}", field="program")
        if not isinstance(on_text, str | dt.date):
            raise PolicyError(f"an ISO date YYYY-MM-DD expected, got {on_text!r}", field="on")
        decision = evaluate(program, facts, on_text, packs, use_pack)
        return decision.to_dict(case_id, lang)
    except ZhisuanError as exc:
        out: dict[str, object] = {"id": case_id, "program": program, "on": on_text}
        if line is not None:
            out["line"] = line
        out["error"] = error_object(exc)
        return out


def answer_json(
    case: object, packs: PackSet, pack: str | None = None, line: int | None = None, lang: str = "both"
) -> str:
    """:func:`answer` as one JSON line (the batch output), without building the intermediate dicts."""
    if isinstance(case, Mapping):
        program, on, facts = case.get("program"), case.get("on"), case.get("facts", {})
        use_pack = case.get("pack", pack)
        if (
            isinstance(program, str)
            and isinstance(on, str)
            and isinstance(facts, Mapping)
            and (use_pack is None or isinstance(use_pack, str))
        ):
            try:
                return evaluate(program, facts, on, packs, use_pack).to_json(case.get("id"), lang)
            except ZhisuanError:
                pass  # answer() below builds the error object with the same message
    return json.dumps(answer(case, packs, pack, line, lang), ensure_ascii=False, default=str)


def evaluate_many(
    cases: Iterable[tuple[str, Mapping[str, object], dt.date | str]], packs: PackSet, pack: str | None = None
) -> Iterator[Decision]:
    """Evaluate many (program, facts, on) cases with full explanations; errors propagate."""
    for program, facts, on in cases:
        yield evaluate(program, facts, on, packs, pack)
