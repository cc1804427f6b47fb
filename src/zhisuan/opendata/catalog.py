"""The catalog through the unit of work (art. 3): entries, their history, search and listings.

Publishers (a city's users for the city, a department's members for the department) manage their own
entries, the data bureau all of them; every save keeps the previous version in the history. The public
reads published entries; anything else is *not found* to those who may not manage it. Publishing,
withdrawing and a change of openness are audited in the caller's transaction. The callers commit.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from zhisuan import audit
from zhisuan.core.access import Principal
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.errors import ConflictError, ValidationError
from zhisuan.opendata import _common as c
from zhisuan.opendata import model as m
from zhisuan.opendata.distributions import dataset_distributions, distribution_dict
from zhisuan.opendata.publishers import publisher_for
from zhisuan.opendata.search import Filters, as_list, dump_list, search, segmented
from zhisuan.store.models.opendata import DatasetRow, DatasetVersionRow, DistributionRow
from zhisuan.store.uow import UnitOfWork


def _apply(row: DatasetRow, f: m.DatasetFields) -> None:
    row.title, row.description = f.title, f.description
    row.themes, row.keywords = dump_list(f.themes), dump_list(f.keywords)
    row.openness, row.conditions = f.openness.value, f.conditions
    row.formats, row.update_frequency = dump_list(f.formats), f.update_frequency
    row.records, row.byte_size = f.records, f.byte_size
    row.contact_name, row.contact_email = f.contact_name, f.contact_email
    row.search_title = segmented(f.title)
    row.search_body = segmented(" ".join([f.description, *f.keywords]))


def snapshot(uow: UnitOfWork, row: DatasetRow, who: Principal, now: dt.datetime, action: str) -> None:
    uow.session.add(
        DatasetVersionRow(
            dataset_id=row.id,
            version=row.version,
            action=action,
            at=now,
            actor=who.username,
            snapshot=json.dumps(dataset_dict(row), ensure_ascii=False),
        )
    )


def new_dataset_row(
    publisher: m.Publisher, f: m.DatasetFields, who: Principal, now: dt.datetime, *, publish: bool
) -> DatasetRow:
    """An unsaved entry of ``publisher`` (published today when ``publish``, else a draft)."""
    row = DatasetRow(
        identifier=f"{publisher.city_code}-{secrets.token_hex(5)}",
        publisher_key=publisher.key,
        publisher_name=publisher.name,
        city_code=publisher.city_code,
        state=m.DatasetState.DRAFT.value,
        version=1,
        created_by=who.username,
        created_at=now,
        modified_at=now,
    )
    _apply(row, f)
    if publish:
        row.state, row.issued_on = m.DatasetState.PUBLISHED.value, shanghai_date(now)
    return row


def create_dataset(
    uow: UnitOfWork, who: Principal, clock: Clock, data: Mapping[str, Any], *, publish: bool = False
) -> dict[str, object]:
    """A new catalog entry of the caller's publisher (a draft unless ``publish``)."""
    now = clock.now()
    s = uow.session
    row = new_dataset_row(
        publisher_for(s, who, data.get("publisher")), m.DatasetFields.check(data), who, now, publish=publish
    )
    s.add(row)
    s.flush()
    snapshot(uow, row, who, now, "create")
    return dataset_dict(row)


def update_dataset(
    uow: UnitOfWork, who: Principal, clock: Clock, identifier: str, data: Mapping[str, Any]
) -> dict[str, object]:
    """Change an entry (its publisher or the data bureau); the history keeps every version."""
    now = clock.now()
    row = c.managed(uow.session, who, identifier)
    merged = {**dataset_dict(row), **{k: v for k, v in data.items() if v is not None}}
    before = (row.openness, row.conditions)
    _apply(row, m.DatasetFields.check(merged))
    row.version += 1
    row.modified_at = now
    uow.session.flush()
    snapshot(uow, row, who, now, "update")
    if (row.openness, row.conditions) != before:  # who may have the data changed: an access change
        audit.record(
            uow,
            now,
            who.username,
            "dataset.openness",
            f"dataset:{row.identifier}",
            {"before": list(before), "after": [row.openness, row.conditions]},
        )
    return dataset_dict(row)


def set_state(
    uow: UnitOfWork, who: Principal, clock: Clock, identifier: str, state: str
) -> dict[str, object]:
    """Publish or withdraw an entry; the first publication is the day it was opened."""
    now = clock.now()
    row = c.managed(uow.session, who, identifier)
    try:
        target = m.DatasetState(state)
    except ValueError:
        raise ValidationError("published or withdrawn", field="state") from None
    if target is m.DatasetState.DRAFT or target.value == row.state:
        raise ConflictError(f"the dataset is already {row.state}", field="state")
    row.state = target.value
    if target is m.DatasetState.PUBLISHED and row.issued_on is None:
        row.issued_on = shanghai_date(now)
    row.version += 1
    row.modified_at = now
    uow.session.flush()
    snapshot(uow, row, who, now, target.value)
    audit.record(uow, now, who.username, f"dataset.{target.value}", f"dataset:{row.identifier}", {})
    return dataset_dict(row)


