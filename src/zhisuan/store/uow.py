"""The unit of work: one transaction per use; raising inside it writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

#: where a session keeps what runs after its commit (see :meth:`UnitOfWork.after_commit`)
AFTER_COMMIT = "zhisuan_after_commit"
#: the execution option that makes a SQLite transaction begin ``IMMEDIATE`` (see :mod:`zhisuan.store.db`)
WRITER = "zhisuan_writer"


class UnitOfWork:
    """``with uow: ...; uow.commit()`` — anything not committed is rolled back on exit.

    A writer (the default) takes SQLite's write lock when it begins (``BEGIN IMMEDIATE``), so two
    writers queue on the busy timeout instead of one failing with "database is locked" when it first
    writes; ``read_only=True`` begins a plain (deferred) transaction that never blocks a writer.
    ``seal`` is the audit log's key (:class:`zhisuan.audit.Seal`), given by the composition root.
    """

    def __init__(
        self, session_factory: sessionmaker[Session], *, seal: object | None = None, read_only: bool = False
    ) -> None:
        self._factory = session_factory
        self._session: Session | None = None
        self.seal = seal
        self.read_only = read_only

    @classmethod
    def for_engine(cls, engine: Engine, *, seal: object | None = None) -> UnitOfWork:
        return cls(sessionmaker(bind=engine, expire_on_commit=False), seal=seal)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside its `with` block")
        return self._session

    @property
    def begins_at_once(self) -> bool:
        """Whether entering talks to the database (a SQLite writer's ``BEGIN IMMEDIATE``, which may wait
        for the busy timeout); otherwise the transaction begins with the first statement."""
        bind = self._factory.kw.get("bind")
        return not self.read_only and bind is not None and bind.dialect.name == "sqlite"

    @property
    def idle(self) -> bool:
        """Whether no transaction is open (committed, or never used): leaving touches no database."""
        return self._session is None or not self._session.in_transaction()

    def __enter__(self) -> UnitOfWork:
        if self._session is not None:
            raise RuntimeError("UnitOfWork is not re-entrant; make a new one")
        self._session = self._factory()
        if not self.read_only and self._session.get_bind().dialect.name == "sqlite":
            # begin now, IMMEDIATE (store.db's begin hook reads this option)
            self._session.connection(execution_options={WRITER: True})
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        self._session.info.pop(AFTER_COMMIT, None)
        try:
            self._session.rollback()
        finally:
            self._session.close()
            self._session = None

    def commit(self) -> None:
        """Commit; then run what asked to follow this commit (``after_commit``), in order."""
        self.session.commit()
        for then in self.session.info.pop(AFTER_COMMIT, []):
            then(self)

    def after_commit(self, then: Callable[[UnitOfWork], None]) -> None:
        """Run ``then(self)`` once, right after this transaction commits (never if it does not)."""
        self.session.info.setdefault(AFTER_COMMIT, []).append(then)

    def rollback(self) -> None:
        self.session.rollback()

    def fresh(self) -> UnitOfWork:
        """A new unit of work on the same database (for a new transaction)."""
        return UnitOfWork(self._factory, seal=self.seal, read_only=self.read_only)
