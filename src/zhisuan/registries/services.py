"""Every registry through one service layer: list, filter, sort and page; add and change with an audit;
import a CSV or Excel file (all rows or none); export with Chinese headers.

Who may see what: a public registry is read by everybody; the others by staff, the entry's city and the
organization it names. Who may write: the province and administrators everywhere, a city official only
its own city's entries (``core.access``, kind ``registry``). A missing entry and one the caller may not
read are the same 404.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.core.access import Action, Kind, Principal, Resource, Role, authorize, can, visible_scope
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.errors import NotFoundError, PermissionDeniedError, ValidationError, ZhisuanError
from zhisuan.core.ids import MAX_INT_ID
from zhisuan.policy import PackSet, evaluate, fen_text, parameters
from zhisuan.registries import rules, tabular
from zhisuan.registries.spec import COLUMNS, RegistrySpec, parse_entry, parse_value, show_value
from zhisuan.registries.specs import SPECS
from zhisuan.store.models.awards import ApplicationRow, CityPayoutRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.registries import RegistryEntryRow
from zhisuan.store.uow import UnitOfWork

MAX_LIMIT = 1000
#: awards' states in which an application's money is granted (one award per standard counts these)
GRANTED = ("approved", "paid")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def spec_of(name: str) -> RegistrySpec:
    """The registry called ``name``, or a 404 naming the ten."""
    found = SPECS.get(name)
    if found is None:
        raise NotFoundError(f"no registry {name!r} (registries: {', '.join(SPECS)})", field="registry")
    return found


def registries(lang: str = "zh") -> list[dict[str, object]]:
    """The registries and their fields (public)."""
    return [s.describe(lang) for s in SPECS.values()]


def _resource(row: RegistryEntryRow) -> Resource:
    return Resource(Kind.REGISTRY, org_id=row.org_id, city_code=row.city_code)  # type: ignore[arg-type]


def _fits(entry_id: object) -> bool:
    return isinstance(entry_id, int) and not isinstance(entry_id, bool) and 1 <= entry_id <= MAX_INT_ID


def stored(row: RegistryEntryRow) -> dict[str, Any]:
    """An entry's values as stored (money in fen), the columns included."""
    values: dict[str, Any] = json.loads(row.data)
    values["title"] = row.title
    values["city"] = row.city_code
    values["org_id"] = row.org_id
    values["parent_id"] = row.parent_id
    return values


def _in_scope(who: Principal, row: RegistryEntryRow) -> bool:
    return can(who, Action.READ, _resource(row))


def _get(uow: UnitOfWork, who: Principal, spec: RegistrySpec, entry_id: int) -> RegistryEntryRow:
    row = uow.session.get(RegistryEntryRow, entry_id) if _fits(entry_id) else None
    if row is None or row.registry_name != spec.name or not (spec.public or _in_scope(who, row)):
        raise NotFoundError(f"no such entry in {spec.name}", field="entry_id")
    return row


def entries(uow: UnitOfWork, name: str) -> list[tuple[int, dict[str, Any]]]:
    """Every entry of a registry with its stored values, unscoped (for read models that scope themselves)."""
    rows = uow.session.execute(
        select(RegistryEntryRow).where(RegistryEntryRow.registry_name == name).order_by(RegistryEntryRow.id)
    ).scalars()
    return [(r.id, stored(r)) for r in rows]


def key_enterprise_orgs(uow: UnitOfWork, on: dt.date) -> frozenset[int]:
    """The platform organizations of the key enterprises introduced by ``on`` (art. 8's registry)."""
    rows = uow.session.execute(
        select(RegistryEntryRow.org_id, RegistryEntryRow.data).where(
            RegistryEntryRow.registry_name == "enterprises", RegistryEntryRow.org_id.is_not(None)
        )
    ).all()
    out = set()
    for org_id, data in rows:
        introduced = json.loads(data).get("introduced_on")
        if org_id is not None and isinstance(introduced, str) and dt.date.fromisoformat(introduced) <= on:
            out.add(org_id)
    return frozenset(out)


def stored_entry(uow: UnitOfWork, name: str, entry_id: int) -> dict[str, Any]:
    """One entry's stored values, unscoped: for callers that have authorized the read (get_entry)."""
    row = uow.session.get(RegistryEntryRow, entry_id) if _fits(entry_id) else None
    if row is None or row.registry_name != name:
        raise NotFoundError(f"no such entry in {name}", field="entry_id")
    return stored(row)


