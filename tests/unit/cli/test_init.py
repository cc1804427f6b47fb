"""The command line's table of commands: fast start, and one line of help that matches each command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from zhisuan.cli import COMMANDS, app, load_command

HEAVY = ("sqlalchemy", "fastapi", "zhisuan.metering", "zhisuan.policy", "zhisuan.compute", "zhisuan.store")


def test_help_lists_every_command_without_importing_any_of_them() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['zhisuan', '--help']\n"
        "from zhisuan.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', sorted(m for m in sys.modules if m.startswith({HEAVY!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "LOADED []" in done.stdout
    for name in COMMANDS:
        assert f"  {name} " in done.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_tables_help_is_the_commands_own(name: str) -> None:
    command = load_command(name, COMMANDS[name])
    assert command.name == name
    assert (command.help or "").strip().splitlines()[0] == COMMANDS[name].help


def test_a_group_runs_when_named() -> None:
    result = CliRunner().invoke(app, ["catalog", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert '"key"' in result.output


def test_an_unknown_command_is_refused() -> None:
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2
