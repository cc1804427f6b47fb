"""`zhisuan policy …`: evaluate cases (the evaluation contract), list and show packs, validate, diff.

Packs come from the package (``zhisuan/policy/packs/*.yaml``) plus every ``*.yaml`` an administrator
puts in ``$ZHISUAN_DATA_DIR/packs/`` (default ``./var/packs``): adding a pack needs no code change.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO, cast

import typer

from zhisuan.cli._common import console, fail, guarded, print_json, print_table
from zhisuan.core.clock import SHANGHAI
from zhisuan.core.errors import PolicyError, ZhisuanError
from zhisuan.policy import PackSet, answer, evaluate, load_pack, load_pack_set
from zhisuan.policy.cases import case_files, check_case, load_cases
from zhisuan.policy.engine import error_object, packs_period
from zhisuan.policy.pack import ArticleVersion, Pack, dump_value

app = typer.Typer(
    help="Policy packs and the rules engine (evaluation contract: docs/policy.md).", no_args_is_help=True
)

LANG_HELP = "Language of reasons: zh, en or both."


def packs_dir() -> Path:
    """Where administrators put extra packs: $ZHISUAN_DATA_DIR/packs (default ./var/packs)."""
    return Path(os.environ.get("ZHISUAN_DATA_DIR", "var")) / "packs"


def pack_set() -> PackSet:
    """The shipped packs plus the administrators' packs."""
    return load_pack_set(packs_dir())


def _read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {what} {path}: {exc.strerror}", field=what) from None
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{what} {path} is not JSON: {exc.msg} at line {exc.lineno}", field=what) from None


def _lines(path: str) -> Iterator[tuple[int, str]]:
    stream: TextIO
    if path == "-":
        stream = sys.stdin
    else:
        try:
            stream = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise PolicyError(f"cannot read batch {path}: {exc.strerror}", field="batch") from None
    try:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, line
    finally:
        if stream is not sys.stdin:
            stream.close()


def run_batch(
    lines: Iterable[tuple[int, str]], packs: PackSet, pack: str | None, lang: str, out: TextIO
) -> tuple[int, int]:
    """Answer JSON lines; a bad line gets an ``error`` object and the others are still answered."""
    answered = errors = 0
    write = out.write
    for number, line in lines:
        try:
            case = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            result: dict[str, object] = {
                "id": None,
                "program": None,
                "on": None,
                "line": number,
                "error": {"code": "invalid_json", "message": f"not JSON: {exc.msg}", "field": "line"},
            }
        else:
            result = answer(case, packs, pack, line=number, lang=lang)
        if "error" in result:
            errors += 1
        else:
            answered += 1
        write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
    out.flush()
    return answered, errors


@app.command("evaluate")
@guarded
def evaluate_cmd(
    program: str | None = typer.Argument(None, help="Program (article) id, e.g. art5."),
    facts: str | None = typer.Option(None, "--facts", help="JSON file with the facts ('-' for stdin)."),
    on: str | None = typer.Option(None, "--on", help="Date of the qualifying event, YYYY-MM-DD."),
    pack: str | None = typer.Option(None, "--pack", help="Use this pack only (default: the one in force)."),
    batch: str | None = typer.Option(
        None, "--batch", help="JSON lines {id, program, on, facts} ('-' for stdin)."
    ),
    case_id: str | None = typer.Option(None, "--id", help="Id echoed in the answer (single case)."),
    lang: str = typer.Option("both", "--lang", help=LANG_HELP),
) -> None:
    """Evaluate one case (JSON out) or a batch (JSON lines in and out)."""
    if lang not in ("zh", "en", "both"):
        fail("--lang is zh, en or both")
    packs = pack_set()
    if pack is not None:
        packs.pack(pack)
    if batch is not None:
        if program is not None or facts is not None or on is not None:
            fail("--batch takes its programs, dates and facts from the file; drop PROGRAM, --facts and --on")
        run_batch(_lines(batch), packs, pack, lang, sys.stdout)
        return
    if program is None:
        fail("give PROGRAM (e.g. art5) with --facts and --on, or --batch CASES.jsonl")
    if facts is None:
        fail("--facts FILE is required (JSON object; '-' reads stdin)")
    if on is None:
        fail("--on DATE is required (the date of the qualifying event, YYYY-MM-DD)")
    data = _read_json(facts, "facts")
    if not isinstance(data, dict):
        raise PolicyError("the facts file must hold a JSON object", field="facts")
    print_json(evaluate(program, data, on, packs, pack).to_dict(case_id, lang))


