from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhisuan.cli.simulate import app
from zhisuan.compute.model import AcceleratorConstraint
from zhisuan.compute.traces import parse_canonical, parse_philly, to_canonical
from zhisuan.core.errors import ValidationError

CANONICAL = """job_id,submit_s,duration_s,gpus,accelerator,org
a,0,100,1,,lab
b,50,3600.5,8,h100-sxm5-80gb,
c,10,60,2,,lab
"""

PHILLY = """timestamp,duration,num_gpus,gpu_time,cluster
2017-10-09 07:01:55,66.0,1,66.0,11cb48
2017-10-09 06:13:03,2951.0,4,11804.0,6214e9

"""


def test_canonical_rows_become_jobs_sorted_by_submit() -> None:
    tr = parse_canonical(CANONICAL)
    assert [j.id for j in tr.jobs] == ["a", "c", "b"]
    b = tr.jobs[2]
    assert b.runtime_s == 3601  # whole seconds, rounded up
    assert b.cards == 8
    assert b.constraint == AcceleratorConstraint.model("h100-sxm5-80gb")
    assert b.org == "default"


def test_load_factor_compresses_arrivals_and_limit_keeps_the_first() -> None:
    tr = parse_canonical(CANONICAL, load_factor="2", limit=2)
    assert [(j.id, j.submit_s) for j in tr.jobs] == [("a", 0), ("c", 5)]


def test_philly_rows_use_seconds_from_the_first_job_and_virtual_clusters_as_orgs() -> None:
    tr = parse_philly(PHILLY)
    assert [(j.org, j.submit_s, j.cards, j.runtime_s) for j in tr.jobs] == [
        ("vc-6214e9", 0, 4, 2951),
        ("vc-11cb48", 2932, 1, 66),
    ]
    mapped = parse_philly(PHILLY, orgs=lambda name: name.upper())
    assert mapped.jobs[0].org == "VC-6214E9"


def test_canonical_round_trip() -> None:
    tr = parse_canonical(CANONICAL)
    again = parse_canonical(to_canonical(tr.jobs))
    assert again.jobs == tr.jobs


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("job_id,submit_s,duration_s,gpus\na,0,100,1\nb,x,100,1\n", 3, "submit_s"),
        ("job_id,submit_s,duration_s,gpus\na,0,0,1\n", 2, "duration_s"),
        ("job_id,submit_s,duration_s,gpus\na,0,10,1.5\n", 2, "gpus"),
        ("job_id,submit_s,duration_s,gpus\na,0,10,0\n", 2, "gpus"),
        ("job_id,submit_s,duration_s,gpus\na,-1,10,1\n", 2, "submit_s"),
        ("job_id,submit_s,duration_s,gpus,accelerator\na,0,10,1,gtx-1080\n", 2, "accelerator"),
        ("job_id,submit_s,duration_s,gpus\na,0,10,1\na,0,10,1\n", 3, "job_id"),
        ("job_id,submit_s,gpus\na,0,1\n", 1, "duration_s"),
    ],
)
def test_bad_canonical_input_names_line_and_column(text: str, line: int, column: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_canonical(text)
    assert exc.value.row == line
    assert exc.value.column == column
    assert f"line {line}, column {column}" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("timestamp,duration,num_gpus,gpu_time,cluster\nyesterday,1,1,1,a\n", 2, "timestamp"),
        ("timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,nan,1,1,a\n", 2, "duration"),
        ("timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,5,-2,1,a\n", 2, "num_gpus"),
        ("timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,5,1,1\n", 2, "cluster"),
    ],
)
def test_bad_philly_input_names_line_and_column(text: str, line: int, column: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_philly(text)
    assert exc.value.row == line
    assert exc.value.column == column


def test_load_factor_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="load factor"):
        parse_canonical(CANONICAL, load_factor="0")


def test_cli_bad_trace_is_one_red_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("job_id,submit_s,duration_s,gpus\na,0,100,1\nb,0,100,two\n", "utf-8")
    result = CliRunner().invoke(app, ["--trace", str(bad), "--policy", "zhisuan"])
    assert result.exit_code == 2
    assert "line 3, column gpus" in result.output
    assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1


def test_cli_unknown_policy_and_format_exit_2(tmp_path: Path) -> None:
    good = tmp_path / "t.csv"
    good.write_text(CANONICAL, "utf-8")
    assert CliRunner().invoke(app, ["--trace", str(good), "--policy", "fastest"]).exit_code == 2
    assert CliRunner().invoke(app, ["--trace", str(good), "--format", "slurm"]).exit_code == 2
    assert CliRunner().invoke(app, ["--trace", str(good), "--load-factor", "-1"]).exit_code == 2


def test_cli_writes_the_metrics_json(tmp_path: Path) -> None:
    import json

    good = tmp_path / "t.csv"
    good.write_text(CANONICAL, "utf-8")
    out = tmp_path / "m.json"
    jobs = tmp_path / "jobs.csv"
    result = CliRunner().invoke(
        app, ["--trace", str(good), "--policy", "zhisuan", "--json", str(out), "--jobs-csv", str(jobs)]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text("utf-8"))
    for key in (
        "policy",
        "jobs",
        "completed",
        "unrunnable",
        "jct_avg_s",
        "jct_p50_s",
        "jct_p95_s",
        "jct_p99_s",
        "wait_avg_s",
        "makespan_s",
        "utilization",
        "utilization_by_center",
        "user_cost_yuan",
        "voucher_yuan",
        "jain_fairness",
        "wall_s",
    ):
        assert key in body
    assert body["completed"] == 3
    assert len(jobs.read_text("utf-8").splitlines()) == 4
    every = CliRunner().invoke(app, ["--trace", str(good), "--policy", "all", "--json", str(out)])
    assert every.exit_code == 0, every.output
    assert [r["policy"] for r in json.loads(out.read_text("utf-8"))["runs"]] == [
        "user-choice",
        "round-robin",
        "least-loaded",
        "pooled-ideal",
        "zhisuan",
    ]


def test_cli_compare_and_policies(tmp_path: Path) -> None:
    import json

    good = tmp_path / "t.csv"
    good.write_text(CANONICAL, "utf-8")
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["compare", "--trace", str(good), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text("utf-8"))["runs"]) == 5
    listed = CliRunner().invoke(app, ["policies", "--json"])
    assert listed.exit_code == 0
    assert {p["name"] for p in json.loads(listed.output)} >= {"zhisuan", "user-choice"}


def test_cli_province_file_errors_name_the_key(tmp_path: Path) -> None:
    good = tmp_path / "t.csv"
    good.write_text(CANONICAL, "utf-8")
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "centers:\n  - id: c\n    name: C\n    city: '340100'\n    operator: {name: Op}\n"
        "    pools: [{id: p, accelerator: a100-sxm4-80gb, nodes: 0, cards_per_node: 8, price: '10'}]\n",
        "utf-8",
    )
    result = CliRunner().invoke(app, ["--trace", str(good), "--province", str(bad)])
    assert result.exit_code == 2
    assert "centers[0].pools[0].nodes" in result.output
