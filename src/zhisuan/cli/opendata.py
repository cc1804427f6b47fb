"""`zhisuan opendata …`: the open-data catalog, sharing requests, opening bulletins and data suppliers.

Every command acts as the user named by ``--as`` (or ``zhisuan --as USER``); the role and scope decide
what it may do: a city's users and a department's members manage their own entries, the data bureau
all of them and the bulletins. ``--json`` prints what the API would answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from zhisuan.cli._common import AS, JSON, console, guarded, output_file, print_json, print_records
from zhisuan.cli._platform import acting, platform
from zhisuan.core.errors import ValidationError
from zhisuan.opendata import bulletins, catalog, dcat, imports, sharing, suppliers
from zhisuan.opendata.search import Filters

app = typer.Typer(
    help="Open public data (art. 3) and data suppliers (art. 4): catalog, search, requests, bulletins.",
    no_args_is_help=True,
)
BASE = typer.Option("http://localhost:8000", "--base-url", help="The platform's public address (DCAT IRIs).")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}", field="file") from None


def _datasets_table(title: str, rows: list[dict[str, Any]]) -> None:
    print_records(
        title,
        rows,
        [
            "identifier",
            "title",
            ("publisher", "publisher_name"),
            ("openness", "openness_zh"),
            ("formats", lambda d: "、".join(d["formats"])),
            "state",
        ],
    )


@app.command("search")
@guarded
def search_cmd(
    q: str = typer.Argument("", help="Words to search; empty lists the catalog."),
    publisher: str | None = typer.Option(None, "--publisher", help="city:CODE or org:ID"),
    theme: str | None = typer.Option(None, "--theme"),
    openness: str | None = typer.Option(None, "--openness"),
    fmt: str | None = typer.Option(None, "--format"),
    limit: int = typer.Option(20, "--limit", min=1, max=200),
    as_json: bool = JSON,
) -> None:
    """Search the published catalog (Chinese words), best first, with facet counts."""
    p = platform()
    with p.uow(read_only=True) as uow:
        out: dict[str, Any] = catalog.find_datasets(
            uow, q or None, Filters(publisher, theme, openness, fmt), limit=limit
        )
    if as_json:
        print_json(out)
        return
    _datasets_table(f"{out['total']} datasets", out["datasets"])
    for facet, values in out["facets"].items():
        console.print(f"{facet}: " + ", ".join(f"{v['name']} {v['count']}" for v in values), highlight=False)


@app.command("show")
@guarded
def show_cmd(identifier: str = typer.Argument(...), username: str | None = AS, as_json: bool = JSON) -> None:
    """One dataset with its distributions."""
    p = platform()
    with p.uow(read_only=True) as uow:
        out: dict[str, Any] = catalog.get_dataset(uow, acting(username), identifier)
    if as_json:
        print_json(out)
        return
    console.print(
        f"{out['title']} · {out['publisher_name']} · {out['openness_zh']} · v{out['version']}",
        highlight=False,
    )
    console.print(str(out["description"]), highlight=False)
    for d in out["distributions"]:
        console.print(
            f"  distribution {d['id']}: {d['format']} {d['access_url'] or '(file)'}", highlight=False
        )


@app.command("mine")
@guarded
def mine_cmd(username: str | None = AS, as_json: bool = JSON) -> None:
    """The entries the user manages, drafts included."""
    p = platform()
    with p.uow(read_only=True) as uow:
        out = catalog.managed_datasets(uow, acting(username))
    print_json(out) if as_json else _datasets_table("managed datasets", out)


@app.command("publish")
@guarded
def publish_cmd(
    identifier: str = typer.Argument(...),
    withdraw: bool = typer.Option(False, "--withdraw", help="Withdraw instead."),
    username: str | None = AS,
) -> None:
    """Publish (or withdraw) a dataset."""
    p = platform()
    with p.uow() as uow:
        out = catalog.set_state(
            uow, acting(username), p.clock, identifier, "withdrawn" if withdraw else "published"
        )
        uow.commit()
    console.print(f"{out['identifier']}: {out['state']}", highlight=False)


@app.command("import")
@guarded
def import_cmd(
    path: Path = typer.Argument(..., help="CSV or Excel; the first line names the columns."),
    kind: str = typer.Option("datasets", "--kind", help="datasets or suppliers"),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """Register datasets or suppliers from a file: all rows or none (a bad row is named)."""
    p = platform()
    if kind not in {"datasets", "suppliers"}:
        raise ValidationError("datasets or suppliers", field="kind")
    content = _read(path)
    with p.uow() as uow:
        run = imports.import_datasets if kind == "datasets" else imports.import_suppliers
        out = run(uow, acting(username), p.clock, content, path.name)
        uow.commit()
    print_json(out) if as_json else console.print(f"{out['imported']} {kind} imported", highlight=False)


@app.command("export")
@guarded
def export_cmd(
    out: Path = typer.Argument(..., help="Where to write: .jsonld (DCAT-AP), .csv or .xlsx"),
    base_url: str = BASE,
) -> None:
    """Write the published catalog as DCAT-AP JSON-LD, CSV or Excel."""
    import json

    output_file(out, "out", (".jsonld", ".csv", ".xlsx"))
    p = platform()
    with p.uow(read_only=True) as uow:
        entries = catalog.published_catalog(uow)
    suffix = out.suffix.lower()
    if suffix == ".jsonld":
        doc = dcat.catalog_document(entries, base_url.rstrip("/"), None)
        data = json.dumps(doc, ensure_ascii=False, indent=1).encode()
    elif suffix == ".csv":
        data = dcat.catalog_csv(entries)
    else:
        data = dcat.catalog_xlsx(entries)
    out.write_bytes(data)
    console.print(f"{len(entries)} datasets written to {out}", highlight=False)


@app.command("requests")
@guarded
def requests_cmd(
    state: str | None = typer.Option(None, "--state"), username: str | None = AS, as_json: bool = JSON
) -> None:
    """Sharing requests the user sees (its organization's, its publisher's, or all)."""
    p = platform()
    with p.uow(read_only=True) as uow:
        out = sharing.list_requests(uow, acting(username), p.clock, state)
    if as_json:
        print_json(out)
        return
    print_records(
        "sharing requests",
        out,
        [
            "id",
            ("dataset", "dataset_title"),
            ("organization", "org_name"),
            ("state", "state_zh"),
            ("requested", lambda r: str(r["requested_at"])[:10]),
            ("hours to answer", "hours_to_answer"),
            ("expires", "expires_on"),
        ],
    )


@app.command("answer")
@guarded
def answer_cmd(
    request_id: int = typer.Argument(...),
    grant: bool = typer.Option(False, "--grant"),
    refuse: str | None = typer.Option(None, "--refuse", help="Refuse, with this reason."),
    conditions: str | None = typer.Option(None, "--conditions"),
    until: str | None = typer.Option(None, "--until", help="The grant's last day, YYYY-MM-DD."),
    username: str | None = AS,
) -> None:
    """Grant (conditions and a last day) or refuse (a reason) a sharing request."""
    if grant == (refuse is not None):
        raise ValidationError("give --grant or --refuse REASON", field="action")
    p = platform()
    body = (
        {"action": "grant", "conditions": conditions, "expires_on": until}
        if grant
        else {"action": "refuse", "reason": refuse}
    )
    with p.uow() as uow:
        out = sharing.answer_request(uow, acting(username), p.clock, request_id, body)
        uow.commit()
    console.print(f"request {out['id']}: {out['state_zh']}", highlight=False)


@app.command("bulletin")
@guarded
def bulletin_cmd(
    period: str = typer.Argument(..., help="A quarter, such as 2025Q2."),
    generate: bool = typer.Option(False, "--generate", help="Compute it (again) as a draft."),
    publish: bool = typer.Option(False, "--publish", help="Publish it: its figures are frozen."),
    out: Path | None = typer.Option(None, "--out", help="Write it as .csv or .xlsx."),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """An opening bulletin: generate, publish, show or export a quarter's figures and ranking."""
    output_file(out, "--out", (".csv", ".xlsx"))
    p, who = platform(), acting(username)
    with p.uow() as uow:
        if generate:
            bulletins.generate(uow, who, p.clock, period)
        if publish:
            bulletins.publish(uow, who, p.clock, period)
        b: dict[str, Any] = bulletins.get(uow, who, period)
        uow.commit()
    if out is not None:
        out.write_bytes(bulletins.as_xlsx(b) if out.suffix.lower() == ".xlsx" else bulletins.as_csv(b))
    if as_json:
        print_json(b)
        return
    print_records(
        f"{b['period']} ({b['state']})",
        b["lines"],
        [
            "rank",
            "publisher",
            "opened",
            ("total", "opened_total"),
            "received",
            "answered",
            "refused",
            ("median h", "median_hours_to_answer"),
        ],
    )