# derived figures ----------------------------------------------------------------------------------


#: the awards programs each registry's entries may be granted under (their project ref names the entry)
AWARDED_UNDER = {
    "standards": ("art14",),
    "scenarios": ("art6", "anhui-2025/art2"),  # benchmark cases: the rounds of ten at most
}


def awarded(s: Session, registry: str, project_ref: object) -> int:
    """What the awards workflow granted (approved or paid) for an entry whose number is the application's
    project ref, under the programs of its registry, fen."""
    if not project_ref:
        return 0
    q = select(func.coalesce(func.sum(ApplicationRow.approved_fen), 0)).where(
        ApplicationRow.program.in_(AWARDED_UNDER[registry]),
        ApplicationRow.project_ref == str(project_ref),
        ApplicationRow.state.in_(GRANTED),
    )
    return int(s.execute(q).scalar_one() or 0)


def city_payouts(s: Session, city: object, project_ref: object) -> int:
    """What the introducing city recorded as paid to the firm's key-technology project under art. 8 (the
    base of the province's match in the awards workflow), fen."""
    if not project_ref:
        return 0
    q = select(func.coalesce(func.sum(CityPayoutRow.amount_fen), 0)).where(
        CityPayoutRow.program.like("%art8"),
        CityPayoutRow.city_code == str(city),
        CityPayoutRow.project_ref == str(project_ref),
    )
    return int(s.execute(q).scalar_one() or 0)


def _sub_funds(s: Session, fund_id: int) -> list[RegistryEntryRow]:
    q = select(RegistryEntryRow).where(
        RegistryEntryRow.registry_name == "funds", RegistryEntryRow.parent_id == fund_id
    )
    return list(s.execute(q.order_by(RegistryEntryRow.id)).scalars())


def _fund_figures(
    s: Session, packs: PackSet, row: RegistryEntryRow, values: Mapping[str, Any]
) -> dict[str, object]:
    if values.get("level") != "theme":
        parent = s.get(RegistryEntryRow, row.parent_id) if row.parent_id else None
        return {"parent": parent.title if parent is not None else None}
    subs = _sub_funds(s, row.id)
    committed = int(values.get("committed") or 0)
    tracked = committed + sum(int(json.loads(r.data).get("committed") or 0) for r in subs)
    out: dict[str, object] = {
        "sub_funds": [
            {
                "id": r.id,
                "title": r.title,
                "committed": fen_text(int(json.loads(r.data).get("committed") or 0)),
            }
            for r in subs
        ],
        "tracked_scale": fen_text(tracked),
    }
    # the pack's minimum operating scale, as in force when the theme fund was set up
    params = parameters(packs, "art13", str(values["established_on"])) or {}
    minimum = params.get("theme_fund_min_scale")
    if isinstance(minimum, Fraction):
        min_fen = int(minimum * 100)
        out["minimum_scale"] = fen_text(min_fen)
        out["scale_reached"] = tracked >= min_fen
    return out


def derived(
    s: Session,
    packs: PackSet,
    spec: RegistrySpec,
    row: RegistryEntryRow,
    values: Mapping[str, Any],
    today: dt.date,
) -> dict[str, object]:
    """What a registry computes of an entry: a park's share, a fund's scale, a standard's award."""
    if spec.name == "parks":
        share = rules.park_share(packs, values)
        return {
            "share": share.percent(),
            "above_threshold": share.above,
            "in_force": share.in_force,
            "share_reason": share.reason,
            "share_reason_zh": share.reason_zh,
        }
    if spec.name == "funds":
        return _fund_figures(s, packs, row, values)
    if spec.name == "competitions":
        return {"support_total": fen_text(rules.competition_support(values))}
    if spec.name == "enterprises":
        return {"city_payouts": fen_text(city_payouts(s, values.get("city"), values.get("project_ref")))}
    if spec.name == "standards":
        granted = awarded(s, "standards", values.get("standard_no"))
        return {"awarded": bool(granted), "awarded_amount": fen_text(granted) if granted else None}
    if spec.name == "scenarios" and values.get("kind") == "benchmark":
        granted = awarded(s, "scenarios", values.get("project_ref"))
        return {"awarded": bool(granted), "awarded_amount": fen_text(granted) if granted else None}
    return {}


