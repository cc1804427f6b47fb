"""Policy cases as YAML (OpenFisca-style): facts, date, expected answer — runnable by tests and the CLI.

A case file is a list of cases::

    - name: 400 P exactly qualifies (≥ 400 P)
      program: art1          # optional: defaults to the file name's leading artN
      on: 2024-12-31
      facts: {city: "340100", new_capacity_p: "400", ...}
      expect: {in_force: true, eligible: true, amount: "33333.33", payee: city, case_by_case: false}

``expect`` may also be ``{error: {field: rd_cost}}`` for facts that must be refused (``message_contains``
checks the error's words, e.g. the list of facts the article takes). Only the keys given are compared;
``reasons_contain`` / ``steps_contain`` check that some reason / step result contains a text (in either
language). ``parts`` checks the answer of each named part of an article::

      expect:
        eligible: false
        parts:
          construction_support: {eligible: true, money: false, lead_unit: 省发展改革委}
          capacity_match: {eligible: false, amount: "0.00", reasons_contain: "400"}
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from zhisuan.core.errors import PolicyError, ZhisuanError
from zhisuan.policy._yaml import MarkedDict, MarkedList, load_marked
from zhisuan.policy.decision import PartAnswer
from zhisuan.policy.engine import evaluate
from zhisuan.policy.errors import PackError
from zhisuan.policy.packset import PackSet
from zhisuan.policy.schema import article_key

_ART = re.compile(r"^(art[0-9]+[a-z]?)(?![a-z0-9])")
_EXPECT_KEYS = {
    "in_force",
    "eligible",
    "amount",
    "payee",
    "case_by_case",
    "pack",
    "error",
    "reasons_contain",
    "steps_contain",
    "provisional",
    "provisional_parameters",
    "superseded_by",
    "parts",
}
_PART_KEYS = {"eligible", "money", "amount", "lead_unit", "cooperating_units", "grants", "reasons_contain"}


@dataclass(frozen=True, slots=True)
class PolicyCase:
    """One YAML case with where it came from."""

    name: str
    program: str
    on: str
    facts: Mapping[str, object]
    expect: Mapping[str, object]
    file: str
    line: int
    pack: str | None = None
    tags: tuple[str, ...] = field(default=())


def _plain(value: object) -> object:
    """YAML values as JSON would give them (dates back to ISO text)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load_cases(path: str | Path) -> list[PolicyCase]:
    """Read one case file; schema problems raise :class:`PackError` naming file and line."""
    p = Path(path)
    root = load_marked(p.read_text(encoding="utf-8"), p.name)
    if not isinstance(root, MarkedList):
        raise PackError("a case file is a list of cases", file=p.name, line=1, key=None)
    m = _ART.match(p.stem)
    default_program = m.group(1) if m else None
    out: list[PolicyCase] = []
    for i, item in enumerate(root):
        if not isinstance(item, MarkedDict):
            raise PackError("a case is a mapping", file=p.name, line=root.line_of(i), key=f"[{i}]")
        unknown = set(item) - {"name", "program", "on", "facts", "expect", "pack", "tags"}
        if unknown:
            key = sorted(unknown)[0]
            raise PackError("unknown key", file=p.name, line=item.line_of(key), key=f"[{i}].{key}")
        program = item.get("program", default_program)
        expect = item.get("expect")
        if not isinstance(expect, dict) or set(expect) - _EXPECT_KEYS:
            raise PackError(
                f"expect is a mapping of {', '.join(sorted(_EXPECT_KEYS))}",
                file=p.name,
                line=item.line_of("expect"),
                key=f"[{i}].expect",
            )
        if program is None or "on" not in item:
            raise PackError(
                "a case names its program and its date 'on'", file=p.name, line=item.line, key=f"[{i}]"
            )
        facts = _plain(item.get("facts") or {})
        assert isinstance(facts, dict)
        out.append(
            PolicyCase(
                name=str(item.get("name", f"case {i}")),
                program=str(program),
                on=str(_plain(item["on"])),
                facts=facts,
                expect=cast(dict[str, object], _plain(expect)),
                file=p.name,
                line=item.line,
                pack=item.get("pack"),
                tags=tuple(item.get("tags") or ()),
            )
        )
    return out


