"""A lease one process holds at a time across every process on the same database.

PostgreSQL: a session-level advisory lock on a connection the lease keeps open. SQLite: an exclusive
``flock`` on a file next to the database file. Either way the lease ends when it is released or its
process ends (the server drops the session; the kernel drops the file lock), so another process can
take it over.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text


def lock_key(name: str) -> int:
    """The 64-bit advisory-lock key of a lease name (stable across processes and versions)."""
    return int.from_bytes(
        hashlib.blake2b(f"zhisuan:{name}".encode(), digest_size=8).digest(), "big", signed=True
    )


class Lease:
    """``name`` held by at most one process on the database of ``engine`` at a time."""

    def __init__(self, engine: Engine, name: str, lock_dir: Path) -> None:
        self.engine = engine
        self.name = name
        self._pg = engine.dialect.name == "postgresql"
        database = engine.url.database
        if not self._pg and database and database != ":memory:":
            self.path = Path(database).resolve().with_name(Path(database).name + f".{name}.lock")
        else:
            self.path = lock_dir / f"{name}.lock"
        self._conn: Connection | None = None
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def try_acquire(self) -> bool:
        """Take the lease if no other process holds it (never waits); True if this process holds it."""
        if self.held:
            return True
        if self._pg:
            conn = self.engine.connect()
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(self.name)}).scalar()
            )
            conn.commit()
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._file = fh
        return True

    def release(self) -> None:
        """Give the lease up (nothing if this process does not hold it)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # a lost connection has dropped the lock already
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)})
                conn.commit()
            conn.close()
        if self._file is not None:
            fh, self._file = self._file, None
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()


__all__ = ["Lease", "lock_key"]
