"""Chinese search on both databases: words inside titles are found, exact titles rank first, facets count."""

from __future__ import annotations

import pytest

from tests.conftest import TestDatabase
from tests.factories.opendata import BUREAU, HEFEI, WUHU, fields
from zhisuan.core.clock import ManualClock
from zhisuan.opendata import catalog
from zhisuan.opendata import search as search_module
from zhisuan.opendata.search import Filters


def _catalog(db: TestDatabase, clock: ManualClock) -> None:
    with db.uow() as uow:
        catalog.create_dataset(uow, HEFEI, clock, fields(), publish=True)
        catalog.create_dataset(
            uow,
            HEFEI,
            clock,
            fields(
                title="交通",
                description="交通运输综合数据（道路、公交与轨道）",
                themes=["transport", "economy"],
                keywords=["道路"],
            ),
            publish=True,
        )
        catalog.create_dataset(
            uow,
            WUHU,
            clock,
            fields(
                title="芜湖市医疗机构名录",
                description="医院和社区卫生服务中心的名称、地址",
                themes=["health"],
                openness="conditional",
                conditions="仅用于模型训练",
                formats=["XLSX"],
                keywords=[],
            ),
            publish=True,
        )
        catalog.create_dataset(uow, WUHU, clock, fields(title="芜湖市交通草稿"))  # a draft: never found
        uow.commit()


def test_a_two_character_word_inside_a_title_is_found(db: TestDatabase, clock: ManualClock) -> None:
    _catalog(db, clock)
    with db.uow() as uow:
        found = catalog.find_datasets(uow, "线路")
    assert [d["title"] for d in found["datasets"]] == ["合肥市公共交通线路数据"]
    with db.uow() as uow:
        found = catalog.find_datasets(uow, "医疗")
    assert [d["title"] for d in found["datasets"]] == ["芜湖市医疗机构名录"]


def test_an_exact_title_match_ranks_first(db: TestDatabase, clock: ManualClock) -> None:
    _catalog(db, clock)
    with db.uow() as uow:
        found = catalog.find_datasets(uow, "交通")
    titles = [d["title"] for d in found["datasets"]]
    assert titles[0] == "交通"
    assert set(titles) == {"交通", "合肥市公共交通线路数据"}  # the draft is not public
    assert found["total"] == 2


def test_facets_count_every_match_and_narrow(db: TestDatabase, clock: ManualClock) -> None:
    _catalog(db, clock)
    with db.uow() as uow:
        everything = catalog.find_datasets(uow, None)
        narrowed = catalog.find_datasets(uow, None, Filters(openness="conditional"))
        by_theme = catalog.find_datasets(uow, "数据", Filters(theme="economy"))
    assert everything["total"] == 3
    facets = {f["value"]: f["count"] for f in everything["facets"]["publisher"]}
    assert facets == {"city:340100": 2, "city:340200": 1}
    assert {f["value"]: f["count"] for f in everything["facets"]["format"]} == {
        "CSV": 2,
        "JSON": 2,
        "XLSX": 1,
    }
    assert [d["title"] for d in narrowed["datasets"]] == ["芜湖市医疗机构名录"]
    assert [d["title"] for d in by_theme["datasets"]] == ["交通"]


def test_an_edit_is_searchable_at_once_and_the_old_words_are_gone(
    db: TestDatabase, clock: ManualClock
) -> None:
    _catalog(db, clock)
    with db.uow() as uow:
        ident = catalog.find_datasets(uow, "医疗")["datasets"][0]["identifier"]
        catalog.update_dataset(uow, BUREAU, clock, str(ident), {"title": "芜湖市养老服务设施名录"})
        uow.commit()
    with db.uow() as uow:
        assert catalog.find_datasets(uow, "医疗")["total"] == 0
        assert catalog.find_datasets(uow, "养老")["total"] == 1
        history = catalog.dataset_history(uow, WUHU, str(ident))
    assert [h["version"] for h in history] == [2, 1]
    assert history[1]["dataset"]["title"] == "芜湖市医疗机构名录"


def test_a_query_broader_than_the_count_limit_says_so(
    db: TestDatabase, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _catalog(db, clock)
    monkeypatch.setattr(search_module, "COUNT_LIMIT", 1)
    with db.uow() as uow:
        broad = catalog.find_datasets(uow, "交通")
        narrow = catalog.find_datasets(uow, "医疗")
    assert (broad["total"], broad["total_exact"], len(broad["datasets"])) == (1, False, 2)
    assert (narrow["total"], narrow["total_exact"]) == (1, True)
