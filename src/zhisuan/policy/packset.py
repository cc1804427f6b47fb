"""A set of packs: which article version judges an event on a date, with successors and conflicts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from zhisuan.core.errors import PolicyError
from zhisuan.policy.schema import ArticleVersion, Pack, article_key


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
        # (older pack, article) -> (date, successor pack, successor article)
        self._cut: dict[tuple[str, str], tuple[dt.date, str, str]] = {}
        for pack in self._packs.values():
            for older, arts in pack.supersedes.items():
                for art, day in arts.items():
                    by = pack.renumbers.get(older, {}).get(art, art)
                    prev = self._cut.get((older, art))
                    # the earliest successor wins; on one date, one that keeps the number (a revision)
                    if prev is None or day < prev[0] or (day == prev[0] and by == art != prev[2]):
                        self._cut[(older, art)] = (day, pack.id, by)
        # without a pack, article ids mean the numbering of the packs that are not renumbered
        # successors (the 2023 numbering): 2.0's own art1 … and its revisions need the pack named
        # (a city's pack is named with its pack: its article ids never clash with the province's)
        self._default = frozenset(
            p for p, pack in self._packs.items() if not self._renumbered_family(p) and not pack.city_scoped()
        )
        self._walked: dict[
            tuple[str, dt.date, str | None], tuple[ArticleVersion | None, ArticleVersion | None]
        ] = {}
        #: the engine's per-(program, date, pack) cache of compiled article versions
        self.engine_cache: dict[object, object] = {}

    def _renumbered_family(self, pack_id: str) -> bool:
        """Whether a pack has its own numbering or revises (same numbers) a pack that has one."""
        seen: set[str] = set()
        todo = [pack_id]
        while todo:
            pid = todo.pop()
            if pid in seen or pid not in self._packs:
                continue
            seen.add(pid)
            pack = self._packs[pid]
            if pack.renumbered():
                return True
            todo.extend(pack.supersedes)
        return False

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
        return tuple(sorted(arts, key=article_key))

    def versions(self, article: str) -> list[ArticleVersion]:
        """Every version of an article across the set, oldest first."""
        out = [p.articles[article] for p in self._packs.values() if article in p.articles]
        return sorted(out, key=lambda v: v.effective_from)

    def superseded_from(self, version: ArticleVersion) -> tuple[dt.date, str] | None:
        """(first day of the successor, successor pack) when another pack replaces this version."""
        cut = self._cut.get((version.pack_id, version.article))
        return None if cut is None else (cut[0], cut[1])

    def successor(self, version: ArticleVersion) -> ArticleVersion | None:
        """The article version that replaces this one (possibly under another number), if any."""
        cut = self._cut.get((version.pack_id, version.article))
        return None if cut is None else self._packs[cut[1]].articles[cut[2]]

    def in_force_until(self, version: ArticleVersion) -> dt.date | None:
        """Last day the version judges events, taking successors into account."""
        cut = self.superseded_from(version)
        if cut is None:
            return version.effective_to
        last = cut[0] - dt.timedelta(days=1)
        return last if version.effective_to is None else min(last, version.effective_to)

    def _follow(
        self, version: ArticleVersion, on: dt.date
    ) -> tuple[ArticleVersion | None, ArticleVersion | None]:
        """(the version judging ``on`` in this numbering, or None; the renumbered successor if replaced)."""
        for _ in range(len(self._packs) + 1):  # a successor chain visits each pack at most once
            cut = self._cut.get((version.pack_id, version.article))
            if cut is None or cut[0] > on:
                return (version if version.in_effect(on) else None), None
            succ = self._packs[cut[1]].articles[cut[2]]
            if cut[2] != version.article:
                return None, succ  # replaced under another number: say by what, judge nothing
            version = succ
        raise PolicyError(f"the packs supersede {version.article} in a cycle", field="supersedes")

    def _walk(
        self, article: str, on: dt.date, pack_id: str | None
    ) -> tuple[ArticleVersion | None, ArticleVersion | None]:
        key = (article, on, pack_id)
        found = self._walked.get(key)
        if found is not None:
            return found
        if pack_id is not None:
            own = self.pack(pack_id).articles.get(article)
            starts = [own] if own is not None else []
        else:
            starts = [
                p.articles[article]
                for p in self._packs.values()
                if p.id in self._default and article in p.articles
            ]
        candidates: list[ArticleVersion] = []
        replaced_by: ArticleVersion | None = None
        for start in starts:
            version, succ = self._follow(start, on)
            if version is not None and all(version is not c for c in candidates):
                candidates.append(version)
            replaced_by = replaced_by or succ
        if len(candidates) > 1:
            names = ", ".join(v.pack_id for v in candidates)
            raise PolicyError(
                f"packs {names} all put {article} in force on {on} and none supersedes the others; "
                "add a 'supersedes' entry or choose one with --pack",
                field="pack",
                article=article,
            )
        found = (candidates[0], None) if candidates else (None, replaced_by)
        if len(self._walked) > 100_000:
            self._walked.clear()
        self._walked[key] = found
        return found

    def resolve(self, article: str, on: dt.date, pack_id: str | None = None) -> ArticleVersion | None:
        """The article version that judges an event on ``on`` (None: no policy in force).

        Without ``pack_id`` the article id is read in the base numbering (the 2023 pack's); with it, in
        that pack's. Successors with the same number are followed; one with another number ends it.
        """
        return self._walk(article, on, pack_id)[0]

    def superseded_by(self, article: str, on: dt.date, pack_id: str | None = None) -> ArticleVersion | None:
        """When nothing judges ``article`` on ``on`` because another article replaced it: that article."""
        return self._walk(article, on, pack_id)[1]

    def for_measure(self, measure: str, on: dt.date) -> ArticleVersion | None:
        """The province-wide article version carrying ``measure`` (e.g. compute_voucher) in force on ``on``.

        Two in force on one date without a successor relation is an error, as for :meth:`resolve`;
        city programs stacking on it are :meth:`all_for_measure`'s with a city.
        """
        found = self.all_for_measure(measure, on)
        if len(found) > 1:
            names = ", ".join(v.qualified for v in found)
            raise PolicyError(
                f"{names} all carry {measure} on {on} and none supersedes the others", field="pack"
            )
        return found[0] if found else None

    def all_for_measure(self, measure: str, on: dt.date, city: str | None = None) -> list[ArticleVersion]:
        """Every article version carrying ``measure`` that judges events on ``on`` (one per program).

        Without ``city``: the province-wide programs. With it: the programs covering that city, the
        province's first, then the city's own packs (by id) — the order settlement stacks them in.
        """
        out = []
        packs = sorted(self._packs.values(), key=lambda p: (p.city_scoped(), p.id))
        for pack in packs:
            if (pack.city_scoped() and city is None) or (city is not None and not pack.applies_to(city)):
                continue
            for version in pack.articles.values():
                if version.measure != measure or not version.in_effect(on):
                    continue
                cut = self._cut.get((pack.id, version.article))
                if cut is None or cut[0] > on:
                    out.append(version)
        return out

    def measure_versions(self, measure: str) -> list[ArticleVersion]:
        """Every article version carrying ``measure``, oldest first."""
        out = [v for p in self._packs.values() for v in p.articles.values() if v.measure == measure]
        return sorted(out, key=lambda v: v.effective_from)

    def base_numbering(self, pack_id: str) -> bool:
        """Whether a pack's article ids are the ones meant when no pack is named (the 2023 numbering)."""
        return pack_id in self._default

    def knows(self, article: str, pack_id: str | None = None) -> bool:
        """Whether ``article`` names an article: of ``pack_id``, or (no pack) in the base numbering."""
        if pack_id is not None:
            return article in self.pack(pack_id).articles
        return any(article in p.articles for p in self._packs.values() if p.id in self._default)


def packs_period(packs: PackSet, version: ArticleVersion) -> str:
    """'2023-11-08..2025-12-31' as the set applies it (a successor may end a version early)."""
    end = packs.in_force_until(version)
    return f"{version.effective_from.isoformat()}..{end.isoformat() if end else '…'}"


def as_params(version: ArticleVersion, on: dt.date) -> dict[str, Any]:
    """Every parameter value in force on ``on``."""
    return {name: p.at(on) for name, p in version.parameters.items()}
