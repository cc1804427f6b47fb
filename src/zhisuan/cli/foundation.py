"""Foundation commands: init, db, serve, users, tokens, organizations, reference data, audit."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from zhisuan import accounts, audit
from zhisuan.cli._common import console as out
from zhisuan.cli._common import dumps, fail, guarded, print_json, print_table
from zhisuan.cli._platform import cli_principal, platform
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
        if accounts.list_users(uow, cli_principal()):
            out.print(f"[green]database ready[/] at {p.settings.database_url} (accounts already exist)")
            return
        secret = password or new_password()
        accounts.add_user(uow, None, username=admin, password=secret, role=Role.ADMIN, now=p.clock.now())
        uow.commit()
    out.print(f"[green]database ready[/] at {p.settings.database_url}")
    out.print(f"admin login: [bold]{admin}[/] / [bold]{secret}[/]  (shown once; keep it)")


@guarded
def backup_cmd(
    target: Path = typer.Argument(..., help="The backup file to write (owner-only)."),
) -> None:
    """Back the database up while it runs (SQLite's online backup; pg_dump for PostgreSQL)."""
    from zhisuan.store.backup import backup

    p = platform()
    with p.uow(read_only=True) as uow:
        verdict = audit.verify(uow)
    backup(p.engine, target)
    note = "intact" if verdict.intact else f"BROKEN ({verdict.problem})"
    out.print(f"[green]backed up[/] to {target} (audit chain {note}, {verdict.checked} events)")


@guarded
def restore_cmd(
    source: Path = typer.Argument(..., help="A file written by `zhisuan backup`."),
    yes: bool = typer.Option(False, "--yes", help="Replace the database without asking."),
) -> None:
    """Replace the database with a backup (stop the server first), then verify the ledger and audit chain."""
    from zhisuan.ledger import services as ledger
    from zhisuan.store.backup import restore

    if not yes:
        fail("restoring replaces the whole database; stop the server, then run again with --yes")
    p = platform()
    restore(p.engine, source)
    p.migrate()
    with p.uow() as uow:
        verdict = audit.verify(uow, with_copy=False)
        problems = ledger.verify(uow.session)
        if verdict.intact:
            audit.rewrite_head_copy(uow)
            audit.record(
                uow, p.clock.now(), cli_principal().username, "db.restore", f"file:{source.name}", {}
            )
            uow.commit()
    if not verdict.intact:
        fail(
            f"restored, but the audit chain is broken: {verdict.problem} (event {verdict.broken_at})", code=1
        )
    if problems:
        fail(f"restored, but the ledger has {len(problems)} problem(s): {problems[0].message}", code=1)
    out.print(
        f"[green]restored[/] from {source}: ledger balances, audit chain intact ({verdict.checked} events)"
    )


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
        True, help="Run the dispatch worker with the server (with several processes: in one of its own)."
    ),
    workers: int = typer.Option(
        os.cpu_count() or 1, "--workers", min=1, help="Server processes (default: the number of cores)."
    ),
) -> None:
    """Migrate the database and serve the web pages and the API."""
    import uvicorn

    p = platform()
    p.migrate()
    if workers > 1:  # a socket per web process (the kernel spreads connections); refused if the port is taken
        from zhisuan.web import processes

        sockets = processes.bind_reuseport(host, port, workers)
    out.print(
        f"serving on [bold]http://{host}:{port}/[/]  (API: /api/v1, docs: /api/v1/docs; {workers} processes)"
    )
    if workers == 1:
        from zhisuan.web.app import create_app

        app = create_app(p, run_worker=worker and p.settings.run_worker, background_sealing=True)
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    # each web process builds its own platform from the environment and serves requests only; the
    # dispatch worker runs in a process of its own (which takes the dispatch lease)
    from zhisuan.web.app import EXPECTED_ENV, READY_ENV

    dispatcher = None
    state = p.settings.data_dir / f"dispatch.{os.getpid()}.state"
    # /healthz answers "starting" until every process is up (else the first clients all land on one)
    ready = p.settings.data_dir / f"serve.{os.getpid()}.up"
    os.environ[READY_ENV] = str(ready)
    os.environ[EXPECTED_ENV] = str(workers)
    if worker and p.settings.run_worker:
        import multiprocessing

        from zhisuan.web.app import SEAL_ELSEWHERE_ENV, STATE_ENV, dispatcher_process

        os.environ[EXPECTED_ENV] = str(workers + 1)

        os.environ[STATE_ENV] = str(state)
        os.environ[SEAL_ELSEWHERE_ENV] = "1"  # the dispatcher process chains the deferred audit events
        dispatcher = multiprocessing.get_context("spawn").Process(
            target=dispatcher_process, args=(str(state), os.getpid()), name="zhisuan-dispatcher", daemon=True
        )
    os.environ["ZHISUAN_WORKER"] = "0"
    p.engine.dispose()
    if dispatcher is not None:
        dispatcher.start()
    try:
        processes.run("zhisuan.web.app:serve_app", host, port, sockets)
    finally:
        if dispatcher is not None:
            dispatcher.terminate()
            dispatcher.join(timeout=30)
        state.unlink(missing_ok=True)
        for left in ready.parent.glob(ready.name + ".*"):  # a process killed before it said so
            left.unlink(missing_ok=True)


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
            cli_principal(),
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
        users = accounts.list_users(uow, cli_principal())
    if as_json:
        print_json([u.as_dict() for u in users])
        return
    print_table(
        "users",
        ["id", "username", "name", "role", "org", "city", "active"],
        [(u.id, u.username, u.display_name, u.role, u.org_id, u.city_code, u.active) for u in users],
    )


