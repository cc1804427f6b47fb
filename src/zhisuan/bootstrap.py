"""The one composition root: settings, database, unit of work, clock, policy packs, the art. 2 rule, the
art. 8 priority and the job engines, built once for the web app, the CLI, the worker and the demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from zhisuan.accounts import TokenAccounts
from zhisuan.audit import Seal
from zhisuan.compute.engines import EngineSet
from zhisuan.compute.placement import VoucherRule
from zhisuan.compute.scheduling import PriorityRule
from zhisuan.core.clock import Clock, SystemClock
from zhisuan.matching.priority import key_enterprise_priority
from zhisuan.metering.estimate import pack_voucher_rule
from zhisuan.policy import PackSource
from zhisuan.publishing import DatabaseVersions
from zhisuan.settings import Settings, load_settings, make_private_dir
from zhisuan.store.db import make_engine, normalise_url, private_file
from zhisuan.store.uow import UnitOfWork

if TYPE_CHECKING:
    from zhisuan.compute.worker import Worker


@dataclass
class Platform:
    """Everything a process needs, built once."""

    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    session_factory: sessionmaker[Session] | None = None
    #: the policy packs (shipped, ``settings.packs_dir`` and the approved versions in the database),
    #: loaded once, reloaded when one is published
    packs: PackSource = field(init=False)
    #: art. 2 as placement estimates it (rate, province, related parties), from the same packs that
    #: settlement applies: dispatch, budgets, quota views and settlement agree
    vouchers: VoucherRule = field(init=False)
    #: art. 8 as placement applies it: the key enterprises' priority weight (the packs' parameter,
    #: 1 = off) for the organizations of the enterprises registry
    priority: PriorityRule = field(init=False)
    #: the job engines of every pool, each built once for its settings
    engines: EngineSet = field(init=False)
    #: the audit log's key (outside the database) and where the signed head's copy goes
    seal: Seal = field(init=False)
    #: the accounts of the API tokens this process has seen, reused until an account or token changes
    tokens: TokenAccounts = field(init=False)

    def __post_init__(self) -> None:
        self.seal = Seal.for_data_dir(self.settings.data_dir, self.settings.audit_key)
        self.tokens = TokenAccounts()
        if self.session_factory is None:
            self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        # read-only: the packs are read from inside writers' transactions (a SQLite writer holds the lock)
        self.packs = PackSource(self.settings.packs_dir, DatabaseVersions(lambda: self.uow(read_only=True)))
        self.vouchers = pack_voucher_rule(self.packs.current)
        self.priority = key_enterprise_priority(self.packs.current)
        self.engines = EngineSet(self.clock)

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        """A unit of work that signs audit events with the platform's key; ``read_only`` for reads."""
        assert self.session_factory is not None
        return UnitOfWork(self.session_factory, seal=self.seal, read_only=read_only)

    def worker(self, *, name: str | None = None, schedule: bool = True) -> Worker:
        """A dispatch worker over this platform's database, engines and art. 2 rule."""
        from zhisuan.compute.worker import Worker  # the worker's metrics and engines load only when used

        return Worker(
            self.uow,
            self.clock,
            vouchers=self.vouchers,
            priority=self.priority,
            engines=self.engines,
            name=name,
            schedule=schedule,
        )

    def migrate(self) -> None:
        from zhisuan.store.migrate import upgrade  # alembic loads only for the commands that migrate

        upgrade(self.engine)


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, engine: Engine | None = None
) -> Platform:
    """Build the platform from settings (read from the environment when not given)."""
    settings = settings or load_settings()
    if settings.is_sqlite:
        make_private_dir(settings.data_dir)
        private_file(Path(make_url(normalise_url(settings.database_url)).database or ""))
    return Platform(
        settings=settings,
        engine=engine or make_engine(settings.database_url),
        clock=clock or SystemClock(),
    )
