"""`zhisuan registries …` and `zhisuan matching`: the art. 6–15 registries, scenario bulletins, matching.

Every command acts as the user named by ``--as`` (or the root option): a city official writes only its
own city's entries, the province everywhere. ``--json`` prints what the API would answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

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
from zhisuan.core.errors import ValidationError
from zhisuan.matching import services as matching
from zhisuan.opendata.fit import OpenCatalog
from zhisuan.registries import bulletins, services
from zhisuan.registries.specs import SPECS

app = typer.Typer(
    help="Registries of art. 6–15: list, add, change, import, export; scenario bulletins.",
    no_args_is_help=True,
)
bulletin_app = typer.Typer(
    help="Scenario bulletins (quarterly) and rankings (annual), frozen when published."
)
app.add_typer(bulletin_app, name="bulletin")

NAME = typer.Argument(..., help=f"The registry: {', '.join(SPECS)}.")
SET = typer.Option(
    [], "--set", help="FIELD=VALUE (repeat); fields as `zhisuan registries fields NAME` lists."
)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"give FIELD=VALUE, not {item!r}", field=option)
        out[key.strip()] = value
    return out


def _show(out: dict[str, Any]) -> None:
    spec = SPECS[str(out["registry"])]
    print_table(
        f"{spec.zh} #{out['id']}",
        ["field", "字段", "value"],
        [(k, spec.field(k).zh if spec.has(k) else "", v) for k, v in out.items() if k not in {"registry"}],
    )


@app.command("fields")
@guarded
def fields_cmd(name: str = NAME, as_json: bool = JSON) -> None:
    """A registry's fields: names, Chinese labels, types and choices."""
    spec = services.spec_of(name)
    if as_json:
        print_json(spec.describe())
        return
    print_table(
        f"{spec.zh} ({spec.article}, {'public' if spec.public else 'scoped'})",
        ["field", "字段", "type", "required", "choices"],
        [
            (
                f.name,
                f.zh,
                f.type,
                "yes" if f.required else "",
                ", ".join(f"{c.value}={c.zh}" for c in f.choices),
            )
            for f in spec.fields
        ],
    )


