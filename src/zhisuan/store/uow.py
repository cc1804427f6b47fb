"""The unit of work: one transaction per use; raising inside it writes nothing."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork:
    """``with uow: ...; uow.commit()`` — anything not committed is rolled back on exit."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._session: Session | None = None

    @classmethod
    def for_engine(cls, engine: Engine) -> UnitOfWork:
        return cls(sessionmaker(bind=engine, expire_on_commit=False))

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside its `with` block")
        return self._session

    def __enter__(self) -> UnitOfWork:
        if self._session is not None:
            raise RuntimeError("UnitOfWork is not re-entrant; make a new one")
        self._session = self._factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        try:
            self._session.rollback()
        finally:
            self._session.close()
            self._session = None

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def fresh(self) -> UnitOfWork:
        """A new unit of work on the same database (for a new transaction)."""
        return UnitOfWork(self._factory)
