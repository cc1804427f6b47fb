"""A set of packs: which article version judges an event on a date, with successors and conflicts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from zhisuan.core.errors import PolicyError
from zhisuan.policy.schema import ArticleVersion, Pack


class PackSet:
    """Packs that together decide which article version is in force on a date.

    An article version applies on ``on`` when ``on`` is within its effective dates and no other pack in
    the set supersedes that article of its pack from a date ≤ ``on``. Two versions still applying on
    one date is an error (an ambiguous set), never a silent pick.
    """

    def __init__(self, packs: Iterable[Pack]) -> None:
        self._packs: dict[str, Pack] = {}
        for pack in packs:
            if pack.id in self._packs:
                raise PolicyError(
                    f"two packs have the id {pack.id!r} "
                    f"({self._packs[pack.id].source_file}, {pack.source_file})",
                    field="id",
                )
            self._packs[pack.id] = pack
        # (older pack, article) -> (date, successor pack)
        self._cut: dict[tuple[str, str], tuple[dt.date, str]] = {}
        for pack in self._packs.values():
            for older, arts in pack.supersedes.items():
                for art, day in arts.items():
                    prev = self._cut.get((older, art))
                    if prev is None or day < prev[0]:
                        self._cut[(older, art)] = (day, pack.id)
        self._resolved: dict[tuple[str, dt.date, str | None], ArticleVersion | None] = {}
        #: the engine's per-(program, date, pack) cache of compiled article versions
        self.engine_cache: dict[object, object] = {}

    def __iter__(self) -> Iterator[Pack]:
        return iter(self._packs.values())

    def __len__(self) -> int:
        return len(self._packs)

    def pack(self, pack_id: str) -> Pack:
        found = self._packs.get(pack_id)
        if found is None:
            raise PolicyError(
                f"no pack {pack_id!r}; known: {', '.join(sorted(self._packs)) or 'none'}", field="pack"
            )
        return found

    def programs(self) -> tuple[str, ...]:
        """Every article id any pack defines, in numeric order."""
        arts = {a for p in self._packs.values() for a in p.articles}
        return tuple(sorted(arts, key=lambda a: int(a[3:])))

    def versions(self, article: str) -> list[ArticleVersion]:
        """Every version of an article across the set, oldest first."""
        out = [p.articles[article] for p in self._packs.values() if article in p.articles]
        return sorted(out, key=lambda v: v.effective_from)

    def superseded_from(self, version: ArticleVersion) -> tuple[dt.date, str] | None:
        return self._cut.get((version.pack_id, version.article))

    def in_force_until(self, version: ArticleVersion) -> dt.date | None:
        """Last day the version judges events, taking successors into account."""
        cut = self.superseded_from(version)
        if cut is None:
            return version.effective_to
        last = cut[0] - dt.timedelta(days=1)
        return last if version.effective_to is None else min(last, version.effective_to)

    def resolve(self, article: str, on: dt.date, pack_id: str | None = None) -> ArticleVersion | None:
        """The article version that judges an event on ``on`` (None: no policy in force)."""
        key = (article, on, pack_id)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        if pack_id is not None:
            version = self.pack(pack_id).articles.get(article)
            found = version if version is not None and version.in_effect(on) else None
        else:
            candidates = []
            for pack in self._packs.values():
                version = pack.articles.get(article)
                if version is None or not version.in_effect(on):
                    continue
                cut = self._cut.get((pack.id, article))
                if cut is not None and cut[0] <= on:
                    continue
                candidates.append(version)
            if len(candidates) > 1:
                names = ", ".join(v.pack_id for v in candidates)
                raise PolicyError(
                    f"packs {names} all put {article} in force on {on} and none supersedes the others; "
                    "add a 'supersedes' entry or choose one with --pack",
                    field="pack",
                    article=article,
                )
            found = candidates[0] if candidates else None
        if len(self._resolved) > 100_000:
            self._resolved.clear()
        self._resolved[key] = found
        return found

    def knows(self, article: str) -> bool:
        return any(article in p.articles for p in self._packs.values())


def packs_period(packs: PackSet, version: ArticleVersion) -> str:
    """'2023-11-08..2025-12-31' as the set applies it (a successor may end a version early)."""
    end = packs.in_force_until(version)
    return f"{version.effective_from.isoformat()}..{end.isoformat() if end else '…'}"


def as_params(version: ArticleVersion, on: dt.date) -> dict[str, Any]:
    """Every parameter value in force on ``on``."""
    return {name: p.at(on) for name, p in version.parameters.items()}
