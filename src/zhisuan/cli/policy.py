"""`zhisuan policy …`: evaluate cases (the evaluation contract), list and show packs, validate, diff.

Packs come from the platform's one pack source: the package's (``zhisuan/policy/packs/*.yaml``) plus every
``*.yaml`` an administrator puts in the packs folder (``Settings.packs_dir``, by default
``$ZHISUAN_DATA_DIR/packs/``), the same packs the web API answers from: adding a pack needs no code change.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import sys
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO, cast

import typer

from zhisuan.cli._common import console, fail, guarded, print_json, print_table
from zhisuan.cli._platform import platform
from zhisuan.core.clock import SHANGHAI
from zhisuan.core.errors import PolicyError, ZhisuanError
from zhisuan.policy import Pack, PackSet, answer_json, evaluate, load_pack
from zhisuan.policy.batch import error_object
from zhisuan.policy.browse import article_rows, check_text, describe, diff_packs, pack_summary
from zhisuan.policy.cases import case_files, check_case, load_cases
from zhisuan.policy.packset import packs_period
from zhisuan.policy.schema import article_key

app = typer.Typer(
    help="Policy packs and the rules engine (evaluation contract: docs/policy.md).", no_args_is_help=True
)

LANG_HELP = "Language of reasons (zh, en or both) and of steps (Chinese for zh, else English)."


def pack_set() -> PackSet:
    """The packs in force: the platform's pack source (shipped plus the administrators' folder)."""
    return platform().packs.current()


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


# one decoder for every line: json.loads(..., parse_float=...) would build a new one each time
_DECODER = json.JSONDecoder(parse_float=Decimal)


def answer_line(number: int, line: str, packs: PackSet, pack: str | None, lang: str) -> str:
    """One JSON line in → one JSON line out (an ``error`` object for a bad line)."""
    try:
        case = _DECODER.decode(line)
    except json.JSONDecodeError as exc:
        bad = {
            "id": None,
            "program": None,
            "on": None,
            "line": number,
            "error": {"code": "invalid_json", "message": f"not JSON: {exc.msg}", "field": "line"},
        }
        return json.dumps(bad, ensure_ascii=False)
    return answer_json(case, packs, pack, line=number, lang=lang)


def run_batch(
    lines: Iterable[tuple[int, str]],
    packs: PackSet,
    pack: str | None,
    lang: str,
    out: TextIO,
    workers: int = 1,
) -> int:
    """Answer JSON lines in order; a bad line gets an ``error`` object and the others are still answered."""
    written = 0
    write = out.write
    if workers <= 1:
        for number, line in lines:
            write(answer_line(number, line, packs, pack, lang) + "\n")
            written += 1
    else:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        # the workers answer from the very packs given here (frozen values), not from a second load
        with ctx.Pool(workers, initializer=_worker_init, initargs=(tuple(packs), pack, lang)) as pool:
            for block in pool.imap(_worker_chunk, _blocks(lines, 2_000)):
                write("".join(f"{text}\n" for text in block))
                written += len(block)
    out.flush()
    return written


_WORKER: dict[str, Any] = {}


def _worker_init(packs: tuple[Pack, ...], pack: str | None, lang: str) -> None:
    _WORKER.update(packs=PackSet(packs), pack=pack, lang=lang)


def _worker_chunk(block: list[tuple[int, str]]) -> list[str]:
    packs, pack, lang = _WORKER["packs"], _WORKER["pack"], _WORKER["lang"]
    return [answer_line(number, line, packs, pack, lang) for number, line in block]


def _blocks(lines: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    block: list[tuple[int, str]] = []
    for item in lines:
        block.append(item)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


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
    workers: int = typer.Option(
        1, "--workers", min=1, help="Processes for --batch (answers stay in input order)."
    ),
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
        run_batch(_lines(batch), packs, pack, lang, sys.stdout, workers)
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
    rows = article_rows(packs)
    if as_json:
        print_json({"packs": [pack_summary(p) for p in packs], "articles": rows})
        return
    for p in packs:
        official = f"《{p.official_title}》" if p.official_title else p.title_zh
        issued = " ".join(x for x in (p.issuer, p.published.isoformat() if p.published else None) if x)
        console.print(
            f"[bold]{p.id}[/] {official} — {p.title_en} ({issued or 'date not known'})", highlight=False
        )
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
                "; ".join(
                    f"{u['part_zh']}: {u['lead_unit']}" if u["part_zh"] else str(u["lead_unit"])
                    for u in cast(list[dict[str, str | None]], r["units"])
                ),
            )
            for r in rows
        ],
    )


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
    if not packs.knows(article, pack):
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
    if version.parts:
        print_table(
            "parts (in the order of the text; the main part's answer is the amount)",
            ["part", "grants", "lead unit", "cooperating units", "conditions", "gives"],
            [
                (
                    f"{p.id}{' (main)' if p.main else ''} {p.name_zh}",
                    p.grants,
                    p.lead_unit,
                    "、".join(p.cooperating_units),
                    "; ".join(check_text(r.check) for r in p.eligibility) or "—",
                    "；".join(g.zh for g in (*p.gives, *p.use_of_funds)) or "—",
                )
                for p in version.parts
            ],
        )
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
    print_table("eligibility", ["rule", "check"], [(r.id, check_text(r.check)) for r in version.eligibility])
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
                "articles": sorted(pack.articles, key=article_key),
                "cases": len(results),
                "failed": failed,
            }
        )
    else:
        console.print(
            f"[green]valid[/] {path}: pack {pack.id}, {len(pack.articles)} programs", highlight=False
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
