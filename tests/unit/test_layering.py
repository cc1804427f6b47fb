"""The layering of DESIGN.md ("must not import"), as import-linter contracts in pyproject.toml."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest
from importlinter import api
from importlinter.application.use_cases import lint_imports

import zhisuan

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_every_layering_contract_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    # No cache: the graph is built from the tree under test, and nothing is written into it.
    kept = lint_imports(str(PYPROJECT), cache_dir=None, no_logo=True)
    assert kept, capsys.readouterr().out


def test_the_core_contract_names_every_other_package() -> None:
    # "core imports nothing else in zhisuan" lists the packages it must not import: a new one must join.
    contracts = api.read_configuration(str(PYPROJECT))["contracts_options"]
    (core,) = [c for c in contracts if c.get("id") == "core"]
    packages = {f"zhisuan.{m.name}" for m in pkgutil.iter_modules(zhisuan.__path__)} - {"zhisuan.core"}
    missing = sorted(packages - set(core["forbidden_modules"]))
    assert not missing, f"add {missing} to the core contract in pyproject.toml (and to the others that apply)"
