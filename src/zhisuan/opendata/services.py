"""The catalog and sharing requests through the unit of work (art. 3).

Publishers (a city's users for the city, a department's members for the department) manage their own
entries, the data bureau all of them; every save keeps the previous version in the history. The public
reads published entries; anything else is *not found* to those who may not manage it. Grants, refusals
and downloads of conditional data are audited in the caller's transaction. The callers commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.clock import Clock, parse_date, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.core.ids import MAX_INT_ID
from zhisuan.core.orgs import OrgKind
from zhisuan.core.regions import city as city_of
from zhisuan.core.text import clean_name, clean_text
from zhisuan.opendata import model as m
from zhisuan.opendata.search import Filters, as_list, dump_list, search, segmented
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.opendata import (
    DatasetRow,
    DatasetVersionRow,
    DistributionRow,
    DownloadRow,
    SharingRequestRow,
)
from zhisuan.store.uow import UnitOfWork

#: organizations whose members publish as a department
PUBLISHING_KINDS = frozenset({OrgKind.GOVERNMENT.value, OrgKind.PUBLIC_INSTITUTION.value})
MAX_FILE = 50 * 1024 * 1024
#: a dataset's identifier: its publisher's division code and ten hex digits
IDENTIFIER = re.compile(r"[0-9]{6}-[0-9a-f]{10}")
MEDIA_TYPES = {
    "CSV": "text/csv",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "JSON": "application/json",
    "XML": "application/xml",
    "PDF": "application/pdf",
    "TXT": "text/plain",
    "API": "application/json",
    "SHP": "application/zip",
    "ZIP": "application/zip",
}


def fits(row_id: object) -> bool:
    return isinstance(row_id, int) and not isinstance(row_id, bool) and 1 <= row_id <= MAX_INT_ID


# publishers ---------------------------------------------------------------------------------------


def publisher_for(s: Session, who: Principal, chosen: object = None) -> m.Publisher:
    """The publisher a new entry belongs to: the caller's own, or (data bureau) the one it names."""
    if m.is_steward(who) and chosen:
        return publisher_by_key(s, str(chosen))
    key = m.own_publisher_key(who)
    if key is None:
        raise PermissionDeniedError(
            "datasets are published by a city's users, a department's members or the data bureau"
        )
    publisher = publisher_by_key(s, key)
    if key.startswith("org:"):
        org = s.get(OrganizationRow, who.org_id)
        if org is None or org.kind not in PUBLISHING_KINDS:
            raise PermissionDeniedError("only government departments and public institutions publish data")
    return publisher


def may_publish(s: Session, who: Principal) -> bool:
    """Whether the caller may register entries (the data bureau, a city's users, a department's members)."""
    if m.is_steward(who):
        return True
    try:
        publisher_for(s, who)
    except PermissionDeniedError:
        return False
    return True


def publisher_by_key(s: Session, key: str) -> m.Publisher:
    kind, _, ref = key.partition(":")
    if kind == "city":
        code = m.check_city(ref, "publisher")
        return m.city_publisher(code, f"{city_of(code).name_zh}人民政府")
    if kind == "org" and ref.isdigit() and fits(int(ref)):
        org = s.get(OrganizationRow, int(ref))
        if org is not None:
            return m.org_publisher(org.id, org.name, org.city_code)
    raise ValidationError("a publisher is city:CODE or org:ID of a known organization", field="publisher")


# datasets -----------------------------------------------------------------------------------------


def _row(s: Session, identifier: str) -> DatasetRow | None:
    if not IDENTIFIER.fullmatch(str(identifier)):
        return None  # not an identifier this catalog gives: nothing to look up
    return s.execute(select(DatasetRow).where(DatasetRow.identifier == identifier)).scalar_one_or_none()


def _readable(s: Session, who: Principal, identifier: str) -> DatasetRow:
    row = _row(s, str(identifier)[:64])
    if row is None or (
        row.state != m.DatasetState.PUBLISHED.value and not m.may_manage(who, row.publisher_key)
    ):
        raise NotFoundError("no such dataset", field="dataset")
    return row


def _managed(s: Session, who: Principal, identifier: str) -> DatasetRow:
    row = _readable(s, who, identifier)
    if not m.may_manage(who, row.publisher_key):
        raise PermissionDeniedError("only the dataset's publisher or the data bureau changes it")
    return row


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
    row = _managed(uow.session, who, identifier)
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
    row = _managed(uow.session, who, identifier)
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
    row = _readable(s, who, identifier)
    out = dataset_dict(row)
    out["distributions"] = [distribution_dict(d) for d in _distributions(s, row.id)]
    out["manageable"] = m.may_manage(who, row.publisher_key)
    return out


