"""Foundation commands: init, db, serve, users, tokens, organizations, reference data, audit."""

from __future__ import annotations

import os

import typer

from zhisuan import accounts, audit
from zhisuan.cli._common import console as out
from zhisuan.cli._common import fail, guarded, print_json, print_table
from zhisuan.cli._platform import CLI_ADMIN, platform
from zhisuan.core.access import Role
from zhisuan.core.catalog import catalog
from zhisuan.core.orgs import OrgKind
from zhisuan.core.regions import regions
from zhisuan.core.security import new_password

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations and ownership.", no_args_is_help=True)
catalog_app = typer.Typer(help="The accelerator catalog.", no_args_is_help=True)
city_app = typer.Typer(help="Regions and cities.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

ROLES_HELP = "One of: " + ", ".join(r.value for r in Role)
KINDS_HELP = "One of: " + ", ".join(k.value for k in OrgKind)


@guarded
def init(
    admin: str = typer.Option("admin", help="Username of the first administrator."),
    password: str | None = typer.Option(
        None, envvar="ZHISUAN_ADMIN_PASSWORD", help="Its password (default: generated and printed once)."
    ),
) -> None:
    """Create the data directory and database and the first admin account."""
    p = platform()
    p.migrate()
    with p.uow() as uow:
        if accounts.list_users(uow, CLI_ADMIN):
            out.print(f"[green]database ready[/] at {p.settings.database_url} (accounts already exist)")
            return
        secret = password or new_password()
        accounts.add_user(uow, None, username=admin, password=secret, role=Role.ADMIN, now=p.clock.now())
        uow.commit()
    out.print(f"[green]database ready[/] at {p.settings.database_url}")
    out.print(f"admin login: [bold]{admin}[/] / [bold]{secret}[/]  (shown once; keep it)")


@db_app.command("upgrade")
@guarded
def db_upgrade() -> None:
    """Apply every pending migration."""
    p = platform()
    p.migrate()
    out.print(f"[green]schema up to date[/] ({p.settings.database_url.split('@')[-1]})")


@guarded
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    worker: bool = typer.Option(
        True, help="Run the dispatch worker inside the server (in one of its processes)."
    ),
    workers: int = typer.Option(
        os.cpu_count() or 1, "--workers", min=1, help="Server processes (default: the number of cores)."
    ),
) -> None:
    """Migrate the database and serve the web pages and the API."""
    import uvicorn

    p = platform()
    p.migrate()
    out.print(
        f"serving on [bold]http://{host}:{port}/[/]  (API: /api/v1, docs: /api/v1/docs; {workers} processes)"
    )
    if workers == 1:
        from zhisuan.web.app import create_app

        app = create_app(p, run_worker=worker and p.settings.run_worker)
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    # each process builds its own platform from the environment; one of them holds the dispatch lease
    if not worker:
        os.environ["ZHISUAN_WORKER"] = "0"
    p.engine.dispose()
    uvicorn.run(
        "zhisuan.web.app:serve_app", factory=True, host=host, port=port, workers=workers, log_level="warning"
    )


@user_app.command("add")
@guarded
def user_add(
    username: str,
    role: Role = typer.Option(..., help=ROLES_HELP),
    org: str | None = typer.Option(
        None, help="Organization (id, credit code or name) for user/org_admin/operator."
    ),
    city: str | None = typer.Option(None, help="City code for role city."),
    display_name: str | None = typer.Option(None, "--name"),
    password: str | None = typer.Option(
        None, envvar="ZHISUAN_USER_PASSWORD", help="Default: generated, printed once."
    ),
) -> None:
    """Create a user account."""
    p = platform()
    secret = password or new_password()
    with p.uow() as uow:
        view = accounts.add_user(
            uow,
            CLI_ADMIN,
            username=username,
            password=secret,
            role=role,
            now=p.clock.now(),
            display_name=display_name,
            org=org,
            city_code=city,
        )
        uow.commit()
    out.print(f"[green]created[/] user {view.username} ({view.role}); password: [bold]{secret}[/]")


