"""The home of each role after login: its work queue and figures, each a tile linking to the list behind it.

One list of :class:`Tile` s, each for the roles it names; a feature adds its own with :func:`add_tiles` (as
pages add navigation with ``templating.add_nav``), e.g. the open-data catalog's waiting sharing requests
for the data bureau. A tile's ``figure`` reads through ``reports.work`` in the caller's scope and answers
the number shown, or None to leave the tile out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import shanghai_date
from zhisuan.core.money import Money
from zhisuan.reports import work
from zhisuan.store.uow import UnitOfWork
from zhisuan.web.display import yuan

Figure = Callable[[UnitOfWork, Principal, dt.datetime], str | int | None]


@dataclass(frozen=True, slots=True)
class Tile:
    """A figure on a role's home: English label (a msgid), where it links, for which roles."""

    key: str
    label: str
    path: str
    roles: tuple[Role, ...]
    figure: Figure | None = None
    order: int = 50
    note: str = ""  # an English msgid under the figure


TILES: list[Tile] = []


def add_tiles(*tiles: Tile) -> None:
    """Add tiles to the role homes (a tile's key is added once)."""
    for tile in tiles:
        if tile.key not in {t.key for t in TILES}:
            TILES.append(tile)
    TILES.sort(key=lambda t: (t.order, t.key))


@dataclass(frozen=True, slots=True)
class Shown:
    tile: Tile
    value: str | int | None


def home_tiles(uow: UnitOfWork, who: Principal, now: dt.datetime) -> list[Shown]:
    """The caller's tiles with their figures (an administrator sees the administrator's)."""
    if who.role is None:
        return []
    out = []
    for tile in TILES:
        if who.role not in tile.roles:
            continue
        value = tile.figure(uow, who, now) if tile.figure is not None else None
        out.append(Shown(tile, value))
    return sorted(out, key=lambda s: s.value is None)  # figures first, plain links after


def _fen(fen: int) -> str:
    return yuan(str(Money.from_fen(fen)))


def _org(who: Principal) -> int:
    if who.org_id is None:
        raise LookupError("an organization's tile for a caller without one")
    return int(who.org_id)


ORG = (Role.USER, Role.ORG_ADMIN)


