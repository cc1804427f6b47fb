"""Data suppliers (art. 4): the registry of in-province collection, cleaning and labelling vendors,
their annual data-transaction amounts with evidence, each city's ratio (the parameter of the city's
art. 4 program), the city subsidy the policy engine computes, its payment through the awards workflow,
and the province's performance reward to cities from their recorded payouts (a parameter table).

The subsidy is never computed here: :func:`subsidy` hands the recorded figures to the engine's art. 4,
and :func:`apply_for_subsidy` files them as an art. 4 application in an open call, so review, public
notice, the city's budget and payment are the awards workflow's own.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from zhisuan import audit
from zhisuan.awards import applications
from zhisuan.awards import evidence as files
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.credit_code import validate_credit_code
from zhisuan.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.core.money import Money
from zhisuan.core.regions import city as city_of
from zhisuan.core.text import clean_name
from zhisuan.opendata._common import fits
from zhisuan.opendata.model import check_city, is_steward
from zhisuan.policy import Decision, FactError, PackSet, check_fact, evaluate, fen_text
from zhisuan.store.models.awards import CityPayoutRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.opendata import CityRatioRow, RewardTierRow, SupplierRow, SupplierTransactionRow
from zhisuan.store.uow import UnitOfWork

MAX_FEN = 10**17  # 10^15 yuan: the largest amount a person may type (as awards)
SERVICES = {"collection": "数据采集", "cleaning": "数据清洗", "labelling": "数据标注"}
PROGRAM = "art4"


def _may_keep(who: Principal, city_code: str) -> bool:
    """The data bureau keeps every city's registry; a city's users their own city's."""
    return is_steward(who) or (who.role is Role.CITY and who.city_code == city_code)


