"""`zhisuan awards …`: calls, applications, review, notice, budgets, payment batches and city payouts.

Every command acts as the user named by its ``--as`` (or the root option ``zhisuan --as USER``): its
role and scope decide what it may do, and approvals, payments and city payouts are made by named
people. Without either, commands act as the administrator ``cli:<login>``. ``--json`` prints what the
API would answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from zhisuan.awards import applications, calls, notice, payments, payouts, reports, review, views
from zhisuan.cli._common import (
    AS,
    JSON,
    console,
    guarded,
    output_file,
    print_json,
    print_records,
    print_table,
)
from zhisuan.cli._platform import acting, platform
from zhisuan.core.access import Principal
from zhisuan.core.errors import ValidationError

app = typer.Typer(
    help="Applications, review, public notice, budgets and payment of the policy's money.",
    no_args_is_help=True,
)


def _who(username: str | None) -> Principal:
    return acting(username)


def _json_file(path: Path | None, what: str) -> Any:
    if path is None:
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"cannot read {what} from {path}: {exc}", field=what) from None


def _show_application(out: dict[str, Any]) -> None:
    console.print(
        f"application {out['id']} · {out['program']} · {out['applicant']} · {out['project_name']} "
        f"({out['project_ref']}) · [bold]{out['state']}[/] {out['state_zh']}",
        highlight=False,
    )
    if out.get("missing"):
        console.print(f"missing facts: {', '.join(out['missing'])}", highlight=False)
    if out.get("maximum") is not None:
        console.print(
            f"maximum {out['maximum']} (without the 皖北 uplift {out['maximum_without_uplift']}); "
            f"approved {out['approved'] or '—'}",
            highlight=False,
        )
    for d in out.get("duplicates", []):
        console.print(f"[yellow]duplicate funding[/] {d['text_zh']}", highlight=False)
    print_table(
        "history",
        ["at", "by", "action", "from → to", "note"],
        [
            (h["at"][:16], h["actor"], h["action"], f"{h['from'] or ''} → {h['to']}", h["note"])
            for h in out["history"]
        ],
    )


def _applications_table(rows: list[dict[str, Any]]) -> None:
    print_records(
        "applications",
        rows,
        [
            "id",
            "program",
            "applicant",
            ("project", "project_name"),
            ("state", "state_zh"),
            "maximum",
            "approved",
        ],
    )


@app.command("calls")
@guarded
def calls_cmd(program: str | None = typer.Option(None, "--program"), as_json: bool = JSON) -> None:
    """Calls (申报批次) and whether each is open today."""
    p = platform()
    with p.uow() as uow:
        out = calls.list_calls(uow, p.clock.now(), program)
    if as_json:
        print_json(out)
        return
    print_records(
        "calls",
        out,
        ["id", "program", "title", ("opens", "opens_on"), ("closes", "closes_on"), "status", "payer"],
    )


@app.command("open-call")
@guarded
def open_call_cmd(
    program: str = typer.Argument(..., help="art1, art4, art5, art6, art8, art10, art14, anhui-2025/art1 …"),
    title: str = typer.Option(..., "--title"),
    opens_on: str = typer.Option(..., "--opens", help="YYYY-MM-DD"),
    closes_on: str = typer.Option(..., "--closes", help="YYYY-MM-DD"),
    year: int | None = typer.Option(None, "--year", help="Budget year (default: the opening year)."),
    max_awards: int | None = typer.Option(None, "--max-awards", help="Benchmark rounds: ten at most."),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """Open a call for a measure (province users)."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = calls.create_call(
            uow,
            who,
            p.packs.current(),
            p.clock,
            program=program,
            title=title,
            opens_on=opens_on,
            closes_on=closes_on,
            budget_year=year,
            max_awards=max_awards,
        )
        uow.commit()
    print_json(out) if as_json else console.print(f"call {out['id']} opened: {out['title']}", highlight=False)


