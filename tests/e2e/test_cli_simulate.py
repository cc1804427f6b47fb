"""`zhisuan simulate` judges art. 2 from the platform's packs, on each job's date or as of a chosen day."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhisuan.cli import _platform
from zhisuan.cli.simulate import app

# a 2017 trace (Philly's format): before art. 2, so no voucher on the jobs' own dates
PHILLY = """timestamp,duration,num_gpus,gpu_time,cluster
2017-10-09 07:01:55,3600.0,1,3600.0,11cb48
2017-10-09 06:13:03,7200.0,4,28800.0,6214e9
"""


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ZHISUAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ZHISUAN_PACKS_DIR", raising=False)
    _platform.platform.cache_clear()
    yield tmp_path / "data"
    _platform.platform.cache_clear()


def _metrics(tmp_path: Path, *extra: str) -> dict[str, object]:
    trace = tmp_path / "philly.csv"
    trace.write_text(PHILLY, "utf-8")
    out = tmp_path / "m.json"
    result = CliRunner().invoke(
        app, ["--trace", str(trace), "--format", "philly", "--policy", "zhisuan", "--json", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text("utf-8"))  # type: ignore[no-any-return]


def test_an_old_trace_earns_no_voucher_unless_judged_as_of_a_day_in_force(tmp_path: Path) -> None:
    own_dates = _metrics(tmp_path)
    assert Decimal(str(own_dates["voucher_yuan"])) == 0
    as_of = _metrics(tmp_path, "--art2-on", "2025-06-30")
    gross = Decimal(str(as_of["gross_cost_yuan"]))
    assert gross > 0
    # the shipped pack's art. 2 in force on 2025-06-30: 20% of in-province spend
    assert abs(Decimal(str(as_of["voucher_yuan"])) - gross * Decimal("0.2")) <= Decimal(
        "0.01"
    )  # shown to the fen


def test_an_administrators_pack_is_what_the_simulator_applies(tmp_path: Path, data_dir: Path) -> None:
    pack = Path(__file__).parents[1] / "unit" / "policy" / "packs" / "anhui-2025-art3-test.yaml"
    (data_dir / "packs").mkdir(parents=True)
    (data_dir / "packs" / pack.name).write_text(pack.read_text("utf-8"), "utf-8")
    m = _metrics(tmp_path, "--art2-on", "2025-11-15")  # that pack pays 30% from 2025-11-01
    gross = Decimal(str(m["gross_cost_yuan"]))
    assert abs(Decimal(str(m["voucher_yuan"])) - gross * Decimal("0.3")) <= Decimal("0.01")


def test_a_bad_day_is_one_line_and_exit_2(tmp_path: Path) -> None:
    trace = tmp_path / "philly.csv"
    trace.write_text(PHILLY, "utf-8")
    result = CliRunner().invoke(app, ["--trace", str(trace), "--format", "philly", "--art2-on", "30/06/2025"])
    assert result.exit_code == 2
    assert "--art2-on" in result.output


def test_a_price_resting_on_provisional_parameters_says_so_under_the_table(tmp_path: Path) -> None:
    trace = tmp_path / "philly.csv"
    trace.write_text(PHILLY, "utf-8")
    runner = CliRunner()
    before = runner.invoke(app, ["--trace", str(trace), "--format", "philly", "--art2-on", "2025-06-30"])
    assert before.exit_code == 0, before.output
    assert "provisional" not in before.output  # 2023 art. 2: confirmed figures
    # from 2025-08-11 the shipped 2.0 art. 3 judges the voucher, on provisional rate and exclusions
    after = runner.invoke(app, ["--trace", str(trace), "--format", "philly", "--art2-on", "2026-01-15"])
    assert after.exit_code == 0, after.output
    text = " ".join(after.output.split())  # rich wraps the line to the console's width
    assert "the voucher estimate rests on provisional parameter(s) of anhui-2025/art3:" in text
    assert "rate" in text and "no money is granted on them until confirmed" in text


CANONICAL = "job_id,submit_s,duration_s,gpus,accelerator,org\n" + "".join(
    f"j{i},{i * 600},{600 + 97 * (i % 7) * 60},{(1, 1, 1, 8)[i % 4]},,org{i % 3}\n" for i in range(40)
)


def test_sweep_writes_every_figure_and_a_plot(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(CANONICAL, "utf-8")
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    result = CliRunner().invoke(
        app,
        ["sweep", "--trace", str(trace), "--loads", "1,4", "--json", str(out), "--plot", str(png)],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text("utf-8"))
    assert body["loads"] == ["1", "4"]
    assert len(body["runs"]) == 2 * 5
    for run in body["runs"]:
        assert run["completed"] == 40
        for key in ("jct_avg_s", "jct_p50_s", "jct_p99_s", "wait_avg_s", "user_cost_yuan", "jain_fairness"):
            assert key in run
    assert [c["load_factor"] for c in body["checks"]] == ["1", "4"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "zhisuan at ×4" in result.output


def test_sweep_refuses_a_bad_load_list_naming_the_option(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(CANONICAL, "utf-8")
    result = CliRunner().invoke(app, ["sweep", "--trace", str(trace), "--loads", "1,x"])
    assert result.exit_code == 2
    assert "--loads" in result.output


def test_sweep_runs_each_load_once_and_writes_it_plainly(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(CANONICAL, "utf-8")
    out = tmp_path / "s.json"
    args = [
        "sweep",
        "--trace",
        str(trace),
        "--loads",
        "1,1.0,1e1,2",
        "--policy",
        "zhisuan",
        "--json",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text("utf-8"))
    assert body["loads"] == ["1", "10", "2"]  # 1.0 is 1; 1e1 is written 10, not 1E+1
    assert [r["load_factor"] for r in body["runs"]] == ["1", "10", "2"]


def test_sweep_names_the_jobs_no_pool_can_run_and_refuses_a_trace_of_only_those(tmp_path: Path) -> None:
    head = "job_id,submit_s,duration_s,gpus,accelerator,org\n"
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(head + "wide,0,100,4096,,o\nj2,5,100,1,,o\nj3,9,100,1,,o\n", "utf-8")
    result = CliRunner().invoke(app, ["sweep", "--trace", str(mixed), "--loads", "1,2"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if "can never run" in line]
    # the late-binding and early-binding policies that give the same reason are named on one line
    assert any("pooled-ideal" in line and "zhisuan" in line and "1 of 3 jobs" in line for line in said)
    assert "wide (o, 4096 cards)" in result.output and "4096 cards at once" in result.output
    only = tmp_path / "only.csv"
    only.write_text(head + "wide,0,100,4096,,o\n", "utf-8")
    result = CliRunner().invoke(app, ["sweep", "--trace", str(only), "--loads", "1"])
    assert result.exit_code == 2
    assert "no job of the trace can run" in result.output and "4096 cards at once" in result.output
    assert "zhisuan at ×1" not in result.output  # no comparison of policies that ran nothing
