"""Backups of the whole database: SQLite's online backup API, ``pg_dump`` / ``pg_restore`` for PostgreSQL.

A SQLite backup is a consistent copy taken while the server runs (the backup API copies pages under a
read lock, retrying when a writer interferes); restoring replaces the database file (stop the server
first). A PostgreSQL backup is ``pg_dump``'s custom format; restoring drops and recreates every object.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine

from zhisuan.core.errors import ValidationError


def _sqlite_file(engine: Engine) -> Path:
    name = engine.url.database
    if not name or name == ":memory:":
        raise ValidationError("an in-memory database cannot be backed up", field="database")
    return Path(name)


def _libpq_url(engine: Engine) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _private(path: Path) -> None:
    if path.exists():
        os.chmod(path, 0o600)


def backup(engine: Engine, target: Path) -> Path:
    """Write a consistent copy of the database to ``target`` (owner-only); returns ``target``."""
    if target.exists() and target.is_dir():
        raise ValidationError(f"{target} is a directory; give a file name", field="target")
    target.parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        source = sqlite3.connect(_sqlite_file(engine))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        dest = sqlite3.connect(target)
        try:
            with dest:
                source.backup(dest)
        finally:
            dest.close()
            source.close()
        _private(target)
        return target
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", _libpq_url(engine)])
    _private(target)
    return target


def restore(engine: Engine, source: Path) -> None:
    """Replace the database with the backup at ``source`` (stop the server and workers first)."""
    if not source.is_file():
        raise ValidationError(f"{source}: no such backup file", field="source")
    engine.dispose()
    if engine.dialect.name == "sqlite":
        db = _sqlite_file(engine)
        check = sqlite3.connect(source)
        try:
            ok = check.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError:
            ok = None
        finally:
            check.close()
        if ok is None or ok[0] != "ok":
            raise ValidationError(f"{source} is not a sound SQLite database", field="source")
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        tmp = db.with_name(f".{db.name}.restoring")
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, db)
        return
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_libpq_url(engine)}",
            str(source),
        ]
    )


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600)
    except FileNotFoundError:
        raise ValidationError(
            f"{command[0]} is not installed (PostgreSQL's client tools)", field="database"
        ) from None
    if done.returncode != 0:
        raise ValidationError(f"{command[0]} failed: {done.stderr.strip()[:300]}", field="database")


__all__ = ["backup", "restore"]
