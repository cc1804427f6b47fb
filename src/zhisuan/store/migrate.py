"""Run Alembic migrations programmatically (`zhisuan db upgrade`, server start, tests)."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("zhisuan.store").joinpath("migrations")))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine | Connection, target: str = "heads") -> None:
    """Bring the schema to ``target`` (default: every branch head)."""
    if isinstance(engine, Engine):
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), target)
    else:
        command.upgrade(alembic_config(engine), target)


def current_heads(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def pending(engine: Engine) -> set[str]:
    """Revisions the database lacks (empty when it is current).

    The database records only its leaf heads: a branch head that another branch depends on (compute,
    under metering) is applied without being listed, so compare ancestries rather than head sets.
    """
    scripts = ScriptDirectory.from_config(alembic_config())

    def ancestry(heads: Iterable[str]) -> set[str]:
        return {rev.revision for head in heads for rev in scripts.iterate_revisions(head, "base")}

    return ancestry(scripts.get_heads()) - ancestry(current_heads(engine))
