"""Migrations on both databases: a migrated database is at every head, an empty one lacks every revision."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from tests.conftest import TestDatabase
from zhisuan.store.migrate import alembic_config, current_heads, pending
from zhisuan.store.models.core import OrganizationRow


def test_migration_reaches_every_head(db: TestDatabase) -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert pending(db.engine) == set()
    assert current_heads(db.engine) <= set(scripts.get_heads())
    assert "core_0001" in {rev.revision for rev in scripts.walk_revisions()}
    with db.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(OrganizationRow)).scalar() == 0


def test_an_empty_database_lacks_every_revision(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    scripts = ScriptDirectory.from_config(alembic_config())
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert pending(empty) == {rev.revision for rev in scripts.walk_revisions()}