@user_app.command("disable")
@guarded
def user_disable(username: str) -> None:
    """Disable an account: its sessions end and its tokens stop working (audited)."""
    p = platform()
    with p.uow() as uow:
        accounts.set_active(uow, cli_principal(), username, False, p.clock.now())
        uow.commit()
    out.print(f"[green]disabled[/] {username}")


@user_app.command("enable")
@guarded
def user_enable(username: str) -> None:
    """Enable a disabled account (audited)."""
    p = platform()
    with p.uow() as uow:
        accounts.set_active(uow, cli_principal(), username, True, p.clock.now())
        uow.commit()
    out.print(f"[green]enabled[/] {username}")


@user_app.command("role")
@guarded
def user_role(
    username: str,
    role: Role = typer.Option(..., help=ROLES_HELP),
    org: str | None = typer.Option(None, help="Organization for user/org_admin/operator."),
    city: str | None = typer.Option(None, help="City code for role city."),
) -> None:
    """Give an account another role; its sessions end so the role applies at once (audited)."""
    p = platform()
    with p.uow() as uow:
        view = accounts.change_role(
            uow, cli_principal(), username, role, p.clock.now(), org=org, city_code=city
        )
        uow.commit()
    out.print(f"[green]{view.username}[/] is now {view.role}")


@user_app.command("password")
@guarded
def user_password(
    username: str,
    password: str | None = typer.Option(
        None, envvar="ZHISUAN_USER_PASSWORD", help="Default: generated, printed once."
    ),
) -> None:
    """Reset an account's password; its sessions end (audited)."""
    p = platform()
    with p.uow() as uow:
        secret = accounts.reset_password(uow, cli_principal(), username, p.clock.now(), password)
        uow.commit()
    out.print(f"[green]password reset[/] for {username}: [bold]{secret}[/]")


@token_app.command("create")
@guarded
def token_create(username: str, name: str = typer.Option("cli", help="A label for the token.")) -> None:
    """Issue an API token for a user (printed once; only its hash is stored)."""
    p = platform()
    with p.uow() as uow:
        token = accounts.create_token(uow, cli_principal(), username, name, p.clock.now())
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
        view = accounts.create_org(uow, cli_principal(), data, p.clock.now())
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
        orgs = accounts.list_orgs(uow, cli_principal())
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
        view = accounts.get_org(uow, cli_principal(), ref)
        graph = accounts.ownership_graph(uow)
        related = [
            o
            for o in accounts.list_orgs(uow, cli_principal())
            if o.id != view.id and graph.related(view.id, o.id)
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
        accounts.add_ownership(uow, cli_principal(), owner, owned, percent, p.clock.now(), controls=controls)
        uow.commit()
    out.print(f"[green]recorded[/] {owner} holds {percent}% of {owned}")


@org_app.command("related")
@guarded
def org_related(a: str, b: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Whether two organizations are related parties (same ultimate controller or ≥ 20% either way)."""
    p = platform()
    with p.uow() as uow:
        x, y = accounts.get_org(uow, cli_principal(), a), accounts.get_org(uow, cli_principal(), b)
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
    """Recompute the keyed chain, compare it with its signed head; name the first bad event, if any."""
    p = platform()
    with p.uow(read_only=True) as uow:
        verdict = audit.verify(uow)
    if not verdict.intact:
        where = f"at event {verdict.broken_at}: " if verdict.broken_at is not None else ""
        fail(f"audit chain broken {where}{verdict.problem} (checked {verdict.checked})", code=1)
    out.print(f"[green]audit chain intact[/]: {verdict.checked} events, signed head matches")


@audit_app.command("adopt")
@guarded
def audit_adopt() -> None:
    """Sign a chain written before the audit key existed (once; it must verify with plain SHA-256)."""
    p = platform()
    with p.uow() as uow:
        n = audit.adopt(uow)
        uow.commit()
    out.print(f"[green]signed[/] {n} events with the audit key")


@audit_app.command("list")
@guarded
def audit_list(
    action: str | None = typer.Option(None, help="Only actions starting with this, e.g. bill. or user."),
    actor: str | None = typer.Option(None, help="Only this actor."),
    subject: str | None = typer.Option(None, help="Only this subject, e.g. bill:12."),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The newest audit events first."""
    p = platform()
    with p.uow(read_only=True) as uow:
        events = audit.list_events(
            uow, cli_principal(), action=action, actor=actor, subject=subject, limit=limit
        )
    if as_json:
        print_json([e.as_dict() for e in events])
        return
    print_table(
        "audit log",
        ["id", "at (UTC)", "actor", "action", "subject", "detail"],
        [(e.id, e.at.isoformat(), e.actor, e.action, e.subject, dumps(e.detail)[:80]) for e in events],
    )


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
        "pages: / (each role's home after login) · /dashboard (the province map) · /centers · /jobs"
        " · /jobs/held · /operations (engines) · /billing (bills, vouchers, usage; finance settles a month)"
        " · /policy · /awards/calls · /opendata (the catalog) · /registries · /bulletins · /metrics"
        " — log in as province, finance, hefei, databureau, xinghe, op-hf-chaohu … for each role"
    )
    out.print(f"admin login: [bold]admin[/] / [bold]{secret}[/]")
    if serve_after:
        serve(host=host, port=port, worker=True, workers=os.cpu_count() or 1)
