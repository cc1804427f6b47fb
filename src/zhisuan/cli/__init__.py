"""The `zhisuan` command line: one Typer app, one sub-app per area."""

from __future__ import annotations

import typer

from zhisuan import __version__

app = typer.Typer(
    name="zhisuan",
    help="zhisuan (智算): provincial AI compute scheduling platform and policy programs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Command groups register here, one line each (import inside _register keeps start-up light).


def _register() -> None:
    from zhisuan.cli import awards, compute, foundation, ledger, metering, policy, publishing, simulate

    foundation.register(app)
    compute.register(app)
    from zhisuan.cli import engines

    engines.register(app)
    publishing.register(policy.app)
    app.add_typer(policy.app, name="policy")
    app.add_typer(metering.usage_app, name="usage")
    app.add_typer(metering.bills_app, name="bills")
    app.add_typer(metering.vouchers_app, name="vouchers")
    app.add_typer(ledger.app, name="ledger")
    app.add_typer(simulate.app, name="simulate")
    awards.register(app)


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
    _register()
    app()


__all__ = ["app", "main"]
