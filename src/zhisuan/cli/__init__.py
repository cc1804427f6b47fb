"""The `zhisuan` command line: one Typer app; each command (or group) is imported only when it runs.

``zhisuan --help`` lists the table below without importing any command's module (no database driver,
web framework or policy engine is loaded to print a list), so the command line starts fast. A command
group registers with one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from zhisuan import __version__


class Entry(NamedTuple):
    """Where a command lives (module, attribute: a Typer group or a command function) and its one line
    of help for ``zhisuan --help`` (a unit test keeps it equal to the command's own)."""

    module: str
    attribute: str
    help: str


#: Every top-level command and group, in the order ``zhisuan --help`` lists them; one line each.
COMMANDS: dict[str, Entry] = {
    "init": Entry(
        "zhisuan.cli.foundation",
        "init",
        "Create the data directory and database and the first admin account.",
    ),
    "serve": Entry(
        "zhisuan.cli.foundation", "serve", "Migrate the database and serve the web pages and the API."
    ),
    "demo": Entry(
        "zhisuan.cli.foundation",
        "demo",
        "Reset the data directory's database, load the demo province and serve it.",
    ),
    "schedule": Entry(
        "zhisuan.cli.compute",
        "schedule",
        "Run scheduling steps now: bind queued jobs to pools, record why the others wait.",
    ),
    "worker": Entry(
        "zhisuan.cli.engines",
        "worker",
        "Dispatch placed jobs to their engines, poll them, reconcile after restarts (until Ctrl-C).",
    ),
    "backup": Entry(
        "zhisuan.cli.foundation",
        "backup_cmd",
        "Back the database up while it runs (SQLite's online backup; pg_dump for PostgreSQL).",
    ),
    "restore": Entry(
        "zhisuan.cli.foundation",
        "restore_cmd",
        "Replace the database with a backup (stop the server first), then verify the ledger and audit chain.",
    ),
    "db": Entry("zhisuan.cli.foundation", "db_app", "Database schema."),
    "user": Entry("zhisuan.cli.foundation", "user_app", "User accounts."),
    "token": Entry("zhisuan.cli.foundation", "token_app", "API tokens."),
    "org": Entry("zhisuan.cli.foundation", "org_app", "Organizations and ownership."),
    "catalog": Entry("zhisuan.cli.foundation", "catalog_app", "The accelerator catalog."),
    "city": Entry("zhisuan.cli.foundation", "city_app", "Regions and cities."),
    "audit": Entry("zhisuan.cli.foundation", "audit_app", "The hash-chained audit log."),
    "center": Entry("zhisuan.cli.engines", "center_app", "Intelligent-computing centers."),
    "pool": Entry("zhisuan.cli.compute", "pool_app", "Pools of accelerators at a center."),
    "job": Entry("zhisuan.cli.compute", "job_app", "Jobs in the platform queue."),
    "quota": Entry("zhisuan.cli.compute", "quota_app", "Organizations' limits over all centers."),
    "policy": Entry(
        "zhisuan.cli.publishing",
        "policy_app",
        "Policy packs and the rules engine (evaluation contract: docs/policy.md).",
    ),
    "usage": Entry("zhisuan.cli.metering", "usage_app", "Usage records: import, list, reconcile, prices."),
    "bills": Entry("zhisuan.cli.metering", "bills_app", "Monthly bills per organization and center."),
    "vouchers": Entry(
        "zhisuan.cli.metering", "vouchers_app", "Compute vouchers (art. 2): monthly settlement."
    ),
    "ledger": Entry("zhisuan.cli.ledger", "app", "The double-entry ledger: balances, verification, budgets."),
    "awards": Entry(
        "zhisuan.cli.awards",
        "app",
        "Applications, review, public notice, budgets and payment of the policy's money.",
    ),
    "opendata": Entry(
        "zhisuan.cli.opendata",
        "app",
        "Open public data (art. 3) and data suppliers (art. 4): catalog, search, requests, bulletins.",
    ),
    "registries": Entry(
        "zhisuan.cli.registries",
        "app",
        "Registries of art. 6–15: list, add, change, import, export; scenario bulletins.",
    ),
    "matching": Entry(
        "zhisuan.cli.registries",
        "match_cmd",
        "Ranked compute, datasets, scenarios, funds and park sites for a key enterprise (art. 8).",
    ),
    "simulate": Entry(
        "zhisuan.cli.simulate",
        "app",
        "Replay a job trace (canonical CSV or Philly) on a province under placement policies.",
    ),
}


def load_command(name: str, entry: Entry) -> Any:
    """The click command of a table entry: its module imported now, a group or a single command."""
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        command: Any = typer.main.get_group(target)  # a group even when it has one command
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _LazyGroup(TyperGroup):
    """The root group: commands from :data:`COMMANDS`, each loaded on first use."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        known = super().get_command(ctx, cmd_name)
        if known is not None:
            return known
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self._listing:  # the root's help shows the table's line, without importing the module
            return TyperCommand(cmd_name, help=entry.help, short_help=entry.help)
        command = load_command(cmd_name, entry)
        self.add_command(command, cmd_name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="zhisuan",
    cls=_LazyGroup,
    help="zhisuan (智算): provincial AI compute scheduling platform and policy programs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # the root's list is plain text: Rich's help renderer alone costs 0.2 s
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
    acting_as: str | None = typer.Option(
        None,
        "--as",
        envvar="ZHISUAN_CLI_USER",
        help="Act as this account (its role and scope; the audit log names it). "
        "Default: the administrator 'cli:<your login>'.",
    ),
) -> None:
    """zhisuan (智算): provincial AI compute scheduling platform and policy programs."""
    from zhisuan.cli._platform import act_as

    act_as(acting_as)


def main() -> None:
    app()


__all__ = ["COMMANDS", "Entry", "app", "load_command", "main"]
