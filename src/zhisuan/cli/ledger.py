"""The double-entry ledger on the command line: `zhisuan ledger balance|verify|fund`."""

from __future__ import annotations

import typer

from zhisuan import audit
from zhisuan.cli._common import console, fail, guarded, print_json, print_table
from zhisuan.cli._platform import cli_actor, platform
from zhisuan.core.clock import parse_date, shanghai_date
from zhisuan.core.errors import ValidationError
from zhisuan.core.money import Money
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import Account, budget_posting

app = typer.Typer(help="The double-entry ledger: balances, verification, budgets.", no_args_is_help=True)


@app.command("balance")
@guarded
def balance(
    on: str | None = typer.Option(
        None, help="Balances of postings dated on or before this day (YYYY-MM-DD)."
    ),
    account: str | None = typer.Option(None, help="Only this account (kind:key) or kind prefix."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Balance of every account (on its normal side), in yuan."""
    day = parse_date(on, "on") if on else None
    with platform().uow() as uow:
        rows = ledger.balances(uow.session, day)
    items = [(a, fen) for a, fen in rows.items() if account is None or str(a).startswith(account)]
    if as_json:
        print_json(
            [
                {
                    "account": str(a),
                    "kind": a.kind.value,
                    "side": a.rule.side.value,
                    "balance": str(Money.from_fen(f)),
                    "fen": f,
                }
                for a, f in items
            ]
        )
        return
    print_table(
        f"balances{' on ' + str(day) if day else ''}",
        ["account", "side", "balance"],
        [[str(a), a.rule.side.value, str(Money.from_fen(f))] for a, f in items],
    )


@app.command("verify")
@guarded
def verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """Check the book: postings balance, no account below its floor, each bill/voucher line posted once."""
    with platform().uow() as uow:
        problems = ledger.verify(uow.session)
    if as_json:
        print_json(
            {"ok": not problems, "problems": [{"code": p.code, "message": p.message} for p in problems]}
        )
    elif not problems:
        console.print(
            "[green]ledger verified[/]: every posting balances, no floor breached, each line posted once"
        )
    if problems:
        if not as_json:
            for p in problems:
                console.print(f"[red]{p.code}[/] {p.message}")
        fail(f"{len(problems)} problem(s) in the ledger", 1)


@app.command("fund")
@guarded
def fund(
    article: str = typer.Option("art2", help="Program article, e.g. art2."),
    year: int = typer.Option(..., help="Program year."),
    amount: str = typer.Option(..., help="Yuan to add to the program budget (negative withdraws)."),
    reference: str = typer.Option(..., "--ref", help="Budget document reference (idempotency key)."),
) -> None:
    """Fund a provincial program budget for a year (posting from its appropriation)."""
    money = Money(amount, field="amount")
    if not money.is_whole_fen():
        raise ValidationError("give the amount to the fen", field="amount")
    p = platform()
    with p.uow() as uow:
        n = ledger.post(
            uow.session,
            [budget_posting(article, year, money.to_fen(), shanghai_date(p.clock.now()), reference)],
            p.clock,
        )
        left = ledger.balance(uow.session, Account.program_budget(article, year))
        if n:
            detail = {"year": year, "amount_fen": money.to_fen(), "reference": reference}
            audit.record(uow, p.clock.now(), cli_actor(), "ledger.fund", f"program:{article}", detail)
        uow.commit()
    verb = "funded" if n else "already funded under this reference"
    console.print(f"[green]{verb}[/]: {article} {year} budget left {Money.from_fen(left)} yuan")


__all__ = ["app"]