def check_case(case: PolicyCase, packs: PackSet) -> list[str]:
    """Run one case; the list of mismatches (empty when the engine answers as expected)."""
    exp = case.expect
    try:
        decision = evaluate(case.program, case.facts, case.on, packs, case.pack)
    except ZhisuanError as exc:
        want = exp.get("error")
        if want is None:
            return [f"unexpected error: {exc}"]
        problems = []
        if isinstance(want, Mapping):
            if "field" in want and exc.field != want["field"]:
                problems.append(f"error field {exc.field!r} != {want['field']!r} ({exc})")
            if "code" in want and exc.code != want["code"]:
                problems.append(f"error code {exc.code!r} != {want['code']!r}")
            for text in _listed(want.get("message_contains")):
                if text not in exc.message:
                    problems.append(f"error message {exc.message!r} does not contain {text!r}")
        return problems
    if "error" in exp:
        return [f"expected an error, got eligible={decision.eligible} amount={decision.amount_text}"]
    got = decision.to_dict()
    problems = []
    got.setdefault("provisional_parameters", [])
    got.setdefault("superseded_by", None)
    for key in (
        "in_force",
        "eligible",
        "amount",
        "payee",
        "case_by_case",
        "pack",
        "provisional",
        "provisional_parameters",
        "superseded_by",
    ):
        if key in exp and got[key] != exp[key]:
            problems.append(f"{key}: got {got[key]!r}, expected {exp[key]!r}")
    for text in _listed(exp.get("reasons_contain")):
        if not any(text in r for r in got["reasons"]):  # type: ignore[attr-defined]
            problems.append(f"no reason contains {text!r}: {got['reasons']}")
    for text in _listed(exp.get("steps_contain")):
        if not any(text in " ".join((*s[:4], s.result, s.result_zh)) for s in decision.steps):
            problems.append(f"no step contains {text!r}")
    problems += _check_parts(decision.parts, exp.get("parts"))
    return problems


def _check_parts(parts: tuple[PartAnswer, ...], want: object) -> list[str]:
    """Mismatches between the parts' answers and ``expect.parts`` (part id → expected keys)."""
    if want is None:
        return []
    if not isinstance(want, Mapping):
        return ["expect.parts is a mapping of part id to {eligible, money, amount, lead_unit, …}"]
    got = {p.part: p for p in parts}
    problems: list[str] = []
    for pid, keys in want.items():
        answer = got.get(str(pid))
        if answer is None:
            problems.append(f"no part {pid!r} in the answer (parts: {', '.join(got) or 'none'})")
            continue
        if not isinstance(keys, Mapping) or set(keys) - _PART_KEYS:
            problems.append(f"expect.parts.{pid} is a mapping of {', '.join(sorted(_PART_KEYS))}")
            continue
        shown = answer.to_dict()
        for key in ("eligible", "money", "amount", "lead_unit", "cooperating_units", "grants"):
            if key in keys and shown[key] != keys[key]:
                problems.append(f"part {pid} {key}: got {shown[key]!r}, expected {keys[key]!r}")
        for text in _listed(keys.get("reasons_contain")):
            if not any(text in r for r in shown["reasons"]):  # type: ignore[attr-defined]
                problems.append(f"part {pid}: no reason contains {text!r}: {shown['reasons']}")
    return problems


def _listed(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def case_files(directory: str | Path) -> list[Path]:
    """Every ``*.yaml`` case file in a directory, in article order."""
    d = Path(directory)
    if not d.is_dir():
        raise PolicyError(f"no case directory {d}", field="cases")

    def key(p: Path) -> tuple[tuple[int, str], str]:
        m = _ART.match(p.stem)
        return (article_key(m.group(1)) if m else (10**6, ""), p.name)

    return sorted(d.glob("*.yaml"), key=key)
