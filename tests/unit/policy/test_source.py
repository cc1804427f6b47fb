"""One pack source: shipped plus the administrators' folder, validated once, reloaded on publication."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from zhisuan.bootstrap import Platform
from zhisuan.policy import PackError, PackSource, evaluate
from zhisuan.policy import source as source_module
from zhisuan.settings import Settings, load_settings

ADMIN_PACK = Path(__file__).parent / "packs" / "anhui-2025-art3-test.yaml"
ART2 = {"city": "340100", "in_province": True, "self_use": False, "spend": "1000"}


def _publish(folder: Path, name: str, text: str, *, tick: int = 0) -> Path:
    """Write a pack file; ``tick`` moves its mtime on so that a same-size rewrite is a visible change."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    if tick:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + tick * 1_000_000_000))
    return path


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the source parses (the shipped packs are parsed once per process)."""
    source_module.shipped_packs()
    calls: list[str] = []
    real = source_module.load_pack

    def counting(path: str | Path) -> object:
        calls.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(source_module, "load_pack", counting)
    return calls


def test_without_a_folder_only_the_shipped_packs_are_in_force(tmp_path: Path) -> None:
    assert [p.id for p in PackSource(tmp_path / "missing").current()] == [
        "anhui-2023",
        "anhui-2025",
        "wuhu-compute",
    ]
    assert [p.id for p in PackSource(None).current()] == ["anhui-2023", "anhui-2025", "wuhu-compute"]


def test_a_published_pack_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    source = PackSource(tmp_path)
    before = evaluate("anhui-2025/art3", ART2, "2025-09-15", source.current())
    assert (before.pack, before.amount_text, before.provisional) == ("anhui-2025", "200.00", True)
    _publish(tmp_path, "art2.yaml", ADMIN_PACK.read_text(encoding="utf-8"))
    after = evaluate("anhui-2025/art3", ART2, "2025-09-15", source.current())
    assert (after.pack, after.amount_text, after.provisional) == ("anhui-2025-art3-test", "250.00", False)
    # the dated parameter of the administrator's pack, and the months it does not replace
    assert evaluate("anhui-2025/art3", ART2, "2025-11-15", source.current()).amount_text == "300.00"
    assert evaluate("anhui-2025/art3", ART2, "2025-08-15", source.current()).pack == "anhui-2025"
    assert evaluate("art2", ART2, "2025-08-10", source.current()).pack == "anhui-2023"


def test_an_unchanged_folder_is_validated_once(tmp_path: Path, parsed: list[str]) -> None:
    _publish(tmp_path, "art2.yaml", ADMIN_PACK.read_text(encoding="utf-8"))
    source = PackSource(tmp_path)
    first = source.current()
    assert source.current() is first
    assert source.current() is first
    assert parsed == ["art2.yaml"]
    # a new file parses only itself; the unchanged one is kept as validated
    other = ADMIN_PACK.read_text(encoding="utf-8").replace("id: anhui-2025-art3-test", "id: other-test")
    other = other.replace("art3: 2025-09-01\n", "art3: 2026-01-01\n").replace(
        "effective: {from: 2025-09-01}", "effective: {from: 2026-01-01}"
    )
    _publish(tmp_path, "other.yaml", other)
    assert source.current() is not first
    assert parsed == ["art2.yaml", "other.yaml"]


def test_a_bad_new_file_raises_and_keeps_the_previous_set_in_force(tmp_path: Path, parsed: list[str]) -> None:
    good = _publish(tmp_path, "art2.yaml", ADMIN_PACK.read_text(encoding="utf-8"))
    source = PackSource(tmp_path)
    in_force = source.current()
    broken = good.read_text(encoding="utf-8").replace('value: "25%"', 'value: "lots"')
    _publish(tmp_path, "art2.yaml", broken, tick=1)
    with pytest.raises(PackError) as info:
        source.reload()
    err = info.value
    assert (err.file, err.field) == ("art2.yaml", "articles.art3.parameters.rate.history[0].value")
    assert err.row == broken.splitlines().index('          - {from: 2025-09-01, value: "lots"}') + 1
    assert str(err).startswith(f"art2.yaml:{err.row}: articles.art3.parameters.rate.history[0].value: ")
    # the running server keeps answering from the set in force, and does not parse the bad file again
    assert source.current() is in_force
    assert source.current() is in_force
    assert source.error is err
    assert parsed == ["art2.yaml", "art2.yaml"]
    assert evaluate("anhui-2025/art3", ART2, "2025-09-15", source.current()).amount_text == "250.00"
    # fixed: the next call picks the corrected version up
    _publish(tmp_path, "art2.yaml", broken.replace('value: "lots"', 'value: "26%"'), tick=2)
    assert evaluate("anhui-2025/art3", ART2, "2025-09-15", source.current()).amount_text == "260.00"
    assert source.error is None


def test_a_bad_file_with_no_set_in_force_yet_is_reported_and_skipped(tmp_path: Path) -> None:
    """Issue 16: one bad file in the folder took the policy pages and API down; now the shipped packs
    stay in force and the problem is kept in ``error`` (file, line, key)."""
    _publish(tmp_path, "bad.yaml", "id: bad-pack\ntitle_zh: x\n")
    source = PackSource(tmp_path)
    for _ in range(2):
        packs = source.current()
        assert {p.id for p in packs} == {p.id for p in source_module.shipped_packs()}
        assert source.error is not None and source.error.file == "bad.yaml"
    with pytest.raises(PackError):
        source.reload()  # an explicit reload (zhisuan policy check, publishing) still says why


def test_a_pack_id_used_twice_names_the_new_file(tmp_path: Path) -> None:
    shipped = (Path(source_module.__file__).with_name("packs") / "anhui-2023.yaml").read_text(
        encoding="utf-8"
    )
    _publish(tmp_path, "copy.yaml", shipped)
    source = PackSource(tmp_path)
    source.current()
    info = source.error
    assert info is not None
    assert (info.file, info.field) == ("copy.yaml", "id")
    assert "already used by anhui-2023.yaml" in info.message


def test_settings_name_the_packs_folder_and_the_platform_builds_the_source(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="sqlite://", secret_key="k")
    assert settings.packs_dir == tmp_path / "packs"
    elsewhere = tmp_path / "published"
    env = {"ZHISUAN_DATA_DIR": str(tmp_path), "ZHISUAN_PACKS_DIR": str(elsewhere), "ZHISUAN_SECRET_KEY": "k"}
    assert load_settings(env).packs_dir == elsewhere
    platform = Platform(settings=load_settings(env), engine=create_engine("sqlite://"))
    assert platform.packs.folder == elsewhere
    _publish(elsewhere, "art2.yaml", ADMIN_PACK.read_text(encoding="utf-8"))
    assert "anhui-2025-art3-test" in [p.id for p in platform.packs.current()]
