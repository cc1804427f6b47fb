"""PackSource's second input: approved versions replace the pack of their id, noticed by their stamp."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path

import pytest

from zhisuan.policy import PackError, PackSource, PublishedPack

SAMPLE = Path(__file__).resolve().parents[2] / "factories" / "packs" / "test-publish-art2.yaml"
SHIPPED = Path(__file__).resolve().parents[3] / "src" / "zhisuan" / "policy" / "packs" / "anhui-2023.yaml"


class Fake:
    def __init__(self) -> None:
        self.items: list[PublishedPack] = []
        self.reads = 0

    def stamp(self) -> Hashable:
        return tuple(i.stamp for i in self.items)

    def packs(self) -> Sequence[PublishedPack]:
        self.reads += 1
        return list(self.items)


def test_approved_versions_are_served_and_replace_the_pack_of_their_id() -> None:
    fake = Fake()
    source = PackSource(None, fake)
    first = source.current()
    assert source.current() is first and fake.reads == 1
    fake.items.append(PublishedPack("s.yaml (version 1, #1)", SAMPLE.read_text(encoding="utf-8"), 1))
    served = source.current()
    assert served.pack("test-publish-art2").source_file == "s.yaml (version 1, #1)"
    # a new version of a shipped pack replaces it
    text = SHIPPED.read_text(encoding="utf-8").replace("title_en:", "title_en: (v2)", 1)
    fake.items.append(PublishedPack("anhui-2023.yaml (version 1, #2)", text, 2))
    assert source.current().pack("anhui-2023").title_en.startswith("(v2)")
    assert len(source.current()) == len(served)


def test_a_broken_version_keeps_the_set_in_force_and_names_its_line() -> None:
    fake = Fake()
    source = PackSource(None, fake)
    before = source.current()
    bad = SAMPLE.read_text(encoding="utf-8").replace("payee: applicant", "payee: x")
    fake.items.append(PublishedPack("bad.yaml", bad, 9))
    assert source.current() is before
    assert source.error is not None and source.error.file == "bad.yaml" and source.error.row
    with pytest.raises(PackError):
        source.reload()
