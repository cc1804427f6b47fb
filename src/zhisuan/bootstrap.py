"""The one composition root: settings, database, unit of work and clock for the web app, CLI and workers."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from zhisuan.core.clock import Clock, SystemClock
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

    def __post_init__(self) -> None:
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
