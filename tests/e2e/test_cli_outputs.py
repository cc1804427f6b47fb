"""Where a command writes its result is checked before it does any work: a wrong suffix, a directory or
a place nothing can be written to is one line naming the option, exit 2, and nothing run or recorded
(`cli._common.output_file`, used by `simulate`, `simulate compare`, `simulate sweep`, the catalog,
bulletin, registry and award exports)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.e2e.test_cli_foundation import run
from zhisuan.cli import _platform
from zhisuan.cli._common import output_file
from zhisuan.cli.simulate import app
from zhisuan.core.errors import ValidationError

TRACE = "job_id,submit_s,duration_s,gpus,accelerator,org\n" + "".join(
    f"j{i},{i * 60},{300 + 17 * i},1,,org-{i % 3}\n" for i in range(40)
)


@pytest.fixture(autouse=True)
def _fresh_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ZHISUAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ZHISUAN_PACKS_DIR", raising=False)
    _platform.platform.cache_clear()
    yield
    _platform.platform.cache_clear()


def _trace(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    path.write_text(TRACE, encoding="utf-8")
    return path


def _blocked(tmp_path: Path) -> Path:
    """A path whose parent is a regular file: no folder can be made there, whoever runs the test."""
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    return tmp_path / "a-file"


@pytest.mark.parametrize(
    ("option", "name", "said"),
    [
        ("--plot", "sub/out.png", "cannot write"),
        ("--json", "sub/out.json", "cannot write"),
        ("--plot", "out.svg", "ends in .png"),
    ],
)
def test_sweep_refuses_an_output_it_cannot_write_before_running(
    tmp_path: Path, option: str, name: str, said: str
) -> None:
    target = (_blocked(tmp_path) / name) if name.startswith("sub/") else tmp_path / name
    args = ["sweep", "--trace", str(_trace(tmp_path)), "--loads", "1,2", option, str(target)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert option in result.output and said in result.output
    assert "zhisuan at ×1" not in result.output  # refused before the sweep ran, not after
    assert not target.exists()


def test_a_directory_is_named_as_such_for_every_simulate_command(tmp_path: Path) -> None:
    trace = str(_trace(tmp_path))
    for args in (
        ["--trace", trace, "--json", str(tmp_path)],
        ["--trace", trace, "--jobs-csv", str(tmp_path)],
        ["compare", "--trace", trace, "--json", str(tmp_path)],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, args
        assert "is a directory" in result.output and "┃" not in result.output  # no table: nothing ran


def test_missing_folders_are_made_and_the_check_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "sweep.json"
    plot = tmp_path / "new" / "sweep.png"
    args = [
        "sweep",
        "--trace",
        str(_trace(tmp_path)),
        "--loads",
        "1",
        "--json",
        str(out),
        "--plot",
        str(plot),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["loads"] == ["1"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    probe = tmp_path / "other" / "x.json"
    output_file(probe, "--json")
    assert probe.parent.is_dir() and not probe.exists()  # the probe file is gone again
    kept = tmp_path / "kept.json"
    kept.write_text("{}", encoding="utf-8")
    output_file(kept, "--json")
    assert kept.read_text(encoding="utf-8") == "{}"  # an existing file is left as it was
    with pytest.raises(ValidationError, match=r"ends in \.csv or \.xlsx"):
        output_file(tmp_path / "x.txt", "file", (".csv", ".xlsx"))


def test_a_bulletin_is_not_published_when_its_export_cannot_be_written(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    r = run(tmp_path, "user", "add", "db", "--role", "data_bureau", "--password", "password-9")
    assert r.returncode == 0, r.stderr
    bad = _blocked(tmp_path) / "q1.xlsx"
    r = run(
        tmp_path, "opendata", "bulletin", "2025Q1", "--generate", "--publish", "--out", str(bad), "--as", "db"
    )
    assert r.returncode == 2 and "--out" in r.stderr and "cannot write" in r.stderr
    r = run(tmp_path, "opendata", "bulletin", "2025Q1", "--out", str(tmp_path / "q1.txt"), "--as", "db")
    assert r.returncode == 2 and ".csv or .xlsx" in r.stderr
    # nothing was recorded: the quarter can still be generated and published (a published one is frozen)
    good = tmp_path / "q1.xlsx"
    r = run(
        tmp_path,
        "opendata",
        "bulletin",
        "2025Q1",
        "--generate",
        "--publish",
        "--out",
        str(good),
        "--as",
        "db",
    )
    assert r.returncode == 0, r.stderr
    assert good.read_bytes()[:2] == b"PK"
    r = run(tmp_path, "registries", "export", "parks", str(tmp_path / "parks.txt"))
    assert r.returncode == 2 and ".csv or .xlsx" in r.stderr and not (tmp_path / "parks.txt").exists()
    r = run(tmp_path, "awards", "export", "1", str(_blocked(tmp_path) / "round.xlsx"))
    assert r.returncode == 2 and "cannot write" in r.stderr  # checked before the round is looked up
    r = run(tmp_path, "opendata", "export", str(tmp_path / "catalog.rdf"))
    assert r.returncode == 2 and ".jsonld or .csv or .xlsx" in r.stderr