@app.command("suppliers")
@guarded
def suppliers_cmd(
    city: str | None = typer.Option(None, "--city"), username: str | None = AS, as_json: bool = JSON
) -> None:
    """The data-supplier registry (art. 4) and each supplier's recorded years."""
    p = platform()
    with p.uow(read_only=True) as uow:
        out: list[dict[str, Any]] = suppliers.list_suppliers(uow, acting(username), city)
    if as_json:
        print_json(out)
        return
    print_records(
        "data suppliers",
        out,
        [
            "id",
            "name",
            ("city", "city_name"),
            ("services", lambda s: "、".join(s["services_zh"])),
            ("years", lambda s: ", ".join(f"{t['year']}: {t['amount']}" for t in s["transactions"])),
        ],
    )


@app.command("ratio")
@guarded
def ratio_cmd(
    city: str = typer.Argument(...),
    year: int = typer.Argument(...),
    ratio: str = typer.Argument(..., help="'5%', '0.05' or '1/20'"),
    username: str | None = AS,
) -> None:
    """Set a city's art. 4 ratio for a year (that city's users)."""
    p = platform()
    with p.uow() as uow:
        out = suppliers.set_city_ratio(uow, acting(username), p.clock, p.packs.current(), city, year, ratio)
        uow.commit()
    console.print(f"{out['city']} {out['year']}: {out['ratio']}", highlight=False)


@app.command("subsidy")
@guarded
def subsidy_cmd(
    supplier_id: int = typer.Argument(...),
    year: int = typer.Argument(...),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """The city subsidy the policy engine computes for a supplier's year (art. 4), explained."""
    p = platform()
    with p.uow(read_only=True) as uow:
        out: dict[str, Any] = suppliers.subsidy(uow, acting(username), p.packs.current(), supplier_id, year)
    if as_json:
        print_json(out)
        return
    decision = out["decision"]
    console.print(f"eligible {decision['eligible']}, amount {decision['amount']} yuan", highlight=False)
    for step in decision["steps"]:
        console.print(f"  {step['rule']}: {step['result']}", highlight=False)


@app.command("rewards")
@guarded
def rewards_cmd(year: int = typer.Argument(...), username: str | None = AS, as_json: bool = JSON) -> None:
    """The province's performance reward to each city from its recorded supplier payouts."""
    p = platform()
    with p.uow(read_only=True) as uow:
        out: dict[str, Any] = suppliers.performance_rewards(uow, acting(username), year)
    if as_json:
        print_json(out)
        return
    print_records(
        f"performance rewards {year}", out["cities"], [("city", "city_name"), "payouts", "recorded", "reward"]
    )
