from __future__ import annotations

from pathlib import Path

import pytest

from zhisuan.policy import PackSet, load_pack_set

HERE = Path(__file__).parent
SUCCESSOR = HERE / "packs" / "anhui-2025-test.yaml"


@pytest.fixture(scope="session")
def packs() -> PackSet:
    return load_pack_set()


@pytest.fixture(scope="session")
def packs_with_successor() -> PackSet:
    return load_pack_set(files=[SUCCESSOR])


@pytest.fixture(scope="session")
def successor_pack_path() -> Path:
    return SUCCESSOR
