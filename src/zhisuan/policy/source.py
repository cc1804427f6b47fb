"""The one source of policy packs: the shipped packs plus the administrators' folder, validated once.

An administrator publishes a pack (or a new version of one) by dropping a ``*.yaml`` file into the
folder (``<data dir>/packs`` by default). :meth:`PackSource.current` notices the change with a cheap
signature (file names, sizes and modification times) and reloads, so a running server picks the new
version up; an unchanged folder is never parsed again. A file that breaks the schema never replaces
the set in force: :meth:`PackSource.reload` raises its :class:`PackError` (file, line, key), and
:meth:`PackSource.current` keeps answering from the previous set and keeps the error in ``error``.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cache
from pathlib import Path

from zhisuan.policy.errors import PackError
from zhisuan.policy.loader import builtin_pack_dir, load_pack
from zhisuan.policy.packset import PackSet
from zhisuan.policy.schema import Pack

log = logging.getLogger(__name__)

#: one file's identity for change detection: (name, size, mtime in ns)
FileStamp = tuple[str, int, int]


@cache
def shipped_packs() -> tuple[Pack, ...]:
    """The packs shipped inside the package, parsed once per process (they never change while running)."""
    return tuple(load_pack(p) for p in sorted(builtin_pack_dir().glob("*.yaml")))


class PackSource:
    """The shipped packs plus every ``*.yaml`` in ``folder`` (None or missing: the shipped packs only)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        #: the problem with the folder's current files while an older set stays in force (None: none)
        self.error: PackError | None = None
        self._lock = threading.Lock()
        self._packs: PackSet | None = None
        self._signature: tuple[FileStamp, ...] | None = None
        self._failed: tuple[FileStamp, ...] | None = None
        self._parsed: dict[str, tuple[FileStamp, Pack]] = {}

    def current(self) -> PackSet:
        """The pack set in force, reloaded first when the folder has changed since it was loaded.

        Raises :class:`PackError` only when no set could ever be loaded; after that, a bad file keeps
        the previous set in force (see ``error``).
        """
        signature = self._stamps()
        packs = self._packs
        if packs is not None and signature == self._signature:
            return packs
        with self._lock:
            if self._packs is not None and signature == self._signature:
                return self._packs
            if signature == self._failed and self.error is not None:
                if self._packs is None:
                    raise self.error
                return self._packs  # the bad file is still there: not parsed again
            try:
                return self._load(signature, reparse=False)
            except PackError as exc:
                if self._packs is None:
                    raise
                log.warning("policy pack not loaded, the previous packs stay in force: %s", exc)
                return self._packs

    def reload(self) -> PackSet:
        """Re-read and validate every administrator's file; a bad one raises and keeps the set in force."""
        with self._lock:
            return self._load(self._stamps(), reparse=True)

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

    def _load(self, signature: tuple[FileStamp, ...], *, reparse: bool) -> PackSet:
        """Parse what changed, check the set, then swap it in (nothing is swapped when anything fails)."""
        try:
            parsed: dict[str, tuple[FileStamp, Pack]] = {}
            for stamp in signature:
                name = stamp[0]
                known = self._parsed.get(name)
                if known is not None and known[0] == stamp and not reparse:
                    parsed[name] = known
                else:
                    assert self.folder is not None
                    parsed[name] = (stamp, load_pack(self.folder / name))
            packs = self._pack_set([p for _, p in parsed.values()])
        except PackError as exc:
            self._failed, self.error = signature, exc
            raise
        self._packs, self._signature, self._parsed = packs, signature, parsed
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