def entry_dict(
    s: Session, packs: PackSet, spec: RegistrySpec, who: Principal, row: RegistryEntryRow, today: dt.date
) -> dict[str, object]:
    values = stored(row)
    full = _in_scope(who, row)
    out: dict[str, object] = {"id": row.id, "registry": spec.name}
    for f in spec.fields:
        if f.public or full:
            out[f.name] = show_value(f, values.get(f.name))
    out.update(derived(s, packs, spec, row, values, today))
    out.update(
        version=row.version,
        updated_by=row.updated_by if full else None,
        updated_at=row.updated_at.isoformat(),
    )
    return out


# listing -----------------------------------------------------------------------------------------


def _scoped(spec: RegistrySpec, who: Principal) -> Any:
    q = select(RegistryEntryRow).where(RegistryEntryRow.registry_name == spec.name)
    if spec.public:
        return q
    scope = visible_scope(who, Kind.REGISTRY)
    if scope.nothing:
        return None
    if scope.everything:
        return q
    if scope.city_code is not None:
        return q.where(RegistryEntryRow.city_code == scope.city_code)
    return q.where(RegistryEntryRow.org_id.in_(scope.org_ids))


def _chosen(
    uow: UnitOfWork, spec: RegistrySpec, who: Principal, filters: Mapping[str, str] | None, q: str | None
) -> list[tuple[RegistryEntryRow, dict[str, Any]]]:
    """The entries the caller may see whose fields equal ``filters`` and whose title contains ``q``."""
    wanted = {k: parse_value(spec.field(k), v) for k, v in (filters or {}).items() if v not in ("", None)}
    query = _scoped(spec, who)
    rows: Iterable[RegistryEntryRow] = (
        () if query is None else uow.session.execute(query.order_by(RegistryEntryRow.id)).scalars()
    )
    needle = (q or "").strip().lower()
    return [
        (r, v)
        for r, v in ((r, stored(r)) for r in rows)
        if all(v.get(k) == want for k, want in wanted.items()) and needle in r.title.lower()
    ]


def _ordered(
    items: list[tuple[RegistryEntryRow, dict[str, Any]]], field: str, descending: bool
) -> list[tuple[RegistryEntryRow, dict[str, Any]]]:
    """Sorted by ``field`` (entries without a value last, whichever the direction; ties by id)."""

    def value(item: tuple[RegistryEntryRow, dict[str, Any]]) -> Any:
        return item[0].id if field == "id" else item[1].get(field)

    present = sorted((i for i in items if value(i) is not None), key=value, reverse=descending)
    return present + [i for i in items if value(i) is None]


def list_entries(
    uow: UnitOfWork,
    who: Principal,
    packs: PackSet,
    now: dt.datetime,
    name: str,
    *,
    filters: Mapping[str, str] | None = None,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, object]:
    """One page of a registry's entries the caller may see: filtered by fields, searched in titles, sorted."""
    spec = spec_of(name)
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ValidationError(f"limit is 1 to {MAX_LIMIT}, offset at least 0", field="limit")
    order = sort or spec.order
    field = order.removeprefix("-")
    if field != "id":
        spec.field(field)
    ordered = _ordered(_chosen(uow, spec, who, filters, q), field, order.startswith("-"))
    today = shanghai_date(now)
    page = ordered[offset : offset + limit]
    return {
        "registry": spec.describe(),
        "total": len(ordered),
        "limit": limit,
        "offset": offset,
        "entries": [entry_dict(uow.session, packs, spec, who, r, today) for r, _ in page],
    }


def get_entry(
    uow: UnitOfWork, who: Principal, packs: PackSet, now: dt.datetime, name: str, entry_id: int
) -> dict[str, object]:
    spec = spec_of(name)
    return entry_dict(uow.session, packs, spec, who, _get(uow, who, spec, entry_id), shanghai_date(now))


# writing -----------------------------------------------------------------------------------------


