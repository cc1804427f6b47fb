"""Publishing a pack version: check an upload, submit it, approve or reject it — through the unit of work.

Every step is audited (``zhisuan.audit``). Nothing is stored for an upload that does not parse or
does not fit with the packs in force (a :class:`PackError` naming file, line and key). An approved
version is served by the platform's :class:`PackSource` from its next call (see :mod:`.source`).
The callers commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path, PurePath

from sqlalchemy import select

from zhisuan import audit
from zhisuan.core.access import Principal
from zhisuan.core.clock import Clock, Month, shanghai_date
from zhisuan.core.errors import NotFoundError, ValidationError
from zhisuan.policy import Pack, PackSet, PackSource, article_key, builtin_pack_dir, parse_pack
from zhisuan.publishing.recorded import latest_month, recorded_cases
from zhisuan.publishing.review import diff_in_force, impact
from zhisuan.publishing.rules import (
    State,
    check_may_decide,
    check_may_publish,
    check_newest,
    clean_reason,
    next_version,
)
from zhisuan.store.models.publishing import PolicyVersionRow
from zhisuan.store.uow import UnitOfWork

#: an uploaded pack is a text document, not a data dump
MAX_TEXT = 512 * 1024
MAX_NOTE = 2_000


def clean_filename(filename: str | None, fallback: str = "pack.yaml") -> str:
    """The bare name of an uploaded file (no folders), ending in .yaml or .yml."""
    name = PurePath((filename or "").replace("\\", "/")).name.strip() or fallback
    if not name.endswith((".yaml", ".yml")):
        name += ".yaml"
    return name[:200]


def check_text(text: str, filename: str, source: PackSource) -> tuple[Pack, PackSet]:
    """Parse an upload and fit it into the packs in force: (the pack, the set approving it would serve)."""
    if len(text) > MAX_TEXT:
        raise ValidationError(f"a pack is at most {MAX_TEXT // 1024} KiB of YAML", field="text")
    pack = parse_pack(text, filename)
    return pack, source.with_candidate(pack)


def review(
    uow: UnitOfWork,
    who: Principal,
    source: PackSource,
    text: str,
    filename: str,
    month: Month | None = None,
) -> dict[str, object]:
    """Validate an upload, diff it against the version in force and list the recorded decisions it
    would change (in ``month``, default the latest settled one); stores nothing."""
    check_may_publish(who)
    filename = clean_filename(filename)
    pack, candidate = check_text(text, filename, source)
    packs = source.current()
    month = month or latest_month(uow.session)
    cases = recorded_cases(uow.session, month) if month is not None else []
    return {
        "valid": True,
        "pack": pack.id,
        "filename": filename,
        "articles": sorted(pack.articles, key=article_key),
        "diff": diff_in_force(pack, packs),
        "would_change": impact(cases, packs, candidate, str(month) if month else None).to_dict(),
    }


def _row(uow: UnitOfWork, version_id: int) -> PolicyVersionRow:
    row = uow.session.get(PolicyVersionRow, version_id)
    if row is None:
        raise NotFoundError(f"no pack version {version_id}", field="version_id")
    return row


def _versions_of(uow: UnitOfWork, pack_id: str, state: State | None = None) -> list[int]:
    q = select(PolicyVersionRow.version).where(PolicyVersionRow.pack_id == pack_id)
    if state is not None:
        q = q.where(PolicyVersionRow.state == state.value)
    return list(uow.session.execute(q).scalars())


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def submit(
    uow: UnitOfWork,
    who: Principal,
    source: PackSource,
    text: str,
    filename: str,
    clock: Clock,
    note: str = "",
    month: Month | None = None,
) -> dict[str, object]:
    """Store a valid upload as a submitted version (audited), with its review; an invalid one raises."""
    checked = review(uow, who, source, text, filename, month)
    if len(note) > MAX_NOTE:
        raise ValidationError(f"the note is at most {MAX_NOTE} characters", field="note")
    pack_id = str(checked["pack"])
    now = clock.now()
    row = PolicyVersionRow(
        pack_id=pack_id,
        version=next_version(_versions_of(uow, pack_id)),
        filename=str(checked["filename"]),
        text=text,
        note=note.strip(),
        state=State.SUBMITTED.value,
        submitted_by=who.username,
        submitted_by_id=who.user_id,
        submitted_at=now,
    )
    uow.session.add(row)
    uow.session.flush()
    audit.record(
        uow,
        now,
        who.username,
        "policy.version.submit",
        f"policy_version:{row.id}",
        {"pack": pack_id, "version": row.version, "sha256": _digest(text), "note": row.note},
    )
    return {**view(row), "review": checked}


def approve(
    uow: UnitOfWork, who: Principal, source: PackSource, version_id: int, clock: Clock
) -> dict[str, object]:
    """A second province user approves a submitted version; it must still fit with the packs in force."""
    row = _row(uow, version_id)
    check_may_decide(who, State(row.state), row.submitted_by)
    check_newest(row.version, _versions_of(uow, row.pack_id, State.APPROVED))
    check_text(row.text, row.filename, source)
    return _decide(uow, who, row, State.APPROVED, None, clock)


def reject(uow: UnitOfWork, who: Principal, version_id: int, reason: str, clock: Clock) -> dict[str, object]:
    """A second province user rejects a submitted version, saying why."""
    row = _row(uow, version_id)
    check_may_decide(who, State(row.state), row.submitted_by)
    return _decide(uow, who, row, State.REJECTED, clean_reason(reason), clock)


def _decide(
    uow: UnitOfWork,
    who: Principal,
    row: PolicyVersionRow,
    state: State,
    reason: str | None,
    clock: Clock,
) -> dict[str, object]:
    now = clock.now()
    row.state, row.reason = state.value, reason
    row.decided_by, row.decided_by_id, row.decided_at = who.username, who.user_id, now
    uow.session.flush()
    detail: dict[str, object] = {"pack": row.pack_id, "version": row.version, "sha256": _digest(row.text)}
    if reason is not None:
        detail["reason"] = reason
    action = "policy.version.approve" if state is State.APPROVED else "policy.version.reject"
    audit.record(uow, now, who.username, action, f"policy_version:{row.id}", detail)
    return view(row)


def view(row: PolicyVersionRow) -> dict[str, object]:
    """A version as JSON (without its text)."""

    def when(at: dt.datetime | None) -> str | None:
        return at.isoformat() if at is not None else None

    return {
        "id": row.id,
        "pack": row.pack_id,
        "version": row.version,
        "filename": row.filename,
        "note": row.note,
        "state": row.state,
        "submitted_by": row.submitted_by,
        "submitted_at": when(row.submitted_at),
        "decided_by": row.decided_by,
        "decided_at": when(row.decided_at),
        "reason": row.reason,
    }


def list_versions(
    uow: UnitOfWork, who: Principal, pack_id: str | None = None, state: str | None = None
) -> list[dict[str, object]]:
    """Versions, newest first (of one pack, in one state)."""
    check_may_publish(who)
    q = select(PolicyVersionRow).order_by(PolicyVersionRow.id.desc())
    if pack_id:
        q = q.where(PolicyVersionRow.pack_id == pack_id)
    if state:
        q = q.where(PolicyVersionRow.state == State(state).value)
    return [view(r) for r in uow.session.execute(q).scalars()]


def get_version(
    uow: UnitOfWork, who: Principal, version_id: int, source: PackSource, clock: Clock
) -> dict[str, object]:
    """One version with its text and, per article, its dates and whether it judges events today."""
    check_may_publish(who)
    row = _row(uow, version_id)
    packs = source.current()
    today = shanghai_date(clock.now())
    served = next((p for p in packs if p.id == row.pack_id), None)
    is_served = served is not None and served.source_file == served_name(row)
    articles = []
    pack = parse_pack(row.text, row.filename)  # stored only after it parsed
    for art, version in sorted(pack.articles.items(), key=lambda kv: article_key(kv[0])):
        articles.append(
            {
                "article": art,
                "from": version.effective_from.isoformat(),
                "to": version.effective_to.isoformat() if version.effective_to else None,
                "in_force_today": is_served and packs.resolve(art, today, row.pack_id) is not None,
            }
        )
    return {
        **view(row),
        "text": row.text,
        "served": is_served,
        "today": today.isoformat(),
        "articles": articles,
    }


def served_name(row: PolicyVersionRow) -> str:
    """The name the pack source gives an approved version (its 'file' in listings and errors)."""
    return f"{row.filename} (version {row.version}, #{row.id})"


def text_in_force(uow: UnitOfWork, source: PackSource, pack_id: str) -> tuple[str, str]:
    """(file name, YAML text) of the pack of this id in force, to start a new version from."""
    row = uow.session.execute(
        select(PolicyVersionRow)
        .where(PolicyVersionRow.pack_id == pack_id, PolicyVersionRow.state == State.APPROVED.value)
        .order_by(PolicyVersionRow.version.desc())
        .limit(1)
    ).scalar()
    if row is not None:
        return row.filename, row.text
    pack = next((p for p in source.current() if p.id == pack_id), None)
    if pack is None:
        raise NotFoundError(f"no pack {pack_id!r} in force", field="pack")
    # shipped packs name their file relative to the package's folder, the administrators' by full path
    places = [Path(pack.source_file), builtin_pack_dir() / pack.source_file]
    if source.folder is not None:
        places.append(source.folder / Path(pack.source_file).name)
    for path in places:
        if path.is_file():
            return path.name, path.read_text(encoding="utf-8")
    raise NotFoundError(f"the file of pack {pack_id!r} is not readable here", field="pack")