def dataset_history(uow: UnitOfWork, who: Principal, identifier: str) -> list[dict[str, object]]:
    """Every saved version, newest first (the publisher and the data bureau)."""
    row = _managed(uow.session, who, identifier)
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


# distributions and downloads ----------------------------------------------------------------------


def _distributions(s: Session, dataset_id: int) -> Sequence[DistributionRow]:
    return list(
        s.execute(
            select(DistributionRow)
            .where(DistributionRow.dataset_id == dataset_id)
            .order_by(DistributionRow.id)
        ).scalars()
    )


def distribution_dict(d: DistributionRow) -> dict[str, object]:
    return {
        "id": d.id,
        "title": d.title,
        "format": d.format,
        "media_type": d.media_type,
        "access_url": d.access_url,
        "byte_size": d.byte_size,
        "file": d.sha256 is not None,
    }


def file_path(root: Path, sha256: str) -> Path:
    return root / "opendata" / sha256[:2] / sha256


def add_distribution(
    uow: UnitOfWork,
    who: Principal,
    clock: Clock,
    root: Path,
    identifier: str,
    data: Mapping[str, Any],
    content: bytes | None = None,
) -> dict[str, object]:
    """A file (stored once by SHA-256) or a link by which the dataset is had."""
    row = _managed(uow.session, who, identifier)
    fmt = str(data.get("format") or "").upper()
    if fmt not in m.FORMATS:
        raise ValidationError(f"one of {', '.join(m.FORMATS)}", field="format")
    title = clean_name(str(data.get("title") or row.title), "title", max_length=200)
    url = data.get("access_url")
    if (content is None) == (not url):
        raise ValidationError("give either a file or an access_url", field="access_url")
    dist = DistributionRow(
        dataset_id=row.id, title=title, format=fmt, media_type=MEDIA_TYPES[fmt], created_at=clock.now()
    )
    if content is not None:
        if len(content) > MAX_FILE:
            raise ValidationError(f"a file is at most {MAX_FILE // 1024 // 1024} MiB", field="file")
        digest = hashlib.sha256(content).hexdigest()
        path = file_path(root, digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        dist.sha256, dist.byte_size = digest, len(content)
    else:
        text_url = clean_name(str(url), "access_url", max_length=500)
        if not text_url.startswith(("https://", "http://")):
            raise ValidationError("an http(s) address", field="access_url")
        dist.access_url = text_url
    uow.session.add(dist)
    uow.session.flush()
    return distribution_dict(dist)


def active_grant(s: Session, who: Principal, dataset_id: int, today: dt.date) -> SharingRequestRow | None:
    """The caller's organization's grant for a dataset that is in force today, if any."""
    if who.org_id is None:
        return None
    rows = s.execute(
        select(SharingRequestRow).where(
            SharingRequestRow.dataset_id == dataset_id,
            SharingRequestRow.org_id == who.org_id,
            SharingRequestRow.state == m.RequestState.GRANTED.value,
        )
    ).scalars()
    for r in rows:
        if m.request_state(r.state, r.expires_on, today) is m.RequestState.GRANTED:
            return r
    return None


def download(
    uow: UnitOfWork, who: Principal, clock: Clock, root: Path, distribution_id: int
) -> tuple[DistributionRow, bytes | None]:
    """A distribution's file (or its link): unconditional data for anyone; conditional data only under
    an active grant of the caller's organization (its publisher and the data bureau always). Every
    download is recorded; a conditional one is audited with its grant."""
    now = clock.now()
    s = uow.session
    dist = s.get(DistributionRow, distribution_id) if fits(distribution_id) else None
    if dist is None:
        raise NotFoundError("no such distribution", field="distribution")
    row = s.get(DatasetRow, dist.dataset_id)
    if row is None or (
        row.state != m.DatasetState.PUBLISHED.value and not m.may_manage(who, row.publisher_key)
    ):
        raise NotFoundError("no such distribution", field="distribution")
    openness = m.Openness(row.openness)
    grant: SharingRequestRow | None = None
    if not m.may_manage(who, row.publisher_key):
        if openness is m.Openness.NOT_OPEN:
            raise PermissionDeniedError("this dataset is not open; it is listed, not shared")
        if openness is m.Openness.CONDITIONAL:
            if not who.authenticated:
                raise PermissionDeniedError(
                    "conditional data: log in as a member of an organization with a grant"
                )
            grant = active_grant(s, who, row.id, shanghai_date(now))
            if grant is None:
                raise PermissionDeniedError(
                    "conditional data: your organization needs a grant in force; request one on the "
                    "dataset's page"
                )
    s.add(
        DownloadRow(
            dataset_id=row.id,
            distribution_id=dist.id,
            request_id=grant.id if grant else None,
            org_id=who.org_id,
            username=who.username,
            at=now,
        )
    )
    if openness is not m.Openness.UNCONDITIONAL:
        audit.record(
            uow,
            now,
            who.username,
            "dataset.download",
            f"dataset:{row.identifier}",
            {"distribution": dist.id, "grant": grant.id if grant else None},
        )
    content = file_path(root, dist.sha256).read_bytes() if dist.sha256 else None
    return dist, content


# sharing requests ---------------------------------------------------------------------------------


def request_access(
    uow: UnitOfWork, who: Principal, clock: Clock, identifier: str, purpose: object
) -> dict[str, object]:
    """An in-province organization asks for a conditional dataset, stating its purpose."""
    now = clock.now()
    s = uow.session
    row = _readable(s, who, identifier)
    if who.role not in {Role.USER, Role.ORG_ADMIN} or who.org_id is None:
        raise PermissionDeniedError("sharing requests are made by an organization's members")
    org = s.get(OrganizationRow, who.org_id)
    if org is None or not org.in_province:
        raise PermissionDeniedError("sharing is for organizations registered in Anhui (art. 3)")
    if row.openness != m.Openness.CONDITIONAL.value or row.state != m.DatasetState.PUBLISHED.value:
        raise ConflictError("requests are made for published conditional datasets", field="dataset")
    text = clean_text(str(purpose or "").strip(), "purpose", max_length=4000)
    if len(text) < 4:
        raise ValidationError("state the purpose the data is for", field="purpose")
    pending = s.execute(
        select(SharingRequestRow.id).where(
            SharingRequestRow.dataset_id == row.id,
            SharingRequestRow.org_id == org.id,
            SharingRequestRow.state == m.RequestState.PENDING.value,
        )
    ).first()
    if pending is not None:
        raise ConflictError(
            "your organization already has a request waiting for this dataset", field="dataset"
        )
    req = SharingRequestRow(
        dataset_id=row.id,
        org_id=org.id,
        purpose=text,
        state=m.RequestState.PENDING.value,
        requested_by=who.username,
        requested_at=now,
    )
    s.add(req)
    s.flush()
    audit.record(
        uow, now, who.username, "sharing.request", f"sharing_request:{req.id}", {"dataset": row.identifier}
    )
    return request_dict(s, req, shanghai_date(now))


def answer_request(
    uow: UnitOfWork, who: Principal, clock: Clock, request_id: int, data: Mapping[str, Any]
) -> dict[str, object]:
    """The publisher or the data bureau grants (conditions, last day) or refuses (reason) a request."""
    now = clock.now()
    today = shanghai_date(now)
    s = uow.session
    req = _visible_request(s, who, request_id)
    dataset = s.get(DatasetRow, req.dataset_id)
    assert dataset is not None
    if not m.may_manage(who, dataset.publisher_key):
        raise PermissionDeniedError("the dataset's publisher or the data bureau answers requests")
    if req.state != m.RequestState.PENDING.value:
        raise ConflictError(f"the request was already {req.state}", field="state")
    action = data.get("action")
    if action == "grant":
        expires = data.get("expires_on")
        if not isinstance(expires, str | dt.date):
            raise ValidationError("a grant has a last day, YYYY-MM-DD", field="expires_on")
        last = expires if isinstance(expires, dt.date) else parse_date(expires, "expires_on")
        if last < today:
            raise ValidationError("the last day cannot be in the past", field="expires_on")
        req.state, req.expires_on = m.RequestState.GRANTED.value, last
        req.grant_conditions = clean_text(
            str(data.get("conditions") or "").strip(), "conditions", max_length=4000
        )
        if not req.grant_conditions:
            raise ValidationError("state the conditions of use", field="conditions")
    elif action == "refuse":
        reason = clean_text(str(data.get("reason") or "").strip(), "reason", max_length=4000)
        if not reason:
            raise ValidationError("a refusal gives its reason", field="reason")
        req.state, req.refusal_reason = m.RequestState.REFUSED.value, reason
    else:
        raise ValidationError("grant or refuse", field="action")
    req.answered_by, req.answered_at = who.username, now
    s.flush()
    audit.record(
        uow,
        now,
        who.username,
        f"sharing.{action}",
        f"sharing_request:{req.id}",
        {
            "dataset": dataset.identifier,
            "org": req.org_id,
            "expires_on": req.expires_on.isoformat() if req.expires_on else None,
            "conditions": req.grant_conditions,
            "reason": req.refusal_reason,
        },
    )
    return request_dict(s, req, today)


def _visible_request(s: Session, who: Principal, request_id: int) -> SharingRequestRow:
    req = s.get(SharingRequestRow, request_id) if fits(request_id) else None
    if req is not None:
        dataset = s.get(DatasetRow, req.dataset_id)
        if dataset is not None and (
            m.may_manage(who, dataset.publisher_key) or (who.org_id is not None and who.org_id == req.org_id)
        ):
            return req
    raise NotFoundError("no such request", field="request")


def request_dict(s: Session, req: SharingRequestRow, today: dt.date) -> dict[str, object]:
    dataset = s.get(DatasetRow, req.dataset_id)
    org = s.get(OrganizationRow, req.org_id)
    state = m.request_state(req.state, req.expires_on, today)
    hours = (req.answered_at - req.requested_at).total_seconds() / 3600 if req.answered_at else None
    return {
        "id": req.id,
        "dataset": dataset.identifier if dataset else None,
        "dataset_title": dataset.title if dataset else None,
        "publisher": dataset.publisher_key if dataset else None,
        "org_id": req.org_id,
        "org_name": org.name if org else None,
        "purpose": req.purpose,
        "state": state.value,
        "state_zh": m.REQUEST_ZH[state],
        "requested_by": req.requested_by,
        "requested_at": req.requested_at.isoformat(),
        "answered_by": req.answered_by,
        "answered_at": req.answered_at.isoformat() if req.answered_at else None,
        "hours_to_answer": round(hours, 1) if hours is not None else None,
        "conditions": req.grant_conditions,
        "expires_on": req.expires_on.isoformat() if req.expires_on else None,
        "refusal_reason": req.refusal_reason,
    }


def get_request(uow: UnitOfWork, who: Principal, clock: Clock, request_id: int) -> dict[str, object]:
    return request_dict(
        uow.session, _visible_request(uow.session, who, request_id), shanghai_date(clock.now())
    )


def list_requests(
    uow: UnitOfWork, who: Principal, clock: Clock, state: str | None = None
) -> list[dict[str, object]]:
    """Requests the caller sees: its organization's, those for its publisher's datasets, or (data
    bureau) all; ``state`` filters (``expired`` is a granted request past its last day)."""
    if not who.authenticated:
        require_role(who, Role.DATA_BUREAU)
    s = uow.session
    q = select(SharingRequestRow).order_by(SharingRequestRow.requested_at.desc(), SharingRequestRow.id.desc())
    if not m.is_steward(who):
        key = m.own_publisher_key(who)
        mine = SharingRequestRow.org_id == who.org_id if who.org_id is not None else None
        theirs = (
            SharingRequestRow.dataset_id.in_(select(DatasetRow.id).where(DatasetRow.publisher_key == key))
            if key
            else None
        )
        conds = [c for c in (mine, theirs) if c is not None]
        if not conds:
            return []
        q = q.where(conds[0] if len(conds) == 1 else conds[0] | conds[1])
    today = shanghai_date(clock.now())
    out = [request_dict(s, r, today) for r in s.execute(q.limit(1000)).scalars()]
    return [r for r in out if state is None or r["state"] == state]


__all__ = [
    "MAX_FILE",
    "PUBLISHING_KINDS",
    "active_grant",
    "add_distribution",
    "answer_request",
    "create_dataset",
    "dataset_dict",
    "dataset_history",
    "distribution_dict",
    "download",
    "file_path",
    "find_datasets",
    "get_dataset",
    "get_request",
    "list_requests",
    "managed_datasets",
    "may_publish",
    "new_dataset_row",
    "published_catalog",
    "publisher_by_key",
    "publisher_for",
    "request_access",
    "set_state",
    "snapshot",
    "update_dataset",
]