@app.command("list")
@guarded
def list_cmd(
    name: str = NAME,
    where: list[str] = typer.Option([], "--where", help="FIELD=VALUE filter (repeat)."),
    q: str | None = typer.Option(None, "--q", help="Text in the title."),
    sort: str | None = typer.Option(None, "--sort", help="A field; '-' first for descending."),
    limit: int = typer.Option(100, "--limit"),
    offset: int = typer.Option(0, "--offset"),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """A registry's entries the user may see."""
    who, p = acting(username), platform()
    with p.uow(read_only=True) as uow:
        out = services.list_entries(
            uow,
            who,
            p.packs.current(),
            p.clock.now(),
            name,
            filters=_pairs(where, "where"),
            q=q,
            sort=sort,
            limit=limit,
            offset=offset,
        )
    if as_json:
        print_json(out)
        return
    spec = SPECS[name]
    shown = [f for f in spec.fields if f.required][:6]
    entries: list[dict[str, Any]] = out["entries"]  # type: ignore[assignment]
    extra = [
        k
        for k in ("share", "above_threshold", "tracked_scale", "support_total", "awarded")
        if entries and k in entries[0]
    ]
    print_table(
        f"{spec.zh} · {out['total']}",
        ["id", *(f.zh for f in shown), *extra],
        [(e["id"], *(e.get(f.name) for f in shown), *(e.get(k) for k in extra)) for e in entries],
    )


@app.command("show")
@guarded
def show_cmd(
    name: str = NAME, entry_id: int = typer.Argument(...), username: str | None = AS, as_json: bool = JSON
) -> None:
    """One entry with what its registry computes."""
    who, p = acting(username), platform()
    with p.uow(read_only=True) as uow:
        out = services.get_entry(uow, who, p.packs.current(), p.clock.now(), name, entry_id)
    print_json(out) if as_json else _show(out)


@app.command("add")
@guarded
def add_cmd(
    name: str = NAME, values: list[str] = SET, username: str | None = AS, as_json: bool = JSON
) -> None:
    """Add an entry (province, or a city official in its own city); audited."""
    who, p = acting(username), platform()
    with p.uow() as uow:
        out = services.create_entry(uow, who, p.packs.current(), p.clock, name, _pairs(values, "set"))
        uow.commit()
    print_json(out) if as_json else _show(out)


@app.command("set")
@guarded
def set_cmd(
    name: str = NAME,
    entry_id: int = typer.Argument(...),
    values: list[str] = SET,
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """Change fields of an entry; audited."""
    who, p = acting(username), platform()
    with p.uow() as uow:
        out = services.update_entry(
            uow, who, p.packs.current(), p.clock, name, entry_id, _pairs(values, "set")
        )
        uow.commit()
    print_json(out) if as_json else _show(out)


@app.command("import")
@guarded
def import_cmd(
    name: str = NAME,
    file: Path = typer.Argument(..., help="A .csv or .xlsx file."),
    username: str | None = AS,
) -> None:
    """Import a CSV or Excel file: every row checked first; a bad row is named and nothing is written."""
    who, p = acting(username), platform()
    data = file.read_bytes()
    with p.uow() as uow:
        out = services.import_file(uow, who, p.packs.current(), p.clock, name, data)
        uow.commit()
    console.print(f"{name}: {out['created']} added, {out['updated']} changed", highlight=False)


@app.command("export")
@guarded
def export_cmd(
    name: str = NAME,
    file: Path = typer.Argument(..., help="Where to write: .csv or .xlsx."),
    where: list[str] = typer.Option([], "--where", help="FIELD=VALUE filter (repeat)."),
    username: str | None = AS,
) -> None:
    """Export the entries the user may see, with Chinese headers."""
    output_file(file, "file", (".csv", ".xlsx"))
    who, p = acting(username), platform()
    fmt = "csv" if file.suffix.lower() == ".csv" else "xlsx"
    with p.uow(read_only=True) as uow:
        _name, _ctype, data = services.export(uow, who, p.clock.now(), name, fmt, _pairs(where, "where"))
    file.write_bytes(data)
    console.print(f"wrote {file} ({len(data)} bytes)", highlight=False)


@app.command("standard-award")
@guarded
def standard_award_cmd(entry_id: int = typer.Argument(...), username: str | None = AS) -> None:
    """What art. 14 allows for a standard now (one award per standard, from the awards workflow)."""
    who, p = acting(username), platform()
    with p.uow(read_only=True) as uow:
        print_json(services.standard_award_check(uow, who, p.packs.current(), p.clock.now(), entry_id))


def _bulletin(out: dict[str, Any]) -> None:
    console.print(f"{out['kind_zh']} {out['period']} · {out['state']}", highlight=False)
    for part, title in (("cities", "cities · 市"), ("departments", "departments · 部门")):
        print_records(title, out[part], ["rank", "name", "opened", "matched", "completed"])


@bulletin_app.command("list")
@guarded
def bulletins_cmd(username: str | None = AS, as_json: bool = JSON) -> None:
    """Bulletins and rankings (drafts too, for officials)."""
    who, p = acting(username), platform()
    with p.uow(read_only=True) as uow:
        out = bulletins.list_bulletins(uow, who)
    if as_json:
        print_json(out)
        return
    print_records("bulletins", out, ["id", ("kind", "kind_zh"), "period", "state"])


@bulletin_app.command("draft")
@guarded
def draft_cmd(
    kind: str = typer.Argument(..., help="quarterly or annual"),
    period: str = typer.Argument(..., help="2025Q3 or 2025"),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """Start a quarterly bulletin or an annual ranking (province users)."""
    who, p = acting(username), platform()
    with p.uow() as uow:
        out = bulletins.draft_bulletin(uow, who, p.clock, kind, period)
        uow.commit()
    print_json(out) if as_json else _bulletin(out)


@bulletin_app.command("publish")
@guarded
def publish_cmd(
    bulletin_id: int = typer.Argument(...), username: str | None = AS, as_json: bool = JSON
) -> None:
    """Publish a bulletin once its period has ended; its figures are frozen."""
    who, p = acting(username), platform()
    with p.uow() as uow:
        out = bulletins.publish_bulletin(uow, who, p.clock, bulletin_id)
        uow.commit()
    print_json(out) if as_json else _bulletin(out)


@bulletin_app.command("show")
@guarded
def show_bulletin_cmd(
    bulletin_id: int = typer.Argument(...), username: str | None = AS, as_json: bool = JSON
) -> None:
    """A bulletin's figures per city and department, ranked."""
    who, p = acting(username), platform()
    with p.uow(read_only=True) as uow:
        out = bulletins.get_bulletin(uow, who, bulletin_id)
    print_json(out) if as_json else _bulletin(out)


@guarded
def match_cmd(
    enterprise_id: int = typer.Argument(..., help="The key enterprise's id in the enterprises registry."),
    username: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """Ranked compute, datasets, scenarios, funds and park sites for a key enterprise (art. 8)."""
    who, p = acting(username), platform()
    with p.uow(read_only=True) as uow:
        out = matching.suggest(
            uow, who, p.packs.current(), p.vouchers, p.clock.now(), enterprise_id, datasets=OpenCatalog(uow)
        )
    if as_json:
        print_json(out)
        return
    console.print(f"{out['enterprise']['title']} · {out['on']}", highlight=False)  # type: ignore[index]
    for part in ("compute", "datasets", "scenarios", "funds", "parks"):
        rows: list[dict[str, Any]] = out[part]  # type: ignore[assignment]
        print_table(
            part, ["#", "reason", "理由"], [(n, r["reason"], r["reason_zh"]) for n, r in enumerate(rows, 1)]
        )
