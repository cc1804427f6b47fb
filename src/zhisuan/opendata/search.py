"""Chinese full-text search over the catalog: jieba segmentation, then the database's own index.

Titles and descriptions are stored segmented in *search mode* (``合肥市公共交通`` → ``合肥 合肥市 公共
交通 公共交通``), so a two-character word inside a longer word is a token of its own. The migration
indexes the segmented columns: an FTS5 table on SQLite (ranked by ``bm25``), a weighted ``tsvector``
with a GIN index on PostgreSQL (ranked by ``ts_rank``; title words weigh more than the description's).
A query is segmented the same way and every word must match. An exact title match always comes first.

Facets (publisher, theme, openness, format) are counted over the matches, not only the page shown:
exactly up to :data:`COUNT_LIMIT` matches; a broader query says "more than" that, and its facets count
its first matches.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from zhisuan.core.errors import ValidationError
from zhisuan.core.text import clean_name
from zhisuan.opendata.model import FORMATS, THEMES, DatasetState, Openness

MAX_QUERY = 100
MAX_WORDS = 20
#: on PostgreSQL a query matching more than this many datasets is ranked among this many candidates
#: (the exact title match is always included): ranking every row of a one-word query over a whole
#: catalog costs more than a person waits, and the first pages of so broad a query are alike anyway
RANK_CANDIDATES = 1000
#: totals and facets are exact up to this many matches; a broader query reports "more than" it
COUNT_LIMIT = 1000
_WORD = re.compile(r"\w", re.UNICODE)
PUBLISHER = re.compile(r"city:[0-9]{6}|org:[0-9]{1,10}")
_lock = threading.Lock()
_jieba: ModuleType | None = None


def _segmenter() -> ModuleType:
    """jieba, loaded once on first use (its dictionary takes a second or two)."""
    global _jieba
    with _lock:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba = jieba
    return _jieba


def words(value: str, *, search_mode: bool = True) -> list[str]:
    """The words of ``value`` (search mode: every dictionary word inside a longer one too), lower-cased,
    without punctuation, each once.

    >>> words("合肥市公共交通线路")
    ['合肥', '合肥市', '公共', '交通', '公共交通', '线路']
    >>> words("合肥市公共交通线路", search_mode=False)
    ['合肥市', '公共交通', '线路']
    """
    jieba = _segmenter()
    out: list[str] = []
    for token in jieba.cut_for_search(value) if search_mode else jieba.cut(value):
        token = token.strip().lower()
        if token and _WORD.search(token) and token not in out:
            out.append(token)
    return out


def segmented(value: str) -> str:
    """What the index stores: the words separated by spaces."""
    return " ".join(words(value))


def query_words(q: str) -> list[str]:
    """A person's query as the words every match must hold (too long a query is refused).

    The query is cut in precise mode: its words are among the index's search-mode words, and fewer
    words to match make a faster query (``公共交通`` is one word, found as such in the index).
    """
    q = clean_name(q, "q", max_length=MAX_QUERY)
    found = words(q, search_mode=False)
    if len(found) > MAX_WORDS:
        raise ValidationError(f"at most {MAX_WORDS} words", field="q")
    return found


@dataclass(frozen=True, slots=True)
class Filters:
    """Facet values chosen (each narrows the result)."""

    publisher: str | None = None
    theme: str | None = None
    openness: str | None = None
    format: str | None = None

    def check(self) -> Filters:
        if self.publisher is not None and not PUBLISHER.fullmatch(self.publisher):
            raise ValidationError("a publisher is city:CODE or org:ID", field="publisher")
        if self.theme is not None and self.theme not in THEMES:
            raise ValidationError(f"one of {', '.join(THEMES)}", field="theme")
        if self.openness is not None and self.openness not in {o.value for o in Openness}:
            raise ValidationError(f"one of {', '.join(o.value for o in Openness)}", field="openness")
        if self.format is not None and self.format.upper() not in FORMATS:
            raise ValidationError(f"one of {', '.join(FORMATS)}", field="format")
        return self


@dataclass(slots=True)
class Hits:
    """A page of matching dataset ids (best first), how many match, and the facet counts."""

    ids: list[int]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    #: False when more than :data:`COUNT_LIMIT` match: ``total`` is then that limit, and the facets
    #: count the first matches only
    exact: bool = True
    #: publisher key → name, for the publishers among the counted matches
    names: dict[str, str] = field(default_factory=dict)


def _where(filters: Filters, params: dict[str, object], alias: str = "d") -> str:
    clauses = [f"{alias}.state = :published"]
    params["published"] = DatasetState.PUBLISHED.value
    if filters.publisher:
        clauses.append(f"{alias}.publisher_key = :f_publisher")
        params["f_publisher"] = filters.publisher
    if filters.openness:
        clauses.append(f"{alias}.openness = :f_openness")
        params["f_openness"] = filters.openness
    if filters.theme:
        clauses.append(f"{alias}.themes LIKE :f_theme")
        params["f_theme"] = f'%"{filters.theme}"%'
    if filters.format:
        clauses.append(f"{alias}.formats LIKE :f_format")
        params["f_format"] = f'%"{filters.format.upper()}"%'
    return " AND ".join(clauses)


def _match(dialect: str, terms: Sequence[str], params: dict[str, object]) -> tuple[str, str, str]:
    """(FROM fragment, WHERE fragment, rank expression: smaller is better) for the dialect."""
    if dialect == "postgresql":
        params["tsq"] = " ".join(terms)
        return (
            "opendata_datasets d",
            "d.search_vector @@ plainto_tsquery('simple', :tsq)",
            "-ts_rank(d.search_vector, plainto_tsquery('simple', :tsq))",
        )
    # FTS5: each word quoted (a phrase of one token), all of them required
    params["fts"] = " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)
    return (
        "opendata_fts JOIN opendata_datasets d ON d.id = opendata_fts.rowid",
        "opendata_fts MATCH :fts",
        "bm25(opendata_fts, 10.0, 1.0)",
    )


def search(
    session: Session,
    q: str | None,
    filters: Filters = Filters(),
    *,
    limit: int = 20,
    offset: int = 0,
    facets: bool = True,
) -> Hits:
    """Published datasets matching ``q`` (all of them when ``q`` is empty), best first."""
    filters = filters.check()
    dialect = session.get_bind().dialect.name
    terms = query_words(q) if q else []
    params: dict[str, object] = {"limit": limit, "offset": offset}
    where = _where(filters, params)
    if not terms:
        if q and q.strip():  # only punctuation: nothing can match
            return Hits([], 0, _empty_facets() if facets else {})
        ids = [
            int(r[0])
            for r in session.execute(
                text(
                    f"SELECT d.id FROM opendata_datasets d WHERE {where} "
                    "ORDER BY d.title, d.id LIMIT :limit OFFSET :offset"
                ),
                params,
            )
        ]
        return _counted(session, ids, "opendata_datasets d", where, params, facets=facets)
    source, match, rank = _match(dialect, terms, params)
    params["exact"] = clean_name(q or "", "q", max_length=MAX_QUERY)
    cond = f"{match} AND {where}"
    if dialect == "postgresql":
        # the exact title matches (a b-tree lookup), then the rest ranked among a bounded set of
        # candidates; UNION ALL: nothing to compare, nothing hashed
        sql = (
            f"SELECT x.id FROM ("
            f"  SELECT d.id, 0 AS grp, 0.0 AS r FROM opendata_datasets d WHERE d.title = :exact AND {where}"
            f"  UNION ALL SELECT c.id, 1, c.r FROM ("
            f"    SELECT d.id, {rank} AS r FROM {source} WHERE {cond} AND d.title <> :exact"
            f"    LIMIT {RANK_CANDIDATES}) c"
            f") x ORDER BY x.grp, x.r, x.id LIMIT :limit OFFSET :offset"
        )
    else:
        sql = (
            f"SELECT d.id FROM {source} WHERE {cond} "
            f"ORDER BY (d.title = :exact) DESC, {rank}, d.id LIMIT :limit OFFSET :offset"
        )
    ids = [int(r[0]) for r in session.execute(text(sql), params)]
    return _counted(session, ids, source, cond, params, facets=facets)


def _counted(
    session: Session, ids: list[int], source: str, cond: str, params: dict[str, object], *, facets: bool
) -> Hits:
    """The page with its total and facets, counted over the first :data:`COUNT_LIMIT` + 1 matches in one
    pass (one row per publisher, with its name, its count and its sums per facet value)."""
    sums: list[str] = []
    keys: list[tuple[str, str]] = []
    if facets:
        for code in THEMES:
            sums.append(f"sum(CASE WHEN d.themes LIKE '%\"{code}\"%' THEN 1 ELSE 0 END)")
            keys.append(("theme", code))
        for o in Openness:
            sums.append(f"sum(CASE WHEN d.openness = '{o.value}' THEN 1 ELSE 0 END)")
            keys.append(("openness", o.value))
        for f in FORMATS:
            sums.append(f"sum(CASE WHEN d.formats LIKE '%\"{f}\"%' THEN 1 ELSE 0 END)")
            keys.append(("format", f))
    columns = "".join(f", {x}" for x in sums)
    rows = session.execute(
        text(
            f"SELECT d.publisher_key, min(d.publisher_name), count(*){columns} FROM ("
            f"SELECT d.publisher_key, d.publisher_name, d.themes, d.openness, d.formats "
            f"FROM {source} WHERE {cond} LIMIT {COUNT_LIMIT + 1}) d GROUP BY d.publisher_key"
        ),
        params,
    ).all()
    out = _empty_facets()
    names: dict[str, str] = {}
    for row in rows:
        out["publisher"][str(row[0])] = int(row[2])
        names[str(row[0])] = str(row[1])
        for (facet, value), count in zip(keys, row[3:], strict=True):
            if count:
                out[facet][value] = out[facet].get(value, 0) + int(count)
    out["publisher"] = dict(sorted(out["publisher"].items(), key=lambda kv: (-kv[1], kv[0])))
    total = sum(out["publisher"].values())
    exact = total <= COUNT_LIMIT
    return Hits(ids, min(total, COUNT_LIMIT), out if facets else {}, exact=exact, names=names)


def _empty_facets() -> dict[str, dict[str, int]]:
    return {"publisher": {}, "theme": {}, "openness": {}, "format": {}}


def ilike_scan(session: Session, q: str, limit: int = 20) -> list[int]:
    """The naive alternative the benchmark compares with: a substring scan over titles and descriptions."""
    stmt = text(
        "SELECT id FROM opendata_datasets WHERE state = 'published' AND "
        "(title ILIKE :p OR description ILIKE :p) ORDER BY (title = :q) DESC, id LIMIT :limit"
    ).bindparams(bindparam("p"), bindparam("q"))
    return [int(r[0]) for r in session.execute(stmt, {"p": f"%{q}%", "q": q, "limit": limit})]


def as_list(raw: str) -> list[str]:
    """A JSON list column as a list of strings."""
    value = json.loads(raw or "[]")
    return [str(v) for v in value] if isinstance(value, list) else []


def dump_list(values: Iterable[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


__all__ = [
    "COUNT_LIMIT",
    "MAX_QUERY",
    "RANK_CANDIDATES",
    "Filters",
    "Hits",
    "as_list",
    "dump_list",
    "ilike_scan",
    "query_words",
    "search",
    "segmented",
    "words",
]
