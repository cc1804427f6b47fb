"""One pack source: `zhisuan vouchers settle` and `POST /api/v1/policy/evaluate` answer from the same packs.

Before, the CLI read the data directory's packs itself, settlement used the shipped packs only and the
API the data directory's: once an administrator published a pack, the two disagreed about a month.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from zhisuan.bootstrap import bootstrap
from zhisuan.core.credit_code import make_credit_code
from zhisuan.settings import load_settings
from zhisuan.web.app import create_app

ADMIN_PACK = Path(__file__).parents[1] / "unit" / "policy" / "packs" / "anhui-2025-art3-test.yaml"
USER = make_credit_code("91340100MA2PK0001")
OPERATOR = make_credit_code("91340100MA2PK0002")


def run(data_dir: Path, *args: str) -> str:
    env = os.environ | {"ZHISUAN_DATA_DIR": str(data_dir), "ZHISUAN_ADMIN_PASSWORD": "admin-password"}
    env.pop("ZHISUAN_DATABASE_URL", None)
    env.pop("ZHISUAN_PACKS_DIR", None)
    done = subprocess.run(
        [sys.executable, "-m", "zhisuan", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"zhisuan {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def test_settlement_and_the_api_answer_from_an_administrators_pack(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "packs").mkdir(parents=True)
    # the administrator's pack pays 25% of art. 2 spend from 2025-09-01 (the shipped pack: 20%)
    (data / "packs" / ADMIN_PACK.name).write_text(ADMIN_PACK.read_text(encoding="utf-8"), encoding="utf-8")
    run(data, "init")
    user = json.loads(
        run(
            data,
            "org",
            "add",
            "--name",
            "包测科技有限公司",
            "--code",
            USER,
            "--kind",
            "enterprise",
            "--city",
            "340100",
            "--json",
        )
    )["id"]
    run(
        data,
        "org",
        "add",
        "--name",
        "包测算力运营有限公司",
        "--code",
        OPERATOR,
        "--kind",
        "center_operator",
        "--city",
        "340100",
    )
    center = json.loads(
        run(
            data,
            "center",
            "add",
            "--key",
            "hf-pk",
            "--name",
            "合肥包测",
            "--operator",
            OPERATOR,
            "--city",
            "340100",
            "--json",
        )
    )["id"]
    pool = json.loads(
        run(
            data,
            "pool",
            "add",
            "hf-pk",
            "--key",
            "hf-pk-a100",
            "--accelerator",
            "a100-sxm4-80gb",
            "--nodes",
            "1",
            "--price",
            "10",
            "--json",
        )
    )["id"]
    usage = tmp_path / "usage.jsonl"
    row = {
        "engine": "sim",
        "engine_job_id": "pk-1",
        "org_id": user,
        "center_id": center,
        "pool_id": pool,
        "accelerator": "a100-sxm4-80gb",
        "cards": 8,
        "start": "2025-09-03T09:00:00+08:00",
        "end": "2025-09-03T19:00:00+08:00",
    }
    usage.write_text(json.dumps(row) + "\n", encoding="utf-8")
    run(data, "usage", "import", str(usage))
    run(data, "ledger", "fund", "--year", "2025", "--amount", "1000000", "--ref", "budget-2025")
    run(data, "bills", "draft", "--month", "2025-09")
    run(data, "bills", "issue", "--month", "2025-09")
    run(data, "bills", "pay-all", "--month", "2025-09", "--ref", "BANK-1", "--date", "2025-10-08")
    run(data, "vouchers", "settle", "--month", "2025-09")
    (line,) = json.loads(run(data, "vouchers", "list", "--month", "2025-09", "--json"))
    assert line["amount"] == "200.00", line  # 80 card-hours × 10 yuan × 25%, not the shipped pack's 20%

    platform = bootstrap(load_settings({"ZHISUAN_DATA_DIR": str(data)}))
    with TestClient(create_app(platform)) as client:
        answer = client.post(
            "/api/v1/policy/evaluate",
            json={
                "program": "anhui-2025/art3",
                "on": "2025-09-30",
                "facts": {"city": "340100", "in_province": True, "self_use": False, "spend": "800.00"},
            },
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["amount"] == line["amount"]
    assert answer.json()["pack"] == line["pack"]