def _year(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip().isdigit():
        raise ValidationError("a year such as 2024", field="year")
    year = int(str(raw).strip())
    if not 2000 <= year <= 2100:
        raise ValidationError("a year such as 2024", field="year")
    return year


def check_services(raw: object) -> list[str]:
    if isinstance(raw, str):
        raw = [p for p in raw.replace("，", ",").replace("、", ",").split(",") if p.strip()]
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationError(f"one or more of {', '.join(SERVICES)}", field="services")
    by_zh = {zh: code for code, zh in SERVICES.items()}
    out = []
    for item in raw:
        code = by_zh.get(str(item).strip(), str(item).strip())
        if code not in SERVICES:
            raise ValidationError(f"{item!r} is not one of {', '.join(SERVICES)}", field="services")
        out.append(code)
    return sorted(set(out))


def supplier_row(s: Any, who: Principal, data: Mapping[str, Any], now: dt.datetime) -> SupplierRow:
    """A checked, unsaved registry entry (the import checks every row before saving any)."""
    city = check_city(data.get("city"), "city")
    if not _may_keep(who, city):
        raise PermissionDeniedError("suppliers are registered by their city's users or the data bureau")
    code = validate_credit_code(str(data.get("credit_code") or "").strip().upper())
    org = s.execute(select(OrganizationRow).where(OrganizationRow.credit_code == code)).scalar_one_or_none()
    in_province = data.get("in_province")
    if isinstance(in_province, str):
        in_province = in_province.strip().lower() in {"true", "yes", "1", "是"}
    if in_province is None and org is not None:
        in_province = org.in_province
    return SupplierRow(
        org_id=org.id if org else None,
        name=clean_name(str(data.get("name") or ""), "name", max_length=200) or _missing("name"),
        credit_code=code,
        city_code=city,
        services=json.dumps(check_services(data.get("services"))),
        in_province=bool(in_province),
        registered_by=who.username,
        registered_at=now,
    )


def _missing(field: str) -> str:
    raise ValidationError("is required", field=field)


def register_supplier(
    uow: UnitOfWork, who: Principal, clock: Clock, data: Mapping[str, Any]
) -> dict[str, object]:
    """Register a supplier (its city's users or the data bureau), linked to its org by credit code."""
    now = clock.now()
    row = supplier_row(uow.session, who, data, now)
    if uow.session.execute(select(SupplierRow.id).where(SupplierRow.credit_code == row.credit_code)).first():
        raise ConflictError("a supplier with this credit code is registered", field="credit_code")
    uow.session.add(row)
    uow.session.flush()
    audit.record(
        uow,
        now,
        who.username,
        "supplier.register",
        f"supplier:{row.id}",
        {"name": row.name, "city": row.city_code},
    )
    return supplier_dict(uow, row)


def _supplier(uow: UnitOfWork, who: Principal, supplier_id: int) -> SupplierRow:
    row = uow.session.get(SupplierRow, supplier_id) if fits(supplier_id) else None
    if row is None or not (
        _may_keep(who, row.city_code)
        or (who.org_id is not None and who.org_id == row.org_id)
        or who.role in {Role.PROVINCE, Role.FINANCE}
    ):
        raise NotFoundError("no such supplier", field="supplier")
    return row


def supplier_dict(uow: UnitOfWork, row: SupplierRow) -> dict[str, object]:
    txs = uow.session.execute(
        select(SupplierTransactionRow)
        .where(SupplierTransactionRow.supplier_id == row.id)
        .order_by(SupplierTransactionRow.year)
    ).scalars()
    return {
        "id": row.id,
        "name": row.name,
        "credit_code": row.credit_code,
        "city": row.city_code,
        "city_name": city_of(row.city_code).name_zh,
        "services": json.loads(row.services),
        "services_zh": [SERVICES[x] for x in json.loads(row.services)],
        "in_province": row.in_province,
        "org_id": row.org_id,
        "transactions": [
            {
                "year": t.year,
                "amount": fen_text(t.amount_fen),
                "evidence": t.evidence_name,
                "application_id": t.application_id,
                "recorded_by": t.recorded_by,
            }
            for t in txs
        ],
    }


def list_suppliers(uow: UnitOfWork, who: Principal, city: str | None = None) -> list[dict[str, object]]:
    """The registry: a city's own for its users, everything for the data bureau, province and finance;
    a supplier's own members see their entry."""
    q = select(SupplierRow).order_by(SupplierRow.city_code, SupplierRow.name)
    if city:
        city = check_city(city)
    if who.role is Role.CITY:
        city = who.city_code
    elif who.role in {Role.USER, Role.ORG_ADMIN}:
        q = q.where(SupplierRow.org_id == who.org_id)
    else:
        require_role(who, Role.DATA_BUREAU, Role.PROVINCE, Role.FINANCE)
    if city:
        q = q.where(SupplierRow.city_code == city)
    return [supplier_dict(uow, r) for r in uow.session.execute(q.limit(2000)).scalars()]


def record_transactions(
    uow: UnitOfWork,
    who: Principal,
    clock: Clock,
    root: Path,
    supplier_id: int,
    year: object,
    amount: object,
    evidence: tuple[bytes, str | None] | None = None,
) -> dict[str, object]:
    """A supplier's data-transaction amount of a year with its evidence (its city or the data bureau)."""
    now = clock.now()
    row = _supplier(uow, who, supplier_id)
    if not _may_keep(who, row.city_code):
        raise PermissionDeniedError(
            "a supplier's figures are recorded by its city's users or the data bureau"
        )
    y = _year(year)
    if y > shanghai_date(now).year:
        raise ValidationError("a year's amount is recorded once the year has begun", field="year")
    money = Money(str(amount), field="amount")
    if not money.is_whole_fen() or not 0 < money.to_fen() <= MAX_FEN:
        raise ValidationError("a positive amount of at most 10^15 yuan, two decimals at most", field="amount")
    tx = uow.session.execute(
        select(SupplierTransactionRow).where(
            SupplierTransactionRow.supplier_id == row.id, SupplierTransactionRow.year == y
        )
    ).scalar_one_or_none()
    if tx is not None and tx.application_id is not None:
        raise ConflictError("the year's amount is in an application already; it cannot change", field="year")
    if tx is None:
        tx = SupplierTransactionRow(
            supplier_id=row.id, year=y, amount_fen=0, recorded_by=who.username, recorded_at=now
        )
        uow.session.add(tx)
    before = tx.amount_fen
    tx.amount_fen, tx.recorded_by, tx.recorded_at = money.to_fen(), who.username, now
    if evidence is not None:
        stored = files.check(*evidence)
        files.store(root, evidence[0], stored)
        tx.evidence_sha256, tx.evidence_name = stored.sha256, stored.name
    uow.session.flush()
    audit.record(
        uow,
        now,
        who.username,
        "supplier.transactions",
        f"supplier:{row.id}",
        {"year": y, "before": fen_text(before), "after": fen_text(tx.amount_fen)},
    )
    return supplier_dict(uow, row)


# the city's ratio and the engine's subsidy ---------------------------------------------------------


def set_city_ratio(
    uow: UnitOfWork, who: Principal, clock: Clock, packs: PackSet, city: object, year: object, ratio: object
) -> dict[str, object]:
    """A city sets the ratio its art. 4 program pays for a year (checked as the engine reads it)."""
    now = clock.now()
    code = check_city(city)
    if not (who.role is Role.CITY and who.city_code == code) and who.role is not Role.ADMIN:
        raise PermissionDeniedError("a city's ratio is set by that city's users")
    y = _year(year)
    text = str(ratio or "").strip()
    if len(text) > 32:
        raise ValidationError("a ratio such as 5%, 0.05 or 1/20", field="ratio")
    _check_ratio(packs, y, text)
    row = uow.session.execute(
        select(CityRatioRow).where(CityRatioRow.city_code == code, CityRatioRow.year == y)
    ).scalar_one_or_none()
    before = row.ratio if row else None
    if row is None:
        row = CityRatioRow(city_code=code, year=y, ratio=text, set_by=who.username, set_at=now)
        uow.session.add(row)
    row.ratio, row.set_by, row.set_at = text, who.username, now
    uow.session.flush()
    audit.record(
        uow,
        now,
        who.username,
        "supplier.city_ratio",
        f"city:{code}",
        {"year": y, "before": before, "after": text},
    )
    return {"city": code, "year": y, "ratio": text, "set_by": who.username}


def _check_ratio(packs: PackSet, year: int, text: str) -> None:
    on = _event_day(year)
    versions = [
        v
        for v in packs.versions(PROGRAM)
        if v.effective_from <= on and (v.effective_to is None or on <= v.effective_to)
    ]
    if not versions:
        raise ValidationError(f"no art. 4 in force in {year}", field="year")
    try:
        check_fact(packs, versions[0], "city_ratio", text)
    except FactError as e:
        raise ValidationError(e.message, field="ratio") from None


def _event_day(year: int) -> dt.date:
    """An annual amount is judged on the year's last day (POLICY position 13: the event's date)."""
    return dt.date(year, 12, 31)


def city_ratio(uow: UnitOfWork, city: str, year: int) -> str | None:
    row = uow.session.execute(
        select(CityRatioRow).where(CityRatioRow.city_code == city, CityRatioRow.year == year)
    ).scalar_one_or_none()
    return row.ratio if row else None


def list_ratios(uow: UnitOfWork, year: int | None = None) -> list[dict[str, object]]:
    q = select(CityRatioRow).order_by(CityRatioRow.year.desc(), CityRatioRow.city_code)
    if year:
        q = q.where(CityRatioRow.year == _year(year))
    return [
        {
            "city": r.city_code,
            "city_name": city_of(r.city_code).name_zh,
            "year": r.year,
            "ratio": r.ratio,
            "set_by": r.set_by,
        }
        for r in uow.session.execute(q).scalars()
    ]


def _facts(uow: UnitOfWork, row: SupplierRow, year: int) -> tuple[dict[str, object], SupplierTransactionRow]:
    tx = uow.session.execute(
        select(SupplierTransactionRow).where(
            SupplierTransactionRow.supplier_id == row.id, SupplierTransactionRow.year == year
        )
    ).scalar_one_or_none()
    if tx is None:
        raise ConflictError(f"no transaction amount recorded for {year}", field="year")
    ratio = city_ratio(uow, row.city_code, year)
    if ratio is None:
        raise ConflictError(
            f"{city_of(row.city_code).name_zh} has set no ratio for {year}", field="city_ratio"
        )
    return (
        {
            "city": row.city_code,
            "in_province": row.in_province,
            "annual_transaction_amount": fen_text(tx.amount_fen),
            "city_ratio": ratio,
        },
        tx,
    )


def subsidy(
    uow: UnitOfWork, who: Principal, packs: PackSet, supplier_id: int, year: object
) -> dict[str, object]:
    """The city subsidy the engine computes from the recorded amount and the city's ratio (explained)."""
    row = _supplier(uow, who, supplier_id)
    y = _year(year)
    facts, _ = _facts(uow, row, y)
    decision: Decision = evaluate(PROGRAM, facts, _event_day(y), packs)
    return {
        "supplier": row.id,
        "year": y,
        "facts": facts,
        "decision": decision.to_dict(f"supplier:{row.id}:{y}"),
    }


def apply_for_subsidy(
    uow: UnitOfWork,
    who: Principal,
    packs: PackSet,
    clock: Clock,
    supplier_id: int,
    year: object,
    call_id: int,
) -> dict[str, object]:
    """The supplier's own people file the year's figures as an art. 4 application in an open call and
    submit it: the city reviews, the awards workflow approves, notices, budgets and pays."""
    row = _supplier(uow, who, supplier_id)
    if who.org_id is None or who.org_id != row.org_id:
        raise PermissionDeniedError("the supplier's own members apply for its subsidy")
    y = _year(year)
    facts, tx = _facts(uow, row, y)
    if tx.application_id is not None:
        raise ConflictError(f"the {y} amount is already in application {tx.application_id}", field="year")
    today = shanghai_date(clock.now())
    created = applications.create_application(
        uow,
        who,
        packs,
        clock,
        call_id,
        {
            "project_ref": f"supplier-{row.credit_code}-{y}",
            "project_name": f"{row.name} {y} 年度数据交易补贴",
            "event_on": min(_event_day(y), today).isoformat(),
            "facts": {k: facts[k] for k in ("annual_transaction_amount", "city_ratio")},
        },
    )
    app_id = int(str(created["id"]))
    tx.application_id = app_id
    uow.session.flush()
    return applications.submit(uow, who, packs, clock, app_id)


# the province's performance reward -------------------------------------------------------------------


def set_reward_tiers(
    uow: UnitOfWork, who: Principal, clock: Clock, year: object, tiers: Sequence[Mapping[str, object]]
) -> list[dict[str, object]]:
    """The province's reward table of a year: recorded supplier subsidies ≥ threshold earn reward."""
    require_role(who, Role.PROVINCE)
    now = clock.now()
    y = _year(year)
    parsed: list[tuple[int, int]] = []
    for i, t in enumerate(tiers, start=1):
        try:
            threshold, reward = (
                Money(str(t.get("threshold")), field="threshold"),
                Money(str(t.get("reward")), field="reward"),
            )
        except ValidationError as e:
            raise ValidationError(e.message, field=e.field, row=i) from None
        if not 0 <= threshold.to_fen() <= MAX_FEN or not 0 < reward.to_fen() <= MAX_FEN:
            raise ValidationError(
                "a threshold ≥ 0 and a positive reward, at most 10^15 yuan", field="reward", row=i
            )
        parsed.append((threshold.to_fen(), reward.to_fen()))
    if len({p[0] for p in parsed}) != len(parsed):
        raise ValidationError("each threshold once", field="threshold")
    for old in uow.session.execute(select(RewardTierRow).where(RewardTierRow.year == y)).scalars():
        uow.session.delete(old)
    uow.session.flush()
    for threshold_fen, reward_fen in sorted(parsed):
        uow.session.add(
            RewardTierRow(
                year=y, threshold_fen=threshold_fen, reward_fen=reward_fen, set_by=who.username, set_at=now
            )
        )
    uow.session.flush()
    audit.record(
        uow,
        now,
        who.username,
        "supplier.reward_tiers",
        f"year:{y}",
        {"tiers": [[fen_text(a), fen_text(b)] for a, b in sorted(parsed)]},
    )
    return reward_tiers(uow, y)


def reward_tiers(uow: UnitOfWork, year: int) -> list[dict[str, object]]:
    q = select(RewardTierRow).where(RewardTierRow.year == year).order_by(RewardTierRow.threshold_fen)
    return [
        {"threshold": fen_text(r.threshold_fen), "reward": fen_text(r.reward_fen)}
        for r in uow.session.execute(q).scalars()
    ]


def reward_for(total_fen: int, tiers: Sequence[tuple[int, int]]) -> int:
    """The reward of the highest tier a city's total reaches (0 below the first).

    >>> reward_for(150, [(100, 10), (200, 30)])
    10
    >>> reward_for(99, [(100, 10)])
    0
    """
    reached = [reward for threshold, reward in tiers if total_fen >= threshold]
    return max(reached, default=0)


def performance_rewards(uow: UnitOfWork, who: Principal, year: object) -> dict[str, object]:
    """Each city's recorded art. 4 supplier payouts of the year and the reward its tier earns."""
    require_role(who, Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU, Role.CITY)
    y = _year(year)
    tiers = [
        (r.threshold_fen, r.reward_fen)
        for r in uow.session.execute(select(RewardTierRow).where(RewardTierRow.year == y)).scalars()
    ]
    q = (
        select(CityPayoutRow.city_code, func.sum(CityPayoutRow.amount_fen), func.count())
        .where(
            CityPayoutRow.program == PROGRAM,
            CityPayoutRow.kind == "supplier_subsidy",
            CityPayoutRow.paid_on >= dt.date(y, 1, 1),
            CityPayoutRow.paid_on < dt.date(y + 1, 1, 1),
        )
        .group_by(CityPayoutRow.city_code)
    )
    cities = []
    for code, total, count in uow.session.execute(q):
        if who.role is Role.CITY and code != who.city_code:
            continue
        cities.append(
            {
                "city": code,
                "city_name": city_of(code).name_zh,
                "payouts": int(count),
                "recorded": fen_text(int(total)),
                "reward": fen_text(reward_for(int(total), tiers)),
            }
        )
    cities.sort(key=lambda c: (-Money(str(c["recorded"])).to_fen(), str(c["city"])))
    return {"year": y, "tiers": reward_tiers(uow, y), "cities": cities}


__all__ = [
    "SERVICES",
    "apply_for_subsidy",
    "check_services",
    "city_ratio",
    "list_ratios",
    "list_suppliers",
    "performance_rewards",
    "record_transactions",
    "register_supplier",
    "reward_for",
    "reward_tiers",
    "set_city_ratio",
    "set_reward_tiers",
    "subsidy",
    "supplier_dict",
    "supplier_row",
]