@app.command("list")
@guarded
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Packs and their articles, with the dates each version judges events."""
    packs = pack_set()
    rows = []
    for p in packs:
        for art in sorted(p.articles, key=lambda a: int(a[3:])):
            v = p.articles[art]
            rows.append(
                {
                    "pack": p.id,
                    "article": art,
                    "name_zh": v.name_zh,
                    "name_en": v.name_en,
                    "effective": packs_period(packs, v),
                    "grants": v.grants,
                    "payee": v.payee,
                    "lead_unit": v.lead_unit,
                    "source": p.source_file,
                }
            )
    if as_json:
        print_json(
            {
                "packs": [
                    {
                        "id": p.id,
                        "title_zh": p.title_zh,
                        "title_en": p.title_en,
                        "region": p.region,
                        "source_file": p.source_file,
                        "supersedes": {
                            k: {a: d.isoformat() for a, d in v.items()} for k, v in p.supersedes.items()
                        },
                    }
                    for p in packs
                ],
                "articles": rows,
            }
        )
        return
    for p in packs:
        console.print(f"[bold]{p.id}[/] {p.title_zh} — {p.title_en} ({p.source_file})", highlight=False)
    print_table(
        "articles",
        ["pack", "article", "name", "in force", "grants", "payee", "lead unit"],
        [
            (
                r["pack"],
                r["article"],
                f"{r['name_zh']} {r['name_en']}",
                r["effective"],
                r["grants"],
                r["payee"],
                r["lead_unit"],
            )
            for r in rows
        ],
    )


def describe(version: ArticleVersion, packs: PackSet, on: dt.date) -> dict[str, object]:
    """Everything about one article version: facts, parameters in force on ``on`` with history, rules."""
    params = []
    for name, p in version.parameters.items():
        current = p.version_at(on)
        params.append(
            {
                "name": name,
                "type": p.type,
                "unit": p.unit,
                "value": dump_value(current.value if current else p.history[0].value, p.type),
                "since": (current.start if current else p.history[0].start).isoformat(),
                "history": [
                    {"from": h.start.isoformat(), "value": dump_value(h.value, p.type)} for h in p.history
                ],
                "description_zh": p.description_zh,
                "description_en": p.description_en,
            }
        )
    award = []
    for a in version.award:
        award.append(
            {
                "id": a.id,
                "base": a.base.describe(),
                "rate": a.rate.describe() if a.rate else None,
                "cap": a.cap,
                "cumulative": a.cumulative,
                "priority": a.priority,
                "when": [_check_text(c) for c in a.when],
            }
        )
    cut = packs.superseded_from(version)
    return {
        "pack": version.pack_id,
        "article": version.article,
        "name_zh": version.name_zh,
        "name_en": version.name_en,
        "effective_from": version.effective_from.isoformat(),
        "effective_to": version.effective_to.isoformat() if version.effective_to else None,
        "superseded": {"from": cut[0].isoformat(), "by": cut[1]} if cut else None,
        "on": on.isoformat(),
        "lead_unit": version.lead_unit,
        "cooperating_units": list(version.cooperating_units),
        "payee": version.payee,
        "grants": version.grants,
        "case_by_case": version.case_by_case,
        "uplift_location": version.uplift_location,
        "evidence": list(version.evidence),
        "facts": [
            {
                "name": f.name,
                "type": f.type,
                "required": f.required,
                "unit": f.unit,
                "values": list(f.values) or None,
                "description_en": f.description_en,
            }
            for f in version.facts
        ],
        "parameters": params,
        "eligibility": [
            {"id": r.id, "check": _check_text(r.check), "fail_zh": r.fail_zh, "fail_en": r.fail_en}
            for r in version.eligibility
        ],
        "award": award,
        "notes_zh": version.notes_zh,
        "notes_en": version.notes_en,
    }


def _check_text(c: Any) -> str:
    if c.any_of:
        return " or ".join(_check_text(x) for x in c.any_of)
    left = f"{c.ratio[0]}/{c.ratio[1]}" if c.ratio else c.fact
    if c.op in ("is_true", "is_false"):
        return f"{left} {'is true' if c.op == 'is_true' else 'is false'}"
    if c.op == "in_effect_period":
        return f"{left} within the article's effective dates"
    right = f"parameter {c.parameter}" if c.parameter else dump_value(c.value)
    return f"{left} {c.op} {right}"


def _today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


@app.command("show")
@guarded
def show_cmd(
    article: str = typer.Argument(..., help="Article id, e.g. art2."),
    on: str | None = typer.Option(None, "--on", help="Date (default: today in Asia/Shanghai)."),
    pack: str | None = typer.Option(None, "--pack", help="A specific pack."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The article version in force on a date: parameters in force, with their history."""
    packs = pack_set()
    if not packs.knows(article):
        raise PolicyError(
            f"unknown article {article!r}; known: {', '.join(packs.programs())}", field="article"
        )
    day = _parse_day(on) if on else _today()
    version = packs.resolve(article, day, pack)
    if version is None:
        spans = [{"pack": v.pack_id, "effective": packs_period(packs, v)} for v in packs.versions(article)]
        if as_json:
            print_json({"article": article, "on": day.isoformat(), "in_force": False, "versions": spans})
            return
        console.print(
            f"[yellow]no policy in force[/] for {article} on {day}; versions: "
            + "; ".join(f"{s['pack']} {s['effective']}" for s in spans),
            highlight=False,
        )
        return
    info = describe(version, packs, day)
    if as_json:
        print_json({**info, "in_force": True})
        return
    console.print(
        f"[bold]{article}[/] {version.name_zh} — {version.name_en}  ({version.pack_id}, "
        f"in force {packs_period(packs, version)})",
        highlight=False,
    )
    console.print(
        f"payee: {version.payee}; grants: {version.grants}; lead: {version.lead_unit}; "
        f"with: {'、'.join(version.cooperating_units)}",
        highlight=False,
    )
    if version.evidence:
        console.print("evidence: " + "; ".join(version.evidence), highlight=False)
    print_table(
        f"parameters on {day}",
        ["parameter", "type", "value", "since", "history"],
        [
            (
                p["name"],
                p["type"],
                p["value"],
                p["since"],
                " → ".join(f"{h['from']}: {h['value']}" for h in p["history"]),
            )
            for p in cast(list[dict[str, Any]], info["parameters"])
        ],
    )
    print_table(
        "facts",
        ["fact", "type", "required", "unit"],
        [
            (
                f.name,
                f.type + (f" ({', '.join(f.values)})" if f.values else ""),
                "yes" if f.required else "no",
                f.unit,
            )
            for f in version.facts
        ],
    )
    print_table("eligibility", ["rule", "check"], [(r.id, _check_text(r.check)) for r in version.eligibility])
    if version.award:
        print_table(
            "award",
            ["rule", "base", "rate", "cap", "cumulative"],
            [
                (
                    a.id,
                    a.base.describe(),
                    a.rate.describe() if a.rate else "",
                    a.cap or "",
                    a.cumulative or "",
                )
                for a in version.award
            ],
        )


