"""Concurrent writers over HTTP (issue 16): 80 at once on SQLite and PostgreSQL, no 500, an intact audit
chain; bearer-token reads write nothing while they run."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.conftest import TEST_AUDIT_KEY
from zhisuan import accounts, audit
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal, Role
from zhisuan.settings import Settings
from zhisuan.store.models.core import ApiTokenRow
from zhisuan.web.app import create_app

ROOT = Principal(None, "fixture", Role.ADMIN)


def test_eighty_concurrent_writes_and_reads_answer_without_server_errors(
    committed_engine: Engine, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=str(committed_engine.url),
        secret_key="s",
        run_worker=False,
        audit_key=TEST_AUDIT_KEY,
    )
    platform = Platform(settings=settings, engine=committed_engine)
    with platform.uow() as uow:
        accounts.add_user(
            uow, ROOT, username="root", password="password-1", role=Role.ADMIN, now=platform.clock.now()
        )
        token = accounts.create_token(uow, ROOT, "root", "t", platform.clock.now())
        uow.commit()
    auth = {"Authorization": f"Bearer {token}"}
    statuses: list[int] = []
    start = threading.Barrier(100)

    with TestClient(create_app(platform)) as client:
        client.get("/api/v1/me", headers=auth)  # the token's first use is recorded once
        with platform.uow(read_only=True) as uow:
            used = uow.session.execute(select(ApiTokenRow.last_used_at)).scalar()

        def write(i: int) -> None:
            start.wait()
            got = client.post("/api/v1/tokens", json={"name": f"t{i}"}, headers=auth)
            statuses.append(got.status_code)

        def read() -> None:
            start.wait()
            got: httpx.Response = client.get("/api/v1/me", headers=auth)
            statuses.append(got.status_code)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(80)]
        threads += [threading.Thread(target=read) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(set(statuses)) == [200, 201] and statuses.count(201) == 80
    with platform.uow(read_only=True) as uow:
        verdict = audit.verify(uow)
        again = (
            uow.session.execute(select(ApiTokenRow.last_used_at).order_by(ApiTokenRow.id)).scalars().first()
        )
    assert verdict.intact and verdict.checked >= 82
    assert used is not None and again == used  # the reads within the minute wrote nothing
