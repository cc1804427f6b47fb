"""The catalog answers matching's "which open datasets fit this sector?": shareable, published, the
enterprise's own city first."""

from __future__ import annotations

from tests.conftest import TestDatabase
from tests.factories.opendata import HEFEI, WUHU, fields
from zhisuan.core.clock import ManualClock
from zhisuan.opendata import catalog
from zhisuan.opendata.fit import OpenCatalog


def test_fitting_datasets_are_shareable_published_and_the_citys_own_first(
    db: TestDatabase, clock: ManualClock
) -> None:
    with db.uow() as uow:
        catalog.create_dataset(uow, WUHU, clock, fields(title="芜湖市公交数据"), publish=True)
        catalog.create_dataset(uow, HEFEI, clock, fields(title="合肥市公交数据"), publish=True)
        catalog.create_dataset(uow, HEFEI, clock, fields(title="合肥市交通草稿"))
        catalog.create_dataset(
            uow, HEFEI, clock, fields(title="合肥市车辆登记", openness="not_open"), publish=True
        )
        catalog.create_dataset(
            uow, HEFEI, clock, fields(title="合肥市医院名录", themes=["health"]), publish=True
        )
        found = OpenCatalog(uow).fitting("transport", "340100")
        assert [d.title for d in found] == ["合肥市公交数据", "芜湖市公交数据"]
        assert "本市发布" in found[0].reason_zh and OpenCatalog(uow).fitting(None, "340100") == ()
