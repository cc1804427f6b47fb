"""The catalog as matching's :class:`~zhisuan.matching.model.DatasetCatalog` (art. 3 meets art. 8): the
published, shareable datasets whose themes fit a key enterprise's sector, its own city's first, then
the provincial departments', then other cities'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from zhisuan.matching.model import Dataset
from zhisuan.opendata import model as m
from zhisuan.opendata.search import as_list
from zhisuan.store.models.opendata import DatasetRow
from zhisuan.store.uow import UnitOfWork

#: an enterprise's sector (the registries' choices) → the catalog themes that serve it
SECTOR_THEMES: Mapping[str, tuple[str, ...]] = {
    "manufacturing": ("economy",),
    "automotive": ("transport", "geography"),
    "health": ("health",),
    "education": ("education",),
    "finance": ("economy",),
    "government": ("egov_documents", "archives"),
    "energy": ("environment", "economy"),
    "agriculture": ("agriculture",),
    "transport": ("transport",),
    "culture": ("culture_tourism", "local_chronicles", "archives"),
    # general models learn from the corpora art. 3 names
    "general": ("egov_documents", "archives", "local_chronicles"),
}
LIMIT = 10


class OpenCatalog:
    """Fitting datasets read through the caller's unit of work (nothing is written)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def fitting(self, sector: str | None, city_code: str | None) -> Sequence[Dataset]:
        themes = SECTOR_THEMES.get(sector or "", ())
        if not themes:
            return ()
        q = (
            select(DatasetRow)
            .where(
                DatasetRow.state == m.DatasetState.PUBLISHED.value,
                DatasetRow.openness != m.Openness.NOT_OPEN.value,
            )
            .order_by(DatasetRow.id)
            .limit(5000)
        )
        fits = []
        for row in self.uow.session.execute(q).scalars():
            shared = [t for t in as_list(row.themes) if t in themes]
            if not shared:
                continue
            place = 0 if row.city_code == city_code else 1 if row.city_code == m.PROVINCE_CODE else 2
            fits.append((place, row, shared[0]))
        fits.sort(key=lambda f: (f[0], f[1].title))
        out = []
        for place, row, theme in fits[:LIMIT]:
            zh, en = m.THEMES[theme]
            where_zh = ("本市" if place == 0 else "省直部门" if place == 1 else "外市") + "发布"
            where_en = (
                "published by its city"
                if place == 0
                else "by a provincial department"
                if place == 1
                else "by another city"
            )
            condition_zh = "，需申请授权" if row.openness == m.Openness.CONDITIONAL.value else ""
            condition_en = ", by a grant" if row.openness == m.Openness.CONDITIONAL.value else ""
            out.append(
                Dataset(
                    ref=row.identifier,
                    title=row.title,
                    reason_zh=f"主题“{zh}”对应其行业领域；{where_zh}{condition_zh}",
                    reason_en=f"theme {en} fits its sector; {where_en}{condition_en}",
                )
            )
        return tuple(out)


__all__ = ["LIMIT", "SECTOR_THEMES", "OpenCatalog"]