def _checker(
    uow: UnitOfWork, who: Principal, packs: PackSet, spec: RegistrySpec
) -> Callable[[Mapping[str, object]], None]:
    """Every rule an entry's values must meet before it is written, and the caller's right to write it."""

    def check(values: Mapping[str, object]) -> None:
        rules.check(spec.name, values)
        if spec.name == "competitions":
            rules.check_competition(packs, values)
        parent = values.get("parent_id")
        if parent is not None:
            row = uow.session.get(RegistryEntryRow, parent)
            if row is None or row.registry_name != spec.name or json.loads(row.data).get("level") != "theme":
                raise ValidationError(f"no theme fund {parent} in {spec.name}", field="parent_id")
        org = values.get("org_id")
        if org is not None and uow.session.get(OrganizationRow, org) is None:
            raise ValidationError(f"no organization {org}", field="org_id")
        _authorize_write(who, spec, Resource(Kind.REGISTRY, org_id=org, city_code=values.get("city")))  # type: ignore[arg-type]

    return check


def _authorize_write(who: Principal, spec: RegistrySpec, res: Resource) -> None:
    """Raise unless ``who`` may write ``res``: a public registry's entry is readable, so refusing it is a
    403; a private one outside the caller's scope is not found."""
    if spec.public and who.authenticated and not can(who, Action.WRITE, res):
        raise PermissionDeniedError(
            f"role {who.role} may not write this {spec.name} entry (a city official writes its own city's)"
        )
    authorize(who, Action.WRITE, res)


def _with_city(who: Principal, raw: Mapping[str, object]) -> dict[str, object]:
    """A city official's new entry is in its own city unless it says otherwise."""
    out = dict(raw)
    if who.role is Role.CITY and who.city_code and out.get("city") in (None, ""):
        out["city"] = who.city_code
    return out


def _split(values: Mapping[str, object]) -> tuple[dict[str, object], str]:
    data = {k: v for k, v in values.items() if k not in COLUMNS}
    return data, json.dumps(data, ensure_ascii=False, sort_keys=True)


def _write(row: RegistryEntryRow, values: Mapping[str, object], who: Principal, now: dt.datetime) -> None:
    _, row.data = _split(values)
    row.title = str(values["title"])
    row.city_code = values.get("city")  # type: ignore[assignment]
    row.org_id = values.get("org_id")  # type: ignore[assignment]
    row.parent_id = values.get("parent_id")  # type: ignore[assignment]
    row.updated_by = who.username
    row.updated_at = now


def _add(
    uow: UnitOfWork, who: Principal, spec: RegistrySpec, values: Mapping[str, object], now: dt.datetime
) -> RegistryEntryRow:
    row = RegistryEntryRow(registry_name=spec.name, version=1, created_by=who.username, created_at=now)
    _write(row, values, who, now)
    uow.session.add(row)
    uow.session.flush()
    audit.record(uow, now, who.username, "registry.create", f"{spec.name}:{row.id}", {"values": dict(values)})
    return row


def _change(
    uow: UnitOfWork,
    who: Principal,
    spec: RegistrySpec,
    row: RegistryEntryRow,
    values: Mapping[str, object],
    now: dt.datetime,
) -> bool:
    """Write the values that differ (audited, version counted up); False when nothing did."""
    before = stored(row)
    changed = {k: {"from": before.get(k), "to": v} for k, v in values.items() if before.get(k) != v}
    if not changed:
        return False
    _write(row, values, who, now)
    row.version += 1
    audit.record(uow, now, who.username, "registry.update", f"{spec.name}:{row.id}", {"changed": changed})
    return True


def create_entry(
    uow: UnitOfWork, who: Principal, packs: PackSet, clock: Clock, name: str, raw: Mapping[str, object]
) -> dict[str, object]:
    """Add an entry (province, administrators, or a city official in its own city); audited."""
    spec = spec_of(name)
    values = parse_entry(spec, _with_city(who, raw))
    _checker(uow, who, packs, spec)(values)
    row = _add(uow, who, spec, values, clock.now())
    return entry_dict(uow.session, packs, spec, who, row, shanghai_date(clock.now()))


def update_entry(
    uow: UnitOfWork,
    who: Principal,
    packs: PackSet,
    clock: Clock,
    name: str,
    entry_id: int,
    raw: Mapping[str, object],
    *,
    version: int | None = None,
) -> dict[str, object]:
    """Change some fields of an entry the caller may write (and may write after the change); audited."""
    spec = spec_of(name)
    row = _get(uow, who, spec, entry_id)
    _authorize_write(who, spec, _resource(row))
    if version is not None and version != row.version:
        raise ValidationError(
            f"the entry changed meanwhile (version {row.version}); reload it", field="version"
        )
    values = parse_entry(spec, raw, current=stored(row))
    _checker(uow, who, packs, spec)(values)
    _change(uow, who, spec, row, values, clock.now())
    return entry_dict(uow.session, packs, spec, who, row, shanghai_date(clock.now()))