def dataset_dict(row: DatasetRow) -> dict[str, object]:
    openness = m.Openness(row.openness)
    return {
        "identifier": row.identifier,
        "title": row.title,
        "description": row.description,
        "publisher": row.publisher_key,
        "publisher_name": row.publisher_name,
        "city": row.city_code,
        "themes": as_list(row.themes),
        "themes_zh": [m.THEMES[t][0] for t in as_list(row.themes) if t in m.THEMES],
        "keywords": as_list(row.keywords),
        "openness": openness.value,
        "openness_zh": m.OPENNESS_ZH[openness],
        "conditions": row.conditions,
        "formats": as_list(row.formats),
        "update_frequency": row.update_frequency,
        "update_frequency_zh": m.FREQUENCIES.get(row.update_frequency, (row.update_frequency, ""))[0],
        "records": row.records,
        "byte_size": row.byte_size,
        "contact_name": row.contact_name,
        "contact_email": row.contact_email,
        "state": row.state,
        "issued_on": row.issued_on.isoformat() if row.issued_on else None,
        "modified_at": row.modified_at.isoformat(),
        "version": row.version,
    }


def get_dataset(uow: UnitOfWork, who: Principal, identifier: str) -> dict[str, object]:
    """One entry with its distributions (and, for its managers, whether it may be edited)."""
    s = uow.session
    row = c.readable(s, who, identifier)
    out = dataset_dict(row)
    out["distributions"] = [distribution_dict(d) for d in dataset_distributions(s, row.id)]
    out["manageable"] = m.may_manage(who, row.publisher_key)
    return out


def dataset_history(uow: UnitOfWork, who: Principal, identifier: str) -> list[dict[str, object]]:
    """Every saved version, newest first (the publisher and the data bureau)."""
    row = c.managed(uow.session, who, identifier)
    rows = uow.session.execute(
        select(DatasetVersionRow)
        .where(DatasetVersionRow.dataset_id == row.id)
        .order_by(DatasetVersionRow.version.desc())
    ).scalars()
    return [
        {
            "version": v.version,
            "action": v.action,
            "at": v.at.isoformat(),
            "by": v.actor,
            "dataset": json.loads(v.snapshot),
        }
        for v in rows
    ]


def find_datasets(
    uow: UnitOfWork,
    q: str | None = None,
    filters: Filters = Filters(),  # noqa: B008 — a frozen value
    *,
    limit: int = 20,
    offset: int = 0,
) -> dict[str, object]:
    """Search (or, without ``q``, list) the published catalog, with facet counts."""
    s = uow.session
    hits = search(s, q, filters, limit=limit, offset=offset)
    rows = {r.id: r for r in s.execute(select(DatasetRow).where(DatasetRow.id.in_(hits.ids))).scalars()}
    names = hits.names
    return {
        "q": q or "",
        "total": hits.total,
        "total_exact": hits.exact,
        "datasets": [dataset_dict(rows[i]) for i in hits.ids if i in rows],
        "facets": {
            "publisher": [
                {"value": k, "name": names.get(k, k), "count": v} for k, v in hits.facets["publisher"].items()
            ],
            "theme": [
                {"value": k, "name": m.THEMES[k][0], "count": v} for k, v in hits.facets["theme"].items()
            ],
            "openness": [
                {"value": k, "name": m.OPENNESS_ZH[m.Openness(k)], "count": v}
                for k, v in hits.facets["openness"].items()
            ],
            "format": [{"value": k, "name": k, "count": v} for k, v in hits.facets["format"].items()],
        },
    }


def published_catalog(uow: UnitOfWork) -> list[dict[str, object]]:
    """Every published entry with its distributions (the exports and the DCAT-AP catalog)."""
    s = uow.session
    rows = list(
        s.execute(
            select(DatasetRow)
            .where(DatasetRow.state == m.DatasetState.PUBLISHED.value)
            .order_by(DatasetRow.publisher_key, DatasetRow.id)
        ).scalars()
    )
    dists: dict[int, list[dict[str, object]]] = {}
    for d in s.execute(select(DistributionRow).order_by(DistributionRow.id)).scalars():
        dists.setdefault(d.dataset_id, []).append(distribution_dict(d))
    return [{**dataset_dict(r), "distributions": dists.get(r.id, [])} for r in rows]


def managed_datasets(uow: UnitOfWork, who: Principal, state: str | None = None) -> list[dict[str, object]]:
    """The entries the caller manages, drafts included (a publisher's own; the data bureau's all)."""
    q = select(DatasetRow).order_by(DatasetRow.modified_at.desc(), DatasetRow.id.desc()).limit(1000)
    if not m.is_steward(who):
        key = m.own_publisher_key(who)
        if key is None:
            return []
        q = q.where(DatasetRow.publisher_key == key)
    if state:
        if state not in {x.value for x in m.DatasetState}:
            raise ValidationError(f"one of {', '.join(x.value for x in m.DatasetState)}", field="state")
        q = q.where(DatasetRow.state == state)
    return [dataset_dict(r) for r in uow.session.execute(q).scalars()]


__all__ = [
    "create_dataset",
    "dataset_dict",
    "dataset_history",
    "find_datasets",
    "get_dataset",
    "managed_datasets",
    "new_dataset_row",
    "published_catalog",
    "set_state",
    "snapshot",
    "update_dataset",
]
