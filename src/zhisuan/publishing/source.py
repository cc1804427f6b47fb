"""The approved pack versions as the pack source's :class:`~zhisuan.policy.Published` input (the database).

``stamp()`` is one small aggregate query (how many versions are approved, and the newest one), so a
running server or worker notices an approval on its next call; ``packs()`` reads the texts only then.
A database without the table yet (not migrated) serves no published versions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from zhisuan.policy import PublishedPack
from zhisuan.publishing.rules import State
from zhisuan.publishing.services import served_name
from zhisuan.store.models.publishing import PolicyVersionRow
from zhisuan.store.uow import UnitOfWork

log = logging.getLogger(__name__)


class DatabaseVersions:
    """The newest approved version of every published pack id, read through ``uow()``."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow
        self._warned = False

    def stamp(self) -> Hashable:
        """(approved versions, highest approved id): it changes with every approval."""
        q = select(func.count(), func.max(PolicyVersionRow.id)).where(
            PolicyVersionRow.state == State.APPROVED.value
        )
        try:
            with self._uow() as uow:
                count, top = uow.session.execute(q).one()
        except (OperationalError, ProgrammingError) as exc:
            self._warn(exc)
            return None
        return int(count), top

    def packs(self) -> Sequence[PublishedPack]:
        """The newest approved version per pack id (a newer version replaces an older one)."""
        q = (
            select(PolicyVersionRow)
            .where(PolicyVersionRow.state == State.APPROVED.value)
            .order_by(PolicyVersionRow.pack_id, PolicyVersionRow.version)
        )
        newest: dict[str, PublishedPack] = {}
        try:
            with self._uow() as uow:
                for row in uow.session.execute(q).scalars():
                    newest[row.pack_id] = PublishedPack(served_name(row), row.text, row.id)
        except (OperationalError, ProgrammingError) as exc:
            self._warn(exc)
            return ()
        return list(newest.values())

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.info("published pack versions not read (database not migrated?): %s", exc)