@app.command("list")
@guarded
def list_cmd(
    program: str | None = typer.Option(None, "--program"),
    state: str | None = typer.Option(None, "--state"),
    queue: bool = typer.Option(False, "--queue", help="Only those awaiting my review."),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """The applications the user may see."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = views.list_applications(
            uow, who, p.clock.now(), program=program, state=state, queue=queue, limit=1000
        )
    print_json(out) if as_json else _applications_table(out["applications"])  # type: ignore[arg-type]


@app.command("show")
@guarded
def show_cmd(app_id: int = typer.Argument(...), username: str | None = AS, as_json: bool = JSON) -> None:
    """One application: facts, decision, history, flags."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = views.get_application(uow, who, p.packs.current(), app_id, p.clock.now())
    print_json(out) if as_json else _show_application(out)


@app.command("apply")
@guarded
def apply_cmd(
    call_id: int = typer.Argument(...),
    project_ref: str = typer.Option(..., "--ref", help="The project's identifier."),
    project_name: str = typer.Option(..., "--name"),
    event_on: str | None = typer.Option(None, "--event-on", help="Date of the qualifying event."),
    facts: Path | None = typer.Option(None, "--facts", help="A JSON file of the facts {name: value}."),
    funding: Path | None = typer.Option(None, "--other-funding", help="JSON list [{source, amount, year}]."),
    submit: bool = typer.Option(False, "--submit", help="Submit at once."),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """Start an application in an open call (and submit it with --submit)."""
    p, who = platform(), _who(username)
    data: dict[str, Any] = {
        "project_ref": project_ref,
        "project_name": project_name,
        "facts": _json_file(facts, "facts"),
        "other_funding": _json_file(funding, "other_funding") or [],
    }
    if event_on:
        data["event_on"] = event_on
    with p.uow() as uow:
        out = applications.create_application(uow, who, p.packs.current(), p.clock, call_id, data)
        if submit:
            out = applications.submit(uow, who, p.packs.current(), p.clock, int(out["id"]))  # type: ignore[call-overload]
        uow.commit()
    print_json(out) if as_json else _show_application(out)


@app.command("submit")
@guarded
def submit_cmd(app_id: int = typer.Argument(...), username: str | None = AS, as_json: bool = JSON) -> None:
    """Submit or resubmit an application: its facts are frozen with the engine's decision."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = applications.submit(uow, who, p.packs.current(), p.clock, app_id)
        uow.commit()
    print_json(out) if as_json else _show_application(out)


@app.command("review")
@guarded
def review_cmd(
    app_id: int = typer.Argument(...),
    action: str = typer.Argument(..., help="approve, reject or return"),
    amount: str | None = typer.Option(None, "--amount", help="Approved amount (default: the maximum)."),
    reason: str | None = typer.Option(None, "--reason"),
    case_by_case: bool = typer.Option(
        False, "--case-by-case", help="An amount outside the formula (art. 1, 5)."
    ),
    confirm_uplift: bool = typer.Option(False, "--confirm-uplift", help="Confirm the 皖北 uplift."),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """A reviewer's step on an application."""
    p, who = platform(), _who(username)
    body = {
        "action": action,
        "amount": amount,
        "reason": reason,
        "case_by_case": case_by_case,
        "uplift_confirmed": confirm_uplift,
    }
    with p.uow() as uow:
        out = review.review(uow, who, p.packs.current(), p.clock, app_id, body)
        uow.commit()
    print_json(out) if as_json else _show_application(out)


@app.command("object")
@guarded
def object_cmd(
    app_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"), username: str | None = AS
) -> None:
    """Object to an award in public notice: it is held until a province user resolves the objection."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = notice.lodge_objection(uow, who, p.clock, app_id, reason)
        uow.commit()
    console.print(f"objection {out['id']} lodged; the award is held", highlight=False)


@app.command("resolve")
@guarded
def resolve_cmd(
    objection_id: int = typer.Argument(...),
    outcome: str = typer.Argument(..., help="dismissed or upheld"),
    note: str = typer.Option(..., "--note"),
    username: str | None = AS,
) -> None:
    """Resolve an objection (province users)."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = notice.resolve_objection(uow, who, p.clock, objection_id, outcome, note)
        uow.commit()
    console.print(f"objection {out['id']} {out['state']}", highlight=False)


@app.command("notices")
@guarded
def notices_cmd(as_json: bool = JSON) -> None:
    """Awards in public notice (公示) and those held by an objection."""
    p = platform()
    with p.uow() as uow:
        out = reports.notices(uow, p.clock.now())
    if as_json:
        print_json(out)
        return
    print_records(
        "public notice",
        out,
        [
            "id",
            ("measure", "measure_zh"),
            "applicant",
            ("project", "project_name"),
            "amount",
            ("until", lambda n: str(n["notice_ends"])[:10]),
            ("state", "state_zh"),
        ],
    )


@app.command("budgets")
@guarded
def budgets_cmd(
    year: int | None = typer.Option(None, "--year"), username: str | None = AS, as_json: bool = JSON
) -> None:
    """Award budgets: funded, committed, paid, left."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = payments.budgets(uow, who, year)
    if as_json:
        print_json(out)
        return
    print_records("budgets", out, ["program", "payer", "year", "funded", "committed", "paid", "left", "burn"])


@app.command("fund")
@guarded
def fund_cmd(
    program: str = typer.Argument(...),
    year: int = typer.Option(..., "--year"),
    amount: str = typer.Option(..., "--amount", help="Yuan."),
    payer: str = typer.Option("province", "--payer", help="province or a city code"),
    reference: str = typer.Option(..., "--ref", help="The funding document's reference (once only)."),
    username: str | None = AS,
) -> None:
    """Fund a budget (finance)."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = payments.fund_budget(
            uow, who, p.clock, program=program, year=year, amount=amount, payer=payer, reference=reference
        )
        uow.commit()
    console.print(f"{out['account']}: +{out['funded']}, left {out['left']}", highlight=False)


@app.command("batch")
@guarded
def batch_cmd(
    kind: str = typer.Argument(..., help="awards or vouchers"),
    payer: str = typer.Option("province", "--payer"),
    month: str | None = typer.Option(None, "--month", help="Vouchers settled up to this month."),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """Make a draft payment batch (finance)."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = payments.create_batch(uow, who, p.clock, p.packs.current(), kind=kind, payer=payer, month=month)
        uow.commit()
    print_json(out) if as_json else console.print(
        f"batch {out['id']}: {out['items']} items, {out['total']} yuan (draft)", highlight=False
    )


@app.command("pay")
@guarded
def pay_cmd(
    batch_id: int = typer.Argument(...),
    reference: str = typer.Option(..., "--ref"),
    paid_on: str = typer.Option(..., "--paid-on"),
    username: str | None = AS,
) -> None:
    """Record a batch as paid (finance): the ledger posts payable → paid."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = payments.pay_batch(uow, who, p.clock, batch_id, reference=reference, paid_on=paid_on)
        uow.commit()
    console.print(f"batch {out['id']} paid: {out['total']} yuan, {out['reference']}", highlight=False)


@app.command("batches")
@guarded
def batches_cmd(username: str | None = AS, as_json: bool = JSON) -> None:
    """Payment batches."""
    p, who = platform(), _who(username)
    with p.uow() as uow:
        out = payments.list_batches(uow, who)
    if as_json:
        print_json(out)
        return
    print_records(
        "payment batches", out, ["id", "kind", "payer", "period", "state", "items", "total", "reference"]
    )


@app.command("payout")
@guarded
def payout_cmd(
    program: str = typer.Option(..., "--program", help="art1, art4 or art8"),
    kind: str = typer.Option(..., "--kind", help="loan_interest, operating, supplier_subsidy, project"),
    project_ref: str = typer.Option(..., "--ref"),
    project_name: str = typer.Option(..., "--name"),
    recipient: str = typer.Option(..., "--recipient"),
    amount: str = typer.Option(..., "--amount"),
    paid_on: str = typer.Option(..., "--paid-on"),
    evidence: Path | None = typer.Option(None, "--evidence", help="A PDF, image or Excel file."),
    username: str | None = AS,
) -> None:
    """Record a payout the city made (city users): the base of the province's match."""
    p, who = platform(), _who(username)
    attached = None
    if evidence is not None:
        try:
            attached = (evidence.read_bytes(), evidence.name)
        except OSError as exc:
            raise ValidationError(f"cannot read {evidence}: {exc}", field="evidence") from None
    data = {
        "program": program,
        "kind": kind,
        "project_ref": project_ref,
        "project_name": project_name,
        "recipient": recipient,
        "amount": amount,
        "paid_on": paid_on,
    }
    with p.uow() as uow:
        out = payouts.record_payout(uow, who, p.clock, p.settings.data_dir, data, attached)
        uow.commit()
    console.print(f"payout {out['id']} recorded: {out['amount']} yuan to {out['recipient']}", highlight=False)


@app.command("export")
@guarded
def export_cmd(
    call_id: int = typer.Argument(...),
    out: Path = typer.Argument(..., help="An .xlsx file."),
    username: str | None = AS,
) -> None:
    """A round's decisions as Excel with Chinese headers."""
    output_file(out, "out", (".xlsx",))
    p, who = platform(), _who(username)
    with p.uow() as uow:
        data = reports.round_workbook(uow, who, call_id, p.clock.now())
    out.write_bytes(data)
    console.print(f"wrote {out}", highlight=False)