def import_file(
    uow: UnitOfWork, who: Principal, packs: PackSet, clock: Clock, name: str, data: bytes
) -> dict[str, object]:
    """Add (or, with an ``id`` column, change) entries from a CSV or Excel file: every row is checked
    first and a bad one names its line and column; then all are written, or none. ``updated`` counts
    the entries that really changed."""
    spec = spec_of(name)
    rows = tabular.read_rows(spec, data, frozenset({"city"}) if who.role is Role.CITY else frozenset())
    check = _checker(uow, who, packs, spec)
    targets: dict[int, RegistryEntryRow] = {}
    for row in rows:
        if row.entry_id is not None:
            try:
                found = _get(uow, who, spec, row.entry_id)
                _authorize_write(who, spec, _resource(found))
            except ZhisuanError as exc:
                raise ValidationError(exc.message, row=row.line, column="id") from None
            targets[row.line] = found
    checked = tabular.check_rows(spec, rows, check, lambda v: _with_city(who, v))
    now = clock.now()
    created = updated = 0
    for row, values in checked:
        if row.line in targets:
            updated += _change(uow, who, spec, targets[row.line], values, now)
        else:
            _add(uow, who, spec, values, now)
            created += 1
    audit.record(
        uow, now, who.username, "registry.import", spec.name, {"created": created, "updated": updated}
    )
    return {"registry": spec.name, "created": created, "updated": updated}


def export(
    uow: UnitOfWork,
    who: Principal,
    now: dt.datetime,
    name: str,
    fmt: str = "xlsx",
    filters: Mapping[str, str] | None = None,
) -> tuple[str, str, bytes]:
    """(file name, content type, bytes): the entries the caller may see, with Chinese headers."""
    spec = spec_of(name)
    if fmt not in {"csv", "xlsx"}:
        raise ValidationError("export as csv or xlsx", field="format")
    chosen = [
        {"id": r.id, "stored": _visible(spec, who, r)} for r, _ in _chosen(uow, spec, who, filters, None)
    ]
    day = shanghai_date(now).isoformat()
    if fmt == "csv":
        return f"{spec.name}-{day}.csv", "text/csv; charset=utf-8", tabular.to_csv(spec, chosen)
    return f"{spec.name}-{day}.xlsx", XLSX, tabular.to_xlsx(spec, chosen)


def _visible(spec: RegistrySpec, who: Principal, row: RegistryEntryRow) -> dict[str, object]:
    values = stored(row)
    if _in_scope(who, row):
        return values
    return {f.name: values.get(f.name) for f in spec.fields if f.public}


# standards: one award per standard (art. 14) ------------------------------------------------------


def standard_award_check(
    uow: UnitOfWork, who: Principal, packs: PackSet, now: dt.datetime, entry_id: int
) -> dict[str, object]:
    """What art. 14 allows for a standard in the registry now, with "already awarded" fed from the
    awards workflow (its granted applications on the standard's number)."""
    spec = spec_of("standards")
    row = _get(uow, who, spec, entry_id)
    values = stored(row)
    granted = awarded(uow.session, "standards", values.get("standard_no"))
    today = shanghai_date(now)
    published = dt.date.fromisoformat(str(values["published_on"]))
    decision = evaluate("art14", rules.standard_facts(values, bool(granted), today), published, packs)
    return {
        "id": row.id,
        "standard_no": values.get("standard_no"),
        "in_force": decision.in_force,
        "already_awarded": bool(granted),
        "eligible": decision.eligible,
        "amount": decision.amount_text,
        "reasons": [r.text() for r in decision.reasons],
    }


__all__ = [
    "awarded",
    "create_entry",
    "entries",
    "entry_dict",
    "export",
    "get_entry",
    "import_file",
    "list_entries",
    "registries",
    "spec_of",
    "standard_award_check",
    "stored",
    "stored_entry",
    "update_entry",
]