def _parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise PolicyError(f"an ISO date YYYY-MM-DD expected, got {text!r}", field="on") from None


@app.command("validate")
@guarded
def validate_cmd(
    path: Path = typer.Argument(..., help="A pack YAML file."),
    cases: Path | None = typer.Option(
        None, "--cases", help="Case directory (default: cases/<pack id> beside it)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Check a pack against the schema (errors name file, line and key) and run its YAML cases."""
    try:
        pack = load_pack(path)
    except ZhisuanError as exc:
        if as_json:
            print_json({"valid": False, "error": error_object(exc)})
            raise typer.Exit(2) from None
        raise
    others = [p for p in pack_set() if p.id != pack.id]
    packs = PackSet([*others, pack])
    case_dir = cases or path.parent / "cases" / pack.id
    results: list[dict[str, object]] = []
    if cases is not None or case_dir.is_dir():
        for f in case_files(case_dir):
            for case in load_cases(f):
                problems = check_case(case, packs)
                results.append(
                    {"file": case.file, "line": case.line, "name": case.name, "problems": problems}
                )
    failed = [r for r in results if r["problems"]]
    if as_json:
        print_json(
            {
                "valid": True,
                "pack": pack.id,
                "articles": sorted(pack.articles, key=lambda a: int(a[3:])),
                "cases": len(results),
                "failed": failed,
            }
        )
    else:
        console.print(
            f"[green]valid[/] {path}: pack {pack.id}, {len(pack.articles)} articles", highlight=False
        )
        if results:
            console.print(f"cases: {len(results) - len(failed)} of {len(results)} pass", highlight=False)
        for r in failed:
            console.print(
                f"[red]FAIL[/] {r['file']}:{r['line']} {r['name']}: {'; '.join(r['problems'])}",  # type: ignore[arg-type]
                highlight=False,
            )
    if failed:
        raise typer.Exit(2)


def _pack_arg(ref: str, packs: PackSet) -> Pack:
    p = Path(ref)
    if ref.endswith((".yaml", ".yml")) or p.is_file():
        return load_pack(p)
    return packs.pack(ref)


def diff_packs(a: Pack, b: Pack) -> list[dict[str, str]]:
    """What changes from pack A to pack B: articles, dates, units, facts, parameters, rules."""
    out: list[dict[str, str]] = []

    def add(article: str, what: str, old: object, new: object) -> None:
        if old != new:
            out.append({"article": article, "what": what, "a": _txt(old), "b": _txt(new)})

    for art in sorted(set(a.articles) | set(b.articles), key=lambda x: int(x[3:])):
        va, vb = a.articles.get(art), b.articles.get(art)
        if va is None or vb is None:
            add(art, "article", "present" if va else "absent", "present" if vb else "absent")
            continue
        for attr in (
            "name_zh",
            "name_en",
            "effective_from",
            "effective_to",
            "lead_unit",
            "cooperating_units",
            "payee",
            "evidence",
            "grants",
            "case_by_case",
            "uplift_location",
        ):
            add(art, attr, getattr(va, attr), getattr(vb, attr))
        fa = {f.name: f for f in va.facts}
        fb = {f.name: f for f in vb.facts}
        for name in sorted(set(fa) | set(fb)):
            add(art, f"fact {name}", _fact_txt(fa.get(name)), _fact_txt(fb.get(name)))
        for name in sorted(set(va.parameters) | set(vb.parameters)):
            pa, pb = va.parameters.get(name), vb.parameters.get(name)
            add(art, f"parameter {name}", _param_txt(pa), _param_txt(pb))
        ra = {r.id: _check_text(r.check) for r in va.eligibility}
        rb = {r.id: _check_text(r.check) for r in vb.eligibility}
        for rid in sorted(set(ra) | set(rb)):
            add(art, f"rule {rid}", ra.get(rid), rb.get(rid))
        aa = {x.id: _award_txt(x) for x in va.award}
        ab = {x.id: _award_txt(x) for x in vb.award}
        for aid in sorted(set(aa) | set(ab)):
            add(art, f"award {aid}", aa.get(aid), ab.get(aid))
    return out


def _txt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _fact_txt(f: Any) -> str | None:
    if f is None:
        return None
    return (
        f"{f.type}{' required' if f.required else ' optional'}{' ' + '/'.join(f.values) if f.values else ''}"
    )


def _param_txt(p: Any) -> str | None:
    if p is None:
        return None
    return "; ".join(f"{h.start.isoformat()}: {dump_value(h.value, p.type)}" for h in p.history)


def _award_txt(a: Any) -> str:
    parts = [a.base.describe()]
    if a.rate:
        parts.append(f"× {a.rate.describe()}")
    if a.cap:
        parts.append(f"cap {a.cap}")
    if a.cumulative:
        parts.append(f"less {a.cumulative}")
    if a.when:
        parts.append("when " + " and ".join(_check_text(c) for c in a.when))
    return " ".join(parts)


@app.command("diff")
@guarded
def diff_cmd(
    pack_a: str = typer.Argument(..., help="Pack id or YAML file."),
    pack_b: str = typer.Argument(..., help="Pack id or YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """What differs between two packs, article by article."""
    packs = pack_set()
    a, b = _pack_arg(pack_a, packs), _pack_arg(pack_b, packs)
    changes = diff_packs(a, b)
    sup = {k: {x: d.isoformat() for x, d in v.items()} for k, v in b.supersedes.items()}
    if as_json:
        print_json({"a": a.id, "b": b.id, "b_supersedes": sup, "changes": changes})
        return
    if sup:
        console.print(
            f"{b.id} supersedes: " + "; ".join(f"{k}: {v}" for k, v in sup.items()), highlight=False
        )
    if not changes:
        console.print(f"no differences between {a.id} and {b.id}")
        return
    print_table(
        f"{a.id} → {b.id}",
        ["article", "what", a.id, b.id],
        [(c["article"], c["what"], c["a"], c["b"]) for c in changes],
    )