@user_app.command("list")
@guarded
def user_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List user accounts."""
    p = platform()
    with p.uow() as uow:
        users = accounts.list_users(uow, CLI_ADMIN)
    if as_json:
        print_json([u.as_dict() for u in users])
        return
    print_table(
        "users",
        ["id", "username", "name", "role", "org", "city", "active"],
        [(u.id, u.username, u.display_name, u.role, u.org_id, u.city_code, u.active) for u in users],
    )


@token_app.command("create")
@guarded
def token_create(username: str, name: str = typer.Option("cli", help="A label for the token.")) -> None:
    """Issue an API token for a user (printed once; only its hash is stored)."""
    p = platform()
    with p.uow() as uow:
        token = accounts.create_token(uow, CLI_ADMIN, username, name, p.clock.now())
        uow.commit()
    out.print(f"token for {username}: [bold]{token}[/]  (shown once)")


@org_app.command("add")
@guarded
def org_add(
    name: str = typer.Option(..., help="Registered name."),
    credit_code: str = typer.Option(..., "--code", help="Unified social credit code (18 characters)."),
    kind: OrgKind = typer.Option(..., help=KINDS_HELP),
    city: str | None = typer.Option(None, help="City division code (e.g. 340100)."),
    out_of_province: bool = typer.Option(False, "--out-of-province", help="Not registered in the region."),
    name_en: str | None = typer.Option(None, "--name-en"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register an organization."""
    p = platform()
    data = accounts.OrgInput(
        name=name,
        name_en=name_en,
        credit_code=credit_code,
        kind=kind,
        city_code=city,
        in_province=not out_of_province,
    )
    with p.uow() as uow:
        view = accounts.create_org(uow, CLI_ADMIN, data, p.clock.now())
        uow.commit()
    if as_json:
        print_json(view.as_dict())
    else:
        out.print(f"[green]registered[/] organization {view.id}: {view.name} ({view.credit_code})")


@org_app.command("list")
@guarded
def org_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List organizations."""
    p = platform()
    with p.uow() as uow:
        orgs = accounts.list_orgs(uow, CLI_ADMIN)
    if as_json:
        print_json([o.as_dict() for o in orgs])
        return
    print_table(
        "organizations",
        ["id", "name", "credit code", "kind", "city", "in province"],
        [(o.id, o.name, o.credit_code, o.kind, o.city_code, o.in_province) for o in orgs],
    )


@org_app.command("show")
@guarded
def org_show(ref: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one organization (by id, credit code or name) and its related parties."""
    p = platform()
    with p.uow() as uow:
        view = accounts.get_org(uow, CLI_ADMIN, ref)
        graph = accounts.ownership_graph(uow)
        related = [
            o for o in accounts.list_orgs(uow, CLI_ADMIN) if o.id != view.id and graph.related(view.id, o.id)
        ]
    data = view.as_dict() | {"related_parties": [{"id": o.id, "name": o.name} for o in related]}
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        if key != "related_parties":
            out.print(f"[bold]{key}[/]: {value}")
    out.print("[bold]related parties[/]: " + (", ".join(o.name for o in related) or "none"))


@org_app.command("own")
@guarded
def org_own(
    owner: str,
    owned: str,
    percent: str = typer.Option(..., help="Shareholding in percent, e.g. 35 or 20.5."),
    controls: bool = typer.Option(
        False, help="The owner controls (is the parent of) the owned organization."
    ),
) -> None:
    """Record that OWNER holds PERCENT of OWNED."""
    p = platform()
    with p.uow() as uow:
        accounts.add_ownership(uow, CLI_ADMIN, owner, owned, percent, p.clock.now(), controls=controls)
        uow.commit()
    out.print(f"[green]recorded[/] {owner} holds {percent}% of {owned}")


