"""`zhisuan opendata` as a user runs it: import (a bad row names its line and column, exit 2, nothing
written), search, export DCAT-AP, a bulletin generated and published by the data bureau."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli_foundation import run

HEAD = "数据集名称,摘要,主题,开放属性,开放条件,格式,更新频率,联系人,联系邮箱,是否发布\n"
ROW = "{t},{t}的明细,交通运输,无条件开放,,CSV,每月,王工,a@b.cn,是\n"


def test_import_search_export_and_bulletin(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    for name, role, extra in (("hf", "city", ("--city", "340100")), ("db", "data_bureau", ())):
        r = run(tmp_path, "user", "add", name, "--role", role, "--password", "password-9", *extra)
        assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEAD + ROW.format(t="公交站点") + "医院名录,说明,医疗卫生,不知道,,CSV,每月,李工,c@d.cn,是\n",
        encoding="utf-8",
    )
    r = run(tmp_path, "opendata", "import", str(bad), "--as", "hf")
    assert r.returncode == 2 and "line 3" in r.stderr + r.stdout and "开放属性" in r.stderr + r.stdout
    good = tmp_path / "good.csv"
    good.write_text(
        HEAD + ROW.format(t="合肥市公交站点") + ROW.format(t="合肥市轨道交通线路"), encoding="utf-8"
    )
    r = run(tmp_path, "opendata", "import", str(good), "--as", "hf")
    assert r.returncode == 0, r.stderr
    found = json.loads(run(tmp_path, "opendata", "search", "站点", "--json").stdout)
    assert [d["title"] for d in found["datasets"]] == ["合肥市公交站点"]  # the bad file wrote nothing
    out = tmp_path / "catalog.jsonld"
    assert run(tmp_path, "opendata", "export", str(out)).returncode == 0
    assert len(json.loads(out.read_text(encoding="utf-8"))["dcat:dataset"]) == 2
    r = run(tmp_path, "opendata", "bulletin", "2025Q1", "--generate", "--publish", "--as", "db", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "published"
    r = run(tmp_path, "opendata", "bulletin", "2025Q1", "--generate", "--as", "db")
    assert r.returncode == 2 and "frozen" in r.stderr + r.stdout
