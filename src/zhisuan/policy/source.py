"""The one source of policy packs: shipped packs, the administrators' folder and approved versions.

An administrator publishes a pack (or a new version of one) by dropping a ``*.yaml`` file into the
folder (``<data dir>/packs`` by default); a province user publishes one through the platform, where a
second user approves it (``zhisuan.publishing``), which hands the approved versions in as a
:class:`Published` provider. :meth:`PackSource.current` notices a change with a cheap signature (file
names, sizes and modification times, and the provider's stamp) and reloads, so a running server picks
the new version up; an unchanged source is never parsed again. An approved version *replaces* the
pack of the same id (shipped or from the folder). A pack that breaks the schema never replaces the
set in force: :meth:`PackSource.reload` raises its :class:`PackError` (file, line, key), and
:meth:`PackSource.current` keeps answering from the previous set and keeps the error in ``error``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from zhisuan.core.errors import PolicyError
from zhisuan.policy.errors import PackError
from zhisuan.policy.loader import builtin_pack_dir, load_pack, parse_pack
from zhisuan.policy.packset import PackSet
from zhisuan.policy.schema import Pack

log = logging.getLogger(__name__)

#: one file's identity for change detection: (name, size, mtime in ns)
FileStamp = tuple[str, int, int]
#: the whole source's identity: the folder's files and the provider's stamp
Signature = tuple[tuple[FileStamp, ...], Hashable]


@dataclass(frozen=True, slots=True)
class PublishedPack:
    """An approved pack version: the name errors and listings show, its YAML text, and its stamp.

    ``stamp`` identifies the text (e.g. the version's row id): the same stamp is never parsed twice.
    """

    name: str
    text: str
    stamp: Hashable


class Published(Protocol):
    """The approved pack versions, one per pack id (kept outside policy: the database, in practice)."""

    def stamp(self) -> Hashable:
        """A cheap value that changes whenever the approved versions do."""
        ...

    def packs(self) -> Sequence[PublishedPack]:
        """The approved version in force of every published pack id."""
        ...


def combine(base: Iterable[Pack], replacing: Iterable[Pack]) -> PackSet:
    """``base`` with each pack of ``replacing`` in place of the pack of the same id (or added).

    The result must pass the pack set's checks; a failure is a :class:`PackError` naming the
    replacing pack's file.
    """
    packs = {p.id: p for p in base}
    last: Pack | None = None
    for pack in replacing:
        packs[pack.id] = last = pack
    try:
        return PackSet(packs.values())
    except PackError:
        raise
    except PolicyError as exc:
        if last is None:
            raise
        raise PackError(exc.message, file=last.source_file, line=None, key=exc.field) from None


@cache
def shipped_packs() -> tuple[Pack, ...]:
    """The packs shipped inside the package, parsed once per process (they never change while running)."""
    return tuple(load_pack(p) for p in sorted(builtin_pack_dir().glob("*.yaml")))


class PackSource:
    """The shipped packs plus every ``*.yaml`` in ``folder`` (None or missing: the shipped packs only),
    with ``published``'s approved versions replacing the packs of their ids."""

    def __init__(self, folder: Path | None, published: Published | None = None) -> None:
        self.folder = folder
        self.published = published
        #: the problem with the folder's current files while an older set stays in force (None: none)
        self.error: PackError | None = None
        self._lock = threading.Lock()
        self._packs: PackSet | None = None
        self._signature: Signature | None = None
        self._failed: Signature | None = None
        self._parsed: dict[str, tuple[FileStamp, Pack]] = {}
        self._parsed_published: dict[Hashable, Pack] = {}

    def current(self) -> PackSet:
        """The pack set in force, reloaded first when the folder has changed since it was loaded.

        Never raises for a bad file: it keeps the previous set in force, or the shipped packs when
        none was ever loaded; the problem stays in ``error`` for the pages and ``zhisuan policy check``.
        """
        signature = self._signature_now()
        packs = self._packs
        if packs is not None and signature == self._signature:
            return packs
        with self._lock:
            if self._packs is not None and signature == self._signature:
                return self._packs
            if signature == self._failed and self._packs is not None:
                return self._packs  # the bad file is still there: not parsed again
            try:
                return self._load(signature, reparse=False)
            except PackError as exc:
                if self._packs is None:
                    # never loaded (a bad file from the start): serve the shipped packs and report it,
                    # rather than take every page that reads a pack down
                    log.error("policy pack skipped, the shipped packs are in force: %s", exc)
                    self._packs = PackSet(shipped_packs())
                else:
                    log.warning("policy pack not loaded, the previous packs stay in force: %s", exc)
                return self._packs

    def reload(self) -> PackSet:
        """Re-read and validate every administrator's file; a bad one raises and keeps the set in force."""
        with self._lock:
            return self._load(self._signature_now(), reparse=True)

    def with_candidate(self, pack: Pack) -> PackSet:
        """The set in force with ``pack`` in place of the pack of its id: what approving it would serve."""
        return combine(self.current(), [pack])

    def _signature_now(self) -> Signature:
        return self._stamps(), (self.published.stamp() if self.published is not None else None)

    def _stamps(self) -> tuple[FileStamp, ...]:
        if self.folder is None:
            return ()
        try:
            entries = list(os.scandir(self.folder))
        except (FileNotFoundError, NotADirectoryError):
            return ()
        out: list[FileStamp] = []
        for entry in entries:
            if entry.name.endswith(".yaml") and entry.is_file():
                st = entry.stat()
                out.append((entry.name, st.st_size, st.st_mtime_ns))
        return tuple(sorted(out))

    def _load(self, signature: Signature, *, reparse: bool) -> PackSet:
        """Parse what changed, check the set, then swap it in (nothing is swapped when anything fails)."""
        try:
            parsed: dict[str, tuple[FileStamp, Pack]] = {}
            for stamp in signature[0]:
                name = stamp[0]
                known = self._parsed.get(name)
                if known is not None and known[0] == stamp and not reparse:
                    parsed[name] = known
                else:
                    assert self.folder is not None
                    parsed[name] = (stamp, load_pack(self.folder / name))
            published: dict[Hashable, Pack] = {}
            for item in self.published.packs() if self.published is not None else ():
                known_pack = self._parsed_published.get(item.stamp)
                if known_pack is None or reparse:
                    known_pack = parse_pack(item.text, item.name)
                published[item.stamp] = known_pack
            packs = combine(self._pack_set([p for _, p in parsed.values()]), published.values())
        except PackError as exc:
            self._failed, self.error = signature, exc
            raise
        self._packs, self._signature, self._parsed = packs, signature, parsed
        self._parsed_published = published
        self._failed, self.error = None, None
        return packs

    @staticmethod
    def _pack_set(admin: list[Pack]) -> PackSet:
        seen = {p.id: p for p in shipped_packs()}
        for pack in admin:
            other = seen.get(pack.id)
            if other is not None:
                raise PackError(
                    f"pack id {pack.id!r} is already used by {other.source_file}; give the new version "
                    "its own id and list what it replaces under 'supersedes'",
                    file=pack.source_file,
                    line=None,
                    key="id",
                )
            seen[pack.id] = pack
        return PackSet([*shipped_packs(), *admin])