@org_app.command("related")
@guarded
def org_related(a: str, b: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Whether two organizations are related parties (same ultimate controller or ≥ 20% either way)."""
    p = platform()
    with p.uow() as uow:
        x, y = accounts.get_org(uow, CLI_ADMIN, a), accounts.get_org(uow, CLI_ADMIN, b)
        related = accounts.ownership_graph(uow).related(x.id, y.id)
    if as_json:
        print_json({"a": x.id, "b": y.id, "related": related})
    else:
        out.print(f"{x.name} ↔ {y.name}: {'related parties' if related else 'not related'}")


@catalog_app.command("list")
@guarded
def catalog_list(
    as_json: bool = typer.Option(False, "--json"),
    domestic: bool = typer.Option(False, "--domestic", help="Only domestic (non-NVIDIA) accelerators."),
) -> None:
    """List the accelerator catalog."""
    items = [a for a in catalog() if a.domestic or not domestic]
    if as_json:
        print_json(
            [
                {
                    "key": a.key,
                    "vendor": a.vendor,
                    "model": a.model,
                    "domestic": a.domestic,
                    "memory_gb": a.memory_gb,
                    "fp16_tflops": str(a.fp16_tflops) if a.fp16_tflops is not None else None,
                    "source": a.source,
                }
                for a in items
            ]
        )
        return
    print_table(
        "accelerator catalog (peak dense FP16 TFLOPS)",
        ["key", "vendor", "model", "memory GB", "FP16 TFLOPS", "domestic"],
        [(a.key, a.vendor, a.model, a.memory_gb, a.fp16_tflops, "yes" if a.domestic else "") for a in items],
    )


@city_app.command("list")
@guarded
def city_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List regions and their cities."""
    rows = [(r, c) for r in regions() for c in r.cities]
    if as_json:
        print_json(
            [
                {
                    "region": r.code,
                    "code": c.code,
                    "name_zh": c.name_zh,
                    "name_en": c.name_en,
                    "northern_anhui": c.northern_anhui,
                }
                for r, c in rows
            ]
        )
        return
    print_table(
        "cities",
        ["region", "code", "name", "name (en)", "皖北"],
        [(r.name_zh, c.code, c.name_zh, c.name_en, "yes" if c.northern_anhui else "") for r, c in rows],
    )


@audit_app.command("verify")
@guarded
def audit_verify() -> None:
    """Recompute the audit chain and report the first broken link, if any."""
    p = platform()
    with p.uow() as uow:
        count, broken = audit.verify(uow)
    if broken is not None:
        fail(f"audit chain broken at event {broken} (checked {count})", code=1)
    out.print(f"[green]audit chain intact[/]: {count} events")


@guarded
def demo(
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="Serve the platform when loaded."),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
) -> None:
    """Reset the data directory's database, load the demo province and serve it."""
    import time

    from zhisuan import demo as demo_data

    p = platform()
    started = time.monotonic()
    if p.settings.is_sqlite:
        db_file = p.settings.data_dir / "zhisuan.db"
        for suffix in ("", "-wal", "-shm"):
            (db_file.parent / (db_file.name + suffix)).unlink(missing_ok=True)
        p.engine.dispose()
    p.migrate()
    secret = new_password()
    with p.uow() as uow:
        accounts.add_user(uow, None, username="admin", password=secret, role=Role.ADMIN, now=p.clock.now())
        uow.commit()
    for title, step in demo_data.steps():
        with out.status(f"demo: {title} …"):
            lines = step(p)
        out.print(f"[green]✓[/] {title}")
        for line in lines:
            out.print(f"    {line}")
    out.print(f"demo loaded in {time.monotonic() - started:.1f} s")
    out.print(
        "pages: / (dashboard) · /centers · /jobs · /jobs/held · /operations (engines) · /billing · /policy"
        " · /metrics — log in as province, finance, xinghe, op-hf-chaohu … to see each role's view"
    )
    out.print(f"admin login: [bold]admin[/] / [bold]{secret}[/]")
    if serve_after:
        serve(host=host, port=port, worker=True, workers=os.cpu_count() or 1)
