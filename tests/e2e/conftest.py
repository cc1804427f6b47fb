"""HTTP-level fixtures: the real ASGI app around the test's rolled-back database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from zhisuan import accounts
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal, Role
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind
from zhisuan.web.app import create_app

ROOT = Principal(None, "fixture", Role.ADMIN)


@dataclass
class World:
    """Two organizations with a member each, an operator, and an admin; tokens for all."""

    client: TestClient
    platform: Platform
    org_a: int
    org_b: int
    operator_org: int
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as c:
        yield c


@pytest.fixture
def world(platform: Platform, client: TestClient) -> World:
    now = platform.clock.now()
    with platform.uow() as uow:
        ids = []
        for name, body, kind in (
            ("甲智能科技有限公司", "91340100MA2E2E001", OrgKind.ENTERPRISE),
            ("乙智能科技有限公司", "91340100MA2E2E002", OrgKind.ENTERPRISE),
            ("丙算力运营有限公司", "91340100MA2E2E003", OrgKind.CENTER_OPERATOR),
        ):
            ids.append(
                accounts.create_org(
                    uow,
                    ROOT,
                    accounts.OrgInput(
                        name=name, credit_code=make_credit_code(body), kind=kind, city_code="340100"
                    ),
                    now,
                ).id
            )
        people = {
            "alice": (Role.ORG_ADMIN, ids[0]),
            "bob": (Role.USER, ids[1]),
            "olga": (Role.OPERATOR, ids[2]),
        }
        tokens = {}
        for username, (role, org) in people.items():
            accounts.add_user(
                uow, ROOT, username=username, password="password-1", role=role, org=org, now=now
            )
            tokens[username] = accounts.create_token(uow, ROOT, username, "test", now)
        accounts.add_user(uow, ROOT, username="root", password="password-1", role=Role.ADMIN, now=now)
        tokens["root"] = accounts.create_token(uow, ROOT, "root", "test", now)
        uow.commit()
    return World(client, platform, ids[0], ids[1], ids[2], tokens)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium through Playwright (no browser download: Debian's chromium)."""
    from tests.conftest import service_missing
    from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, chromium_available

    if not chromium_available():
        service_missing("Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