def _jobs_waiting(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    jobs = work.jobs_by_state(uow, org_id=_org(who))
    return jobs.get("queued", 0) + jobs.get("placed", 0)


def _jobs_running(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    return work.jobs_by_state(uow, org_id=_org(who)).get("running", 0)


def _bills_to_pay(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    n, fen = work.bills_by_state(uow, org_id=_org(who)).get("issued", (0, 0))
    return f"{n} · {_fen(fen)}"


def _my_vouchers(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    return _fen(work.vouchers_granted(uow, shanghai_date(now).year, org_id=_org(who)))


def _my_applications(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    states = work.applications_by_state(uow, org_id=_org(who))
    return states.get("draft", 0) + states.get("returned", 0)


def _operator(who: Principal) -> int:
    return _org(who)


def _centers(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    centers, pools, cards = work.operator_capacity(uow, _operator(who))
    return f"{centers} · {pools} · {cards:,}"


def _operator_jobs(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    jobs = work.jobs_by_state(uow, operator_org_id=_operator(who))
    return f"{jobs.get('running', 0)} · {jobs.get('placed', 0)}"


def _operator_revenue(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    month = shanghai_date(now).strftime("%Y-%m")
    return _fen(work.month_revenue(uow, month, _operator(who)))


def _city(who: Principal) -> str:
    if who.city_code is None:
        raise LookupError("a city's tile for a caller without one")
    return who.city_code


def _city_reviews(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    return work.applications_by_state(uow, city=_city(who)).get("city_review", 0)


def _city_payouts(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    n, fen = work.payouts_recorded(uow, _city(who))
    return f"{n} · {_fen(fen)}"


def _city_vouchers(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    return _fen(work.vouchers_granted(uow, shanghai_date(now).year, city=_city(who)))


def _province_reviews(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    return work.applications_by_state(uow).get("province_review", 0)


def _versions(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    return work.versions_waiting(uow)


def _queued_vouchers(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    n, fen = work.vouchers_queued(uow)
    return f"{n} · {_fen(fen)}"


def _batches(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    n, fen = work.payment_batches_by_state(uow).get("draft", (0, 0))
    return f"{n} · {_fen(fen)}"


def _to_pay(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    return work.applications_by_state(uow).get("approved", 0)


def _province_jobs(uow: UnitOfWork, who: Principal, now: dt.datetime) -> str:
    jobs = work.jobs_by_state(uow)
    return f"{jobs.get('queued', 0)} · {jobs.get('running', 0)}"


def _users(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    return sum(work.users_by_role(uow).values())


def _audit_today(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    return work.audit_events_today(uow, now)


def _datasets(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    return work.datasets_published(uow)


def _requests(uow: UnitOfWork, who: Principal, now: dt.datetime) -> int:
    return work.sharing_requests_pending(uow)


STAFF = (Role.PROVINCE, Role.DATA_BUREAU, Role.ADMIN)
add_tiles(
    # compute users: jobs, usage, bills, vouchers, applications
    Tile("jobs-waiting", "Jobs waiting", "/jobs?f_state=queued", ORG, _jobs_waiting, 10, "queued or placed"),
    Tile("jobs-running", "Jobs running", "/jobs?f_state=running", ORG, _jobs_running, 11),
    Tile("usage", "Usage per month", "/billing/usage", ORG, None, 12),
    Tile("bills-to-pay", "Bills to pay", "/billing?f_state=issued", ORG, _bills_to_pay, 13, "count · amount"),
    Tile("my-vouchers", "Compute vouchers this year", "/billing/vouchers", ORG, _my_vouchers, 14),
    Tile("my-applications", "Applications to finish", "/awards/applications", ORG, _my_applications, 15,
         "drafts and returned"),
    # operators: centers, pools, queue, revenue
    Tile("centers", "My centers", "/centers", (Role.OPERATOR,), _centers, 20, "centers · pools · cards"),
    Tile("operator-jobs", "Jobs on my centers", "/jobs", (Role.OPERATOR,), _operator_jobs, 21,
         "running · waiting at the center"),
    Tile("engines", "Engines", "/operations", (Role.OPERATOR,), None, 22),
    Tile("revenue", "Revenue this month", "/billing/revenue", (Role.OPERATOR,), _operator_revenue, 23,
         "metered usage"),
    # city officials: reviews, the city dashboard, recorded payouts
    Tile("city-reviews", "Applications to review", "/awards/applications?state=city_review", (Role.CITY,),
         _city_reviews, 30),
    Tile("city-dashboard", "City dashboard", "/dashboard", (Role.CITY,), _city_vouchers, 31,
         "compute vouchers this year"),
    Tile("city-payouts", "Recorded payouts", "/awards/payouts", (Role.CITY,), _city_payouts, 32,
         "count · amount"),
    # the provincial office: reviews, packs, budgets
    Tile("province-reviews", "Applications to review", "/awards/applications?state=province_review",
         (Role.PROVINCE,), _province_reviews, 40),
    Tile("versions", "Pack versions to decide", "/publish", (Role.PROVINCE, Role.ADMIN), _versions, 41),
    Tile("budgets", "Budgets", "/awards/budgets", (Role.PROVINCE, Role.FINANCE), None, 42),
    Tile("dashboard", "Province dashboard", "/dashboard", (Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU),
         None, 43),
    # finance: payment batches, budgets, reconciliation
    Tile("to-pay", "Awards to pay", "/awards/payments", (Role.FINANCE,), _to_pay, 50,
         "approved, not yet paid"),
    Tile("batches", "Payment batches in draft", "/awards/batches", (Role.FINANCE,), _batches, 51,
         "count · amount"),
    Tile("vouchers-queued", "Vouchers waiting for budget", "/billing/vouchers?f_status=queued",
         (Role.FINANCE, Role.PROVINCE), _queued_vouchers, 52, "lines · amount"),
    Tile("reconciliation", "Budget burn", "/billing/burn", (Role.FINANCE,), None, 53),
    # the data bureau: the catalog, sharing requests, opening bulletins (the opendata context's pages)
    Tile("catalog", "Datasets published", "/opendata", (Role.DATA_BUREAU,), _datasets, 55),
    Tile("requests", "Sharing requests waiting", "/opendata/manage#requests", (Role.DATA_BUREAU,),
         _requests, 56),
    Tile("bulletins", "Opening bulletins", "/opendata/bulletins", (Role.DATA_BUREAU, Role.PROVINCE),
         None, 57),
    # the data bureau and staff: the platform
    Tile("platform-jobs", "Platform queue", "/jobs/held", STAFF, _province_jobs, 60, "queued · running"),
    # administrators: users, roles, audit
    Tile("users", "Active accounts", "/account", (Role.ADMIN,), _users, 70),
    Tile("audit", "Audit events today", "/audit", (Role.ADMIN,), _audit_today, 71),
)  # fmt: skip


__all__ = ["TILES", "Shown", "Tile", "add_tiles", "home_tiles"]
