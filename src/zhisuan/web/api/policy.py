"""API: the policy engine (evaluation contract, single and batch) and a read-only pack browser. Public.

``POST /api/v1/policy/evaluate`` takes one case ``{"program", "on", "facts", "pack"?, "id"?}`` and answers
the contract's JSON object (with ``parts`` for an article that answers in several parts; ``?lang=zh`` gives
Chinese reasons and steps), or a batch ``{"cases": [...]}`` and answers ``{"results": [...]}`` where a
bad case gets an ``error`` object and the others are answered. Money in the body may be a decimal
string or a JSON number; numbers are read as exact decimals, never as binary floats.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from zhisuan.core.clock import SHANGHAI
from zhisuan.core.errors import NotFoundError, PolicyError
from zhisuan.policy import PackSet, answer_json, evaluate
from zhisuan.policy.browse import article_rows, describe, pack_summary
from zhisuan.policy.packset import packs_period
from zhisuan.web.deps import PlatformDep

router = APIRouter()

MAX_BATCH = 10_000
_DECODER = json.JSONDecoder(parse_float=Decimal)  # JSON numbers become exact decimals


def _case_out(case: Any, packs: PackSet, lang: str) -> str:
    if not isinstance(case, dict):
        raise PolicyError("a case is a JSON object {program, on, facts}", field="body")
    program, on, facts = case.get("program"), case.get("on"), case.get("facts", {})
    if not isinstance(program, str):
        raise PolicyError("missing 'program' (e.g. art5)", field="program")
    if not isinstance(on, str):
        raise PolicyError("missing 'on' (the event date, YYYY-MM-DD)", field="on")
    if not isinstance(facts, dict):
        raise PolicyError("facts must be a JSON object", field="facts")
    pack = case.get("pack")
    if pack is not None and not isinstance(pack, str):
        raise PolicyError("pack is a pack id", field="pack")
    return _what_if(case, evaluate(program, facts, on, packs, pack).to_json(case.get("id"), lang))


#: the largest case-by-case amount a what-if may carry (10^15 yuan)
MAX_WHAT_IF = Decimal(10) ** 15
WHAT_IF_NOTE = (
    "what-if only: a case-by-case amount is decided in an application by two province approvers "
    "with a written reason (POST /api/v1/applications/{id}/review), never by this calculator"
)


def _what_if(case: Any, answer: str) -> str:
    """Label an answer that used a case-by-case amount as a what-if, and bound that amount."""
    facts = case.get("facts") if isinstance(case, dict) else None
    if not isinstance(facts, dict) or facts.get("case_by_case_amount") in (None, ""):
        return answer
    raw = facts["case_by_case_amount"]
    try:
        amount = Decimal(str(raw).strip()) if isinstance(raw, str | int | Decimal) else None
    except ArithmeticError:
        amount = None
    if amount is None or not amount.is_finite() or abs(amount) > MAX_WHAT_IF:
        raise PolicyError(
            "case_by_case_amount is an amount of at most 10^15 yuan", field="case_by_case_amount"
        )
    out = json.loads(answer)
    if "error" not in out:
        out["what_if"] = True
        out["note"] = WHAT_IF_NOTE
    return json.dumps(out, ensure_ascii=False)


def _batch_line(case: Any, packs: PackSet, pack: str | None, line: int, lang: str) -> str:
    answer = answer_json(case, packs, pack, line=line, lang=lang)
    try:
        return _what_if(case, answer)
    except PolicyError as e:
        out = json.loads(answer)
        return json.dumps({"id": out.get("id"), "error": e.to_dict()}, ensure_ascii=False)


@router.post(
    "/policy/evaluate",
    tags=["policy"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {
                                "type": "object",
                                "required": ["program", "on", "facts"],
                                "properties": {
                                    "id": {},
                                    "program": {"type": "string", "example": "art5"},
                                    "on": {"type": "string", "format": "date"},
                                    "pack": {"type": "string"},
                                    "facts": {"type": "object"},
                                },
                            },
                            {
                                "type": "object",
                                "required": ["cases"],
                                "properties": {"cases": {"type": "array", "items": {"type": "object"}}},
                            },
                        ]
                    },
                    "example": {
                        "id": "demo",
                        "program": "art5",
                        "on": "2024-06-30",
                        "facts": {
                            "city": "341300",
                            "rd_cost": "1000000",
                            "selection_mode": "directed",
                            "topic": "general_llm",
                            "in_provincial_plan": True,
                        },
                    },
                }
            },
        }
    },
)
async def evaluate_cases(
    request: Request, platform: PlatformDep, lang: str = Query("both", pattern="^(zh|en|both)$")
) -> Response:
    """Evaluate one case (the evaluation contract's object) or a batch ``{"cases": [...]}`` (public)."""
    try:
        body = _DECODER.decode((await request.body()).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PolicyError("the body must be JSON", field="body") from None
    packs = platform.packs.current()
    if isinstance(body, dict) and "cases" in body:
        cases = body["cases"]
        if not isinstance(cases, list):
            raise PolicyError("cases is a list of {program, on, facts}", field="cases")
        if len(cases) > MAX_BATCH:
            raise PolicyError(f"at most {MAX_BATCH} cases per request", field="cases")
        pack = body.get("pack")
        use = pack if isinstance(pack, str) else None
        # the answers are JSON already (Decision.to_json): no per-field re-encoding by the framework
        lines = ", ".join(_batch_line(c, packs, use, i + 1, lang) for i, c in enumerate(cases))
        return Response(f'{{"results": [{lines}]}}', media_type="application/json")
    return Response(_case_out(body, packs, lang), media_type="application/json")


@router.get("/policy/packs", tags=["policy"])
def list_packs(platform: PlatformDep) -> dict[str, object]:
    """Every pack and every article version with the dates it judges events (public)."""
    packs = platform.packs.current()
    return {"packs": [pack_summary(p) for p in packs], "articles": article_rows(packs)}


@router.get("/policy/packs/{pack_id}", tags=["policy"])
def show_pack(pack_id: str, platform: PlatformDep) -> dict[str, object]:
    """One pack: its summary and its articles (public)."""
    packs = platform.packs.current()
    try:
        pack = packs.pack(pack_id)
    except PolicyError:
        raise NotFoundError(f"no pack {pack_id!r}", field="pack_id") from None
    return {**pack_summary(pack), "articles": [r for r in article_rows(packs) if r["pack"] == pack_id]}


@router.get("/policy/articles/{article}", tags=["policy"])
def show_article(
    article: str, platform: PlatformDep, on: dt.date | None = None, pack: str | None = None
) -> dict[str, object]:
    """The article version in force on a date (default today): parameters with history, facts, rules."""
    packs = platform.packs.current()
    if not packs.knows(article, pack):
        raise NotFoundError(f"no article {article!r}", field="article")
    day = on or dt.datetime.now(SHANGHAI).date()
    version = packs.resolve(article, day, pack)
    if version is None:
        return {
            "article": article,
            "on": day.isoformat(),
            "in_force": False,
            "versions": [
                {"pack": v.pack_id, "effective": packs_period(packs, v)} for v in packs.versions(article)
            ],
        }
    return {**describe(version, packs, day), "in_force": True}
