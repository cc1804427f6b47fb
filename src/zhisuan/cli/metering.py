"""Usage, bills and compute vouchers (art. 2) on the command line: `zhisuan usage|bills|vouchers …`."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

import typer

from zhisuan import audit, metering
from zhisuan.cli._common import console, guarded, print_json, print_table
from zhisuan.cli._platform import cli_actor, platform
from zhisuan.core.clock import Month, parse_date, shanghai_date
from zhisuan.core.errors import ValidationError
from zhisuan.core.money import Money, bounded_decimal
from zhisuan.metering.model import Band, Discount, DisputeState, PoolRate, Tolerance
from zhisuan.policy import PackSet

usage_app = typer.Typer(help="Usage records: import, list, reconcile, prices.", no_args_is_help=True)
bills_app = typer.Typer(help="Monthly bills per organization and center.", no_args_is_help=True)
vouchers_app = typer.Typer(help="Compute vouchers (art. 2): monthly settlement.", no_args_is_help=True)

MONTH_HELP = "Billing month on the Asia/Shanghai calendar, e.g. 2025-06."


def _month(text: str) -> Month:
    return Month.parse(text)


def _packs() -> PackSet:
    """The policy packs metering applies (usage split at art. 2's edges, voucher settlement)."""
    return platform().packs.current()


def _today() -> dt.date:
    return shanghai_date(platform().clock.now())


def _percent(text: str, field: str) -> Fraction:
    """A percentage option as an exact fraction ('13' → 13/100), bounded before any arithmetic."""
    return Fraction(bounded_decimal(text, field, limit=100, places=6)) / 100


def _fen(text: str, field: str) -> int:
    money = Money(text, field=field)
    if not money.is_whole_fen():
        raise ValidationError("give the amount to the fen (two decimal places at most)", field=field)
    return money.to_fen()


# usage -------------------------------------------------------------------------------------------


@usage_app.command("import")
@guarded
def usage_import(
    file: Path = typer.Argument(..., help="A .csv (with header) or .jsonl file of usage."),
    batch: int = typer.Option(
        50_000, help="Records written per batch (all in one transaction; the first batch at most 5,000)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import usage: idempotent (same rows again change nothing), all rows or none.

    Columns: engine, engine_job_id, org_id, center_id, pool_id, accelerator, cards, start, end
    (ISO timestamps with offset), optional corrects (key of a record this row replaces).
    """
    p = platform()

    def stored(number: int, records: int) -> None:
        if not as_json:
            console.print(f"stored batch {number}: {records} records so far")

    with p.uow() as uow:
        result = metering.import_usage(
            uow, file, _packs(), batch=batch, progress=stored, actor=cli_actor(), at=p.clock.now()
        )
        uow.commit()
    if as_json:
        print_json(
            {
                "rows": result.rows,
                "records": result.records,
                "inserted": result.inserted,
                "duplicates": result.duplicates,
            }
        )
    else:
        console.print(
            f"[green]imported[/] {result.rows} rows → {result.records} records "
            f"({result.inserted} new, {result.duplicates} already there)"
        )


@usage_app.command("collect")
@guarded
def usage_collect(
    month: str | None = typer.Option(
        None, help="Only runs touching this month (default: every run ended since the last collection)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Turn the job runs ended since the last collection into usage records (idempotent)."""
    p = platform()
    with p.uow() as uow:
        r = metering.collect_runs(uow, _packs(), _month(month) if month else None)
        if r.inserted:
            detail = {"runs": r.rows, "records": r.records, "inserted": r.inserted}
            audit.record(uow, p.clock.now(), cli_actor(), "usage.collect", f"month:{month or 'new'}", detail)
        uow.commit()
    if as_json:
        print_json({"runs": r.rows, "records": r.records, "inserted": r.inserted})
    else:
        console.print(f"[green]collected[/] {r.rows} runs → {r.records} records ({r.inserted} new)")


@usage_app.command("list")
@guarded
def usage_list(
    org: int | None = typer.Option(None, help="Organization id."),
    month: str | None = typer.Option(None, help=MONTH_HELP),
    limit: int = typer.Option(200),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Usage records, oldest first."""
    with platform().uow() as uow:
        rows = metering.list_usage(uow, org, _month(month) if month else None, limit)
    if as_json:
        print_json(rows)
        return
    print_table(
        "usage",
        [
            "org",
            "center",
            "pool",
            "accelerator",
            "cards",
            "start",
            "end",
            "card-s",
            "price/card-h",
            "amount",
            "kind",
        ],
        [
            [
                r["org_id"],
                r["center_id"],
                r["pool_id"],
                r["accelerator"],
                r["cards"],
                r["start"],
                r["end"],
                r["card_seconds"],
                r["price_per_card_hour"],
                r["amount"],
                r["kind"],
            ]
            for r in rows
        ],
    )


@usage_app.command("summary")
@guarded
def usage_summary(
    org: int | None = typer.Option(None, help="Organization id."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Card-hours and amounts per organization, center and month."""
    with platform().uow() as uow:
        rows = metering.usage_summary(uow, org)
    if as_json:
        print_json(rows)
        return
    print_table(
        "usage per month",
        ["month", "org", "center", "card-hours", "amount", "records"],
        [[r["month"], r["org_id"], r["center_id"], r["card_hours"], r["amount"], r["records"]] for r in rows],
    )


def _band(text: str) -> Band:
    try:
        span, price = text.split("=")
        start, end = span.split("-")
        return Band(dt.time.fromisoformat(start), dt.time.fromisoformat(end), _fen(price, "band"), span)
    except ValueError:
        raise ValidationError(f"a band looks like 08:00-22:00=12.50, got {text!r}", field="band") from None


@usage_app.command("price")
@guarded
def usage_price(
    pool: int = typer.Option(..., help="Pool id."),
    effective_from: str = typer.Option(..., "--from", help="First Shanghai day of this price (YYYY-MM-DD)."),
    price: str | None = typer.Option(None, help="Flat list price per card-hour, yuan, tax-inclusive."),
    band: list[str] = typer.Option([], help="Time band HH:MM-HH:MM=yuan (repeat to cover the day)."),
) -> None:
    """Set a pool's list price per card-hour from a date (flat, or time bands)."""
    day = parse_date(effective_from, "from")
    if band:
        rate = PoolRate(pool, day, tuple(_band(b) for b in band))
    elif price is not None:
        rate = PoolRate.flat(pool, day, _fen(price, "price"))
    else:
        raise ValidationError("give --price or --band", field="price")
    p = platform()
    with p.uow() as uow:
        metering.set_pool_rate(uow, rate)
        detail = {"from": day.isoformat(), "price": price, "bands": list(band)}
        audit.record(uow, p.clock.now(), cli_actor(), "pool.price", f"pool:{pool}", detail)
        uow.commit()
    console.print(f"[green]price set[/] for pool {pool} from {day}")


@usage_app.command("discount")
@guarded
def usage_discount(
    org: int = typer.Option(..., help="Organization id."),
    percent: str = typer.Option(..., help="Negotiated discount in percent, e.g. 15 or 12.5."),
    effective_from: str = typer.Option(..., "--from", help="First Shanghai day (YYYY-MM-DD)."),
    pool: int | None = typer.Option(None, help="Only this pool (default: every pool)."),
) -> None:
    """Record a negotiated per-organization discount."""
    bp = _percent(percent, "percent") * 10_000
    if bp.denominator != 1:
        raise ValidationError("a discount is given to 0.01%", field="percent")
    p = platform()
    with p.uow() as uow:
        metering.set_discount(uow, Discount(org, pool, parse_date(effective_from, "from"), int(bp)))
        detail = {"percent": percent, "from": effective_from, "pool": pool}
        audit.record(uow, p.clock.now(), cli_actor(), "org.discount", f"org:{org}", detail)
        uow.commit()
    console.print(f"[green]discount set[/] {percent}% for org {org}")


@usage_app.command("reconcile")
@guarded
def usage_reconcile(
    month: str = typer.Option(..., help=MONTH_HELP),
    observed: Path | None = typer.Option(
        None,
        help="CSV of observed runs (engine, engine_job_id, center_id, pool_id, "
        "cards, dispatched_at, completed_at).",
    ),
    tolerance_seconds: int = typer.Option(60, help="Card-seconds of difference always accepted."),
    tolerance_percent: str = typer.Option("1", help="Percent of observed card-seconds accepted."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Compare platform-observed runs with engine-reported usage; open disputes (held out of billing)."""
    p = platform()
    tol = Tolerance(tolerance_seconds, _percent(tolerance_percent, "tolerance-percent"))
    with p.uow() as uow:
        runs = (
            metering.read_observed_file(observed) if observed else metering.observed_runs(uow, _month(month))
        )
        rows = metering.reconcile_month(uow, _month(month), runs, p.clock, tol)
        uow.commit()
    _print_disputes(rows, as_json)


def _print_disputes(rows: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    print_table(
        "disputes",
        [
            "id",
            "engine",
            "job",
            "center",
            "month",
            "observed card-s",
            "reported card-s",
            "difference",
            "state",
        ],
        [
            [
                r["id"],
                r["engine"],
                r["engine_job_id"],
                r["center_id"],
                r["month"],
                r["observed_card_seconds"],
                r["reported_card_seconds"],
                r["difference"],
                r["state"],
            ]
            for r in rows
        ],
    )


@usage_app.command("disputes")
@guarded
def usage_disputes(
    month: str | None = typer.Option(None, help=MONTH_HELP), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Usage disputes: open ones are held out of billing."""
    with platform().uow() as uow:
        rows = metering.list_disputes(uow, _month(month) if month else None)
    _print_disputes(rows, as_json)


@usage_app.command("resolve")
@guarded
def usage_resolve(
    dispute: int,
    outcome: DisputeState = typer.Option(..., help="released (bill the engine's figures) or corrected."),
    note: str = typer.Option("", help="Why."),
) -> None:
    """Resolve a dispute: its held usage is billed by the next drafting."""
    p = platform()
    with p.uow() as uow:
        row = metering.resolve_dispute(uow, dispute, outcome, note, p.clock)
        uow.commit()
    console.print(f"[green]dispute {row['id']} {row['state']}[/]")


# bills -------------------------------------------------------------------------------------------


@bills_app.command("draft")
@guarded
def bills_draft(
    month: str = typer.Option(..., help=MONTH_HELP),
    vat_percent: str = typer.Option("6", help="VAT rate in percent (compute services: 6)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Draft the month's bills from usage not yet billed (late usage → adjustment lines)."""
    p = platform()
    with p.uow() as uow:
        r = metering.draft_bills(
            uow, _month(month), p.clock, _percent(vat_percent, "vat-percent"), actor=cli_actor()
        )
        uow.commit()
    body = {
        "run": r.run_id,
        "bills": r.bills,
        "lines": r.lines,
        "total": str(Money.from_fen(r.gross_fen)),
        "held_records": r.held_records,
    }
    if as_json:
        print_json(body)
    else:
        console.print(
            f"[green]drafted[/] {r.bills} bills, {r.lines} lines, total {body['total']} yuan "
            f"({r.held_records} records held in dispute)"
        )


@bills_app.command("list")
@guarded
def bills_list(
    month: str | None = typer.Option(None, help=MONTH_HELP),
    org: int | None = typer.Option(None),
    state: str | None = typer.Option(None, help="draft, issued, paid or void."),
    limit: int = typer.Option(500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Bills."""
    with platform().uow() as uow:
        rows = metering.list_bills(uow, _month(month) if month else None, org, state, limit)
    if as_json:
        print_json(rows)
        return
    print_table(
        "bills",
        ["id", "month", "org", "center", "state", "total", "VAT", "issued", "paid", "payment"],
        [
            [
                b["id"],
                b["month"],
                b["org_id"],
                b["center_id"],
                b["state"],
                b["total"],
                b["vat"],
                b["issued_on"],
                b["paid_on"],
                b["payment_ref"],
            ]
            for b in rows
        ],
    )


@bills_app.command("show")
@guarded
def bills_show(bill: int, as_json: bool = typer.Option(False, "--json")) -> None:
    """One bill with its lines."""
    with platform().uow() as uow:
        d = metering.bill_detail(uow, bill)
    if as_json:
        print_json(d)
        return
    console.print(
        f"bill {d['id']} · org {d['org_id']} · center {d['center_id']} · {d['month']} · {d['state']} · "
        f"total {d['total']} (VAT {d['vat_rate']}: {d['vat']})"
    )
    lines = d["lines"]
    assert isinstance(lines, list)
    print_table(
        "lines",
        ["id", "usage month", "pool", "accelerator", "card-s", "unit price", "adj.", "amount", "VAT"],
        [
            [
                ln["id"],
                ln["usage_month"],
                ln["pool_id"],
                ln["accelerator"],
                ln["card_seconds"],
                ln["unit_price"],
                "yes" if ln["adjustment"] else "",
                ln["amount"],
                ln["vat"],
            ]
            for ln in lines
        ],
    )


@bills_app.command("issue")
@guarded
def bills_issue(
    bill: list[int] = typer.Argument(None, help="Bill ids."),
    month: str | None = typer.Option(None, help="Issue every draft of this month."),
) -> None:
    """Issue draft bills (posts them to the ledger)."""
    p = platform()
    if not bill and month is None:
        raise ValidationError("give bill ids or --month", field="bill")
    with p.uow() as uow:
        n = metering.issue_bills(
            uow, p.clock, bill or (), _month(month) if month else None, actor=cli_actor()
        )
        uow.commit()
    console.print(f"[green]issued[/] {n} bills")


@bills_app.command("pay")
@guarded
def bills_pay(
    bill: int,
    reference: str = typer.Option(..., "--ref", help="Payment reference (bank transfer id)."),
    paid_on: str | None = typer.Option(None, "--date", help="Payment date (default today, Shanghai)."),
) -> None:
    """Mark an issued bill paid."""
    p = platform()
    day = parse_date(paid_on, "date") if paid_on else _today()
    with p.uow() as uow:
        d = metering.pay_bill(uow, bill, reference, day, p.clock, actor=cli_actor())
        uow.commit()
    console.print(f"[green]bill {d['id']} paid[/] {d['total']} on {d['paid_on']} ({d['payment_ref']})")


@bills_app.command("pay-all")
@guarded
def bills_pay_all(
    month: str = typer.Option(..., help=MONTH_HELP),
    reference: str = typer.Option(..., "--ref", help="Payment reference."),
    paid_on: str | None = typer.Option(None, "--date", help="Payment date (default today, Shanghai)."),
) -> None:
    """Mark every issued bill of a month paid (demo payments, bank batch files)."""
    p = platform()
    day = parse_date(paid_on, "date") if paid_on else _today()
    with p.uow() as uow:
        n = metering.pay_all(uow, _month(month), reference, day, p.clock, actor=cli_actor())
        uow.commit()
    console.print(f"[green]paid[/] {n} bills")


@bills_app.command("void")
@guarded
def bills_void(bill: int, reason: str = typer.Option(..., help="Why the bill is voided.")) -> None:
    """Void a draft or issued bill (its usage is billed again by the next drafting)."""
    p = platform()
    with p.uow() as uow:
        metering.void_bill(uow, bill, reason, p.clock, actor=cli_actor())
        uow.commit()
    console.print(f"[green]bill {bill} voided[/]")


@bills_app.command("export")
@guarded
def bills_export(bill: int, file: Path = typer.Argument(..., help="Target .xlsx or .csv file.")) -> None:
    """Export a bill as Excel or CSV."""
    with platform().uow() as uow:
        path = metering.export_bill(uow, bill, file)
    console.print(f"[green]written[/] {path}")


@bills_app.command("revenue")
@guarded
def bills_revenue(
    operator: int | None = typer.Option(None, help="Only centers of this operator org."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Billed revenue per center and month."""
    with platform().uow() as uow:
        rows = metering.revenue_by_month(uow, operator)
    if as_json:
        print_json(rows)
        return
    print_table(
        "revenue",
        ["month", "center", "total", "VAT", "net", "bills"],
        [[r["month"], r["center_id"], r["total"], r["vat"], r["net"], r["bills"]] for r in rows],
    )


# vouchers ----------------------------------------------------------------------------------------


@vouchers_app.command("settle")
@guarded
def vouchers_settle(
    month: str = typer.Option(..., help=MONTH_HELP), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Settle art. 2 vouchers for the paid bill lines up to a month (twice changes nothing)."""
    p = platform()
    with p.uow() as uow:
        r = metering.settle_vouchers(
            uow,
            _month(month),
            p.clock,
            _packs(),
            progress=None if as_json else console.print,
            actor=cli_actor(),
        )
        if not as_json and r.created:
            console.print(f"settled {r.lines} lines; committing")
        uow.commit()
    body = {
        "month": r.month,
        "created": r.created,
        "lines": r.lines,
        "granted": str(Money.from_fen(r.granted_fen)),
        "queued": str(Money.from_fen(r.queued_fen)),
        "by_status": r.by_status,
    }
    if not r.created:
        body["rejudged"] = {
            "provisional_lines": r.rejudged,
            "granted": str(Money.from_fen(r.rejudged_granted_fen)),
            "still_provisional": r.still_provisional,
        }
    if as_json:
        print_json(body)
    elif r.created:
        console.print(
            f"[green]settled[/] {r.month}: {r.lines} lines, "
            f"granted {body['granted']}, queued {body['queued']}"
        )
    elif r.rejudged:
        console.print(f"{r.month} was already settled; {r.rejudged_text()}")
    else:
        console.print(
            f"{r.month} was already settled: {r.lines} lines, granted {body['granted']} (nothing changed)"
        )


@vouchers_app.command("list")
@guarded
def vouchers_list(
    month: str | None = typer.Option(None, help="Settlement month."),
    org: int | None = typer.Option(None),
    limit: int = typer.Option(500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Voucher lines with their status (explanation steps in --json)."""
    with platform().uow() as uow:
        rows = metering.list_vouchers(uow, _month(month) if month else None, org, limit)
    if as_json:
        print_json(rows)
        return
    print_table(
        "vouchers",
        ["id", "bill line", "org", "city", "usage", "settled", "spend", "amount", "status", "reason"],
        [
            [
                v["id"],
                v["bill_line_id"],
                v["org_id"],
                v["city"],
                v["usage_month"],
                v["settlement_month"],
                v["spend"],
                v["amount"],
                v["status"],
                "; ".join(str(x) for x in v["reasons"])[:80],  # type: ignore[attr-defined]
            ]
            for v in rows
        ],
    )


@vouchers_app.command("burn")
@guarded
def vouchers_burn(as_json: bool = typer.Option(False, "--json")) -> None:
    """Budget burn: vouchers granted per article, year and city, and the budget left."""
    with platform().uow() as uow:
        rows = metering.budget_burn(uow)
    if as_json:
        print_json(rows)
        return
    print_table(
        "budget burn",
        ["article", "year", "city", "granted", "lines", "budget left"],
        [[r["article"], r["year"], r["city"], r["granted"], r["lines"], r["budget_left"]] for r in rows],
    )


__all__ = ["bills_app", "usage_app", "vouchers_app"]
