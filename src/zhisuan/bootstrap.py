"""The one composition root: settings, database, unit of work, clock and policy packs for every process."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from zhisuan.core.clock import Clock, SystemClock
from zhisuan.policy import PackSource
from zhisuan.settings import Settings, load_settings
from zhisuan.store.db import make_engine
from zhisuan.store.migrate import upgrade
from zhisuan.store.uow import UnitOfWork


@dataclass
class Platform:
    """Everything a process needs, built once."""

    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    session_factory: sessionmaker[Session] | None = None
    #: the policy packs (shipped plus ``settings.packs_dir``), loaded once, reloaded when one is published
    packs: PackSource = field(init=False)

    def __post_init__(self) -> None:
        self.packs = PackSource(self.settings.packs_dir)
        if self.session_factory is None:
            self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)

    def uow(self) -> UnitOfWork:
        assert self.session_factory is not None
        return UnitOfWork(self.session_factory)

    def migrate(self) -> None:
        upgrade(self.engine)


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, engine: Engine | None = None
) -> Platform:
    """Build the platform from settings (read from the environment when not given)."""
    settings = settings or load_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Platform(
        settings=settings,
        engine=engine or make_engine(settings.database_url),
        clock=clock or SystemClock(),
    )
