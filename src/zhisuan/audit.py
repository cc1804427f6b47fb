# ruff: noqa: S608  -- SQL text is built only from constant fragments; every value is a bound parameter
"""The append-only, hash-chained audit log (DESIGN.md, Audit).

Every event's hash is an HMAC-SHA-256, keyed with a secret kept outside the database (the file
``<data dir>/audit_key``, owner-only, or ``ZHISUAN_AUDIT_KEY``), over the previous hash and the event.
A signed head (how many events, the last hash) sits in its own row; every writer locks that row first
(``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two writers never chain onto
the same event. A copy of the head is written after each commit to ``<data dir>/audit_head.json``.

What :func:`verify` catches: an event edited, removed, inserted or appended without the key; the last
events deleted or the table emptied (the signed head counts more); the chain recomputed with plain
SHA-256 (no key); the head row reset (the copy outside the database is ahead of it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import bindparam, delete, event, func, insert, select, text
from sqlalchemy.orm import Session

from zhisuan.core.access import Principal, Role
from zhisuan.core.errors import PermissionDeniedError, ValidationError
from zhisuan.store.bulk import allocate_ids
from zhisuan.store.models.core import AuditEventRow, AuditHeadRow, AuditPendingRow
from zhisuan.store.types import UTCDateTime
from zhisuan.store.uow import AFTER_COMMIT, UnitOfWork

GENESIS = "0" * 64
HEAD_ID = 1
KEY_FILE = "audit_key"
HEAD_FILE = "audit_head.json"
# a PostgreSQL advisory lock number for "the audit chain" (any constant the platform uses nowhere else)
_PG_LOCK = 0x7A687375_61756474 & 0x7FFFFFFFFFFFFFFF


@dataclass(frozen=True, slots=True)
class Seal:
    """The key the chain is signed with, and where the head's copy outside the database goes."""

    key: bytes = field(repr=False)
    head_file: Path | None = None

    @classmethod
    def for_data_dir(cls, data_dir: Path, key: str | None = None) -> Seal:
        """The key from ``key`` (a setting) or ``<data_dir>/audit_key`` (created owner-only on first use)."""
        if key:
            return cls(key.encode(), data_dir / HEAD_FILE)
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
        return cls(path.read_text().strip().encode(), data_dir / HEAD_FILE)

    @classmethod
    def ephemeral(cls) -> Seal:
        """A random key for a throwaway database (benchmarks): its chain verifies only in this process."""
        return cls(secrets.token_bytes(32))

    def event_hash(
        self, prev: str, at: dt.datetime, actor: str, action: str, subject: str, detail: str
    ) -> str:
        payload = "\x1f".join([prev, at.isoformat(), actor, action, subject, detail])
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()

    def pending_mac(self, at: dt.datetime, actor: str, action: str, subject: str, detail: str) -> str:
        """The MAC of a deferred event, checked before the sealer chains it."""
        return self.event_hash("pending", at, actor, action, subject, detail)

    def head_mac(self, count: int, last: str) -> str:
        return hmac.new(self.key, f"head\x1f{count}\x1f{last}".encode(), hashlib.sha256).hexdigest()


def _seal(uow: UnitOfWork) -> Seal:
    seal = uow.seal
    if not isinstance(seal, Seal):
        raise RuntimeError("this unit of work has no audit seal (build it with Platform.uow())")
    return seal


def _lock_head(session: Session) -> AuditHeadRow:
    """The head row, locked for this transaction (the one place the chain is serialised).

    The row lock comes first; only a database without the head row (migrated before it existed) takes
    a PostgreSQL advisory lock to create it, so no two writers ever wait for each other's lock in turn.
    """
    query = select(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).with_for_update()
    head = session.execute(query).scalar_one_or_none()
    if head is None and session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_PG_LOCK)))
        head = session.execute(query).scalar_one_or_none()
    if head is None:  # a database migrated before the head row existed
        head = AuditHeadRow(id=HEAD_ID, count=0, hash=GENESIS, mac="")
        session.add(head)
        session.flush()
    return head


_READ_HEAD = "SELECT count, hash, mac FROM audit_head WHERE id = :id"
#: per dialect: SQLite's writer holds the whole database already (``BEGIN IMMEDIATE``)
_LOCK_HEAD = {"postgresql": text(_READ_HEAD + " FOR UPDATE"), "sqlite": text(_READ_HEAD)}
_EVENT_COLUMNS = "at, actor, action, subject, detail, prev_hash, hash"
_EVENT_VALUES = ":at, :actor, :action, :subject, :detail, :prev_hash, :hash"
_SET_HEAD = "UPDATE audit_head SET count = :count, hash = :hash, mac = :mac WHERE id = :id"
# PostgreSQL: the event and the new head in one statement (one round trip while the head is locked)
_AT = bindparam("at", type_=UTCDateTime())
_APPEND_PG = text(
    f"WITH e AS (INSERT INTO audit_events ({_EVENT_COLUMNS}) VALUES ({_EVENT_VALUES})) " + _SET_HEAD
).bindparams(_AT)
_APPEND_EVENT = text(f"INSERT INTO audit_events ({_EVENT_COLUMNS}) VALUES ({_EVENT_VALUES})").bindparams(_AT)


#: the sealers of processes that chain deferred events in the background (the web app's), by seal
_SEALERS: dict[int, Callable[[], None]] = {}
#: a session's info key: this transaction deferred an event that is not chained yet
_DEFERRED_HERE = "audit_deferred_here"
_PENDING_COLUMNS = ("at", "actor", "action", "subject", "detail", "mac")
#: the most pending events one seal moves into the chain
SEAL_BATCH = 2000


def seal_in_background(seal: Seal, notify: Callable[[], None] | None) -> None:
    """Deferred events written with ``seal`` are chained by whoever ``notify`` wakes (None: at once,
    after each commit, in a transaction of their own)."""
    if notify is None:
        _SEALERS.pop(id(seal), None)
    else:
        _SEALERS[id(seal)] = notify


def _after_deferred(uow: UnitOfWork) -> None:
    notify = _SEALERS.get(id(uow.seal))
    if notify is not None:
        notify()
        return
    with uow.fresh() as sealing:
        if seal_pending(sealing):
            sealing.commit()


def seal_pending(uow: UnitOfWork) -> int:
    """Move deferred events into the chain, oldest first (up to :data:`SEAL_BATCH`), under the head's
    lock; how many. The caller commits. Events written by transactions still open wait for the next."""
    seal = _seal(uow)
    session = uow.session
    if not session.execute(select(AuditPendingRow.id).limit(1)).first():
        return 0
    head = _lock_head(session)
    if not head.mac:
        _take_over(session, seal, head)
    pending: list[AuditPendingRow] = []
    for p in (
        session.execute(select(AuditPendingRow).order_by(AuditPendingRow.id)).yield_per(SEAL_BATCH).scalars()
    ):
        if _genuine(seal, p):  # a forged row stays behind, where verify names it
            pending.append(p)
            if len(pending) == SEAL_BATCH:
                break
    if not pending:
        return 0
    ids = sorted(allocate_ids(session, AuditEventRow.__table__, len(pending)))  # type: ignore[arg-type]
    prev, rows = head.hash, []
    for event_id, p in zip(ids, pending, strict=True):
        digest = seal.event_hash(prev, p.at, p.actor, p.action, p.subject, p.detail)
        rows.append(
            {
                "id": event_id,
                "at": p.at,
                "actor": p.actor,
                "action": p.action,
                "subject": p.subject,
                "detail": p.detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    session.execute(insert(AuditEventRow), rows)
    session.execute(delete(AuditPendingRow).where(AuditPendingRow.id.in_([p.id for p in pending])))
    head.count += len(rows)
    head.hash = prev
    head.mac = seal.head_mac(head.count, prev)
    session.flush()
    if seal.head_file is not None:
        _copy_head_after_commit(session, seal, head.count, prev)
    return len(rows)


def _genuine(seal: Seal, p: AuditPendingRow) -> bool:
    """Whether a deferred event carries the key's MAC (a forged one is left where verify names it)."""
    return hmac.compare_digest(p.mac, seal.pending_mac(p.at, p.actor, p.action, p.subject, p.detail))


#: the ``INSERT`` of one deferred event (built once; its values come from :func:`deferred_event`)
DEFERRED_INSERT = insert(AuditPendingRow).values(
    {c: bindparam(c, type_=AuditPendingRow.__table__.c[c].type) for c in _PENDING_COLUMNS}
)


def deferred_event(
    uow: UnitOfWork, at: dt.datetime, actor: str, action: str, subject: str, detail: Mapping[str, object]
) -> dict[str, object]:
    """The values of :data:`DEFERRED_INSERT` for one event, MAC'd with the key, for the caller to
    insert in this unit of work: alone (:func:`record` with ``deferred=True``), or in a statement that
    writes the change too (``DEFERRED_INSERT.add_cte(…)``). Chained right after the commit."""
    seal = _seal(uow)
    body = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
    at = at.replace(microsecond=0)
    actor, subject = actor[:64], subject[:128]
    session = uow.session
    session.info[_DEFERRED_HERE] = True
    if _after_deferred not in session.info.get(AFTER_COMMIT, ()):
        uow.after_commit(_after_deferred)
    mac = seal.pending_mac(at, actor, action, subject, body)
    return {"at": at, "actor": actor, "action": action, "subject": subject, "detail": body, "mac": mac}


def record(
    uow: UnitOfWork,
    at: dt.datetime,
    actor: str,
    action: str,
    subject: str,
    detail: Mapping[str, object],
    *,
    deferred: bool = False,
) -> None:
    """Append one event to the chain (inside the caller's unit of work, committed with it).

    ``deferred`` (a hot path): one ``INSERT`` of the event now, into ``audit_pending`` with the
    caller's changes; right after the commit the event is chained (:func:`seal_pending`), by this
    process's background sealer when it has one, else at once in a transaction of its own. Many
    deferred events are chained under one lock of the head, so writers do not queue on it.

    A signed head is locked, read and moved on in two statements (PostgreSQL: one ``SELECT … FOR
    UPDATE``, then the event and the head in one ``WITH … INSERT … UPDATE``), so that the head is held
    as briefly as possible; an unsigned or missing head goes the long way (:func:`_record_taking_over`).
    """
    if deferred:
        values = deferred_event(uow, at, actor, action, subject, detail)
        uow.session.connection().execute(DEFERRED_INSERT, values)
        return
    seal = _seal(uow)
    session = uow.session
    body = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
    at = at.replace(microsecond=0)
    actor, subject = actor[:64], subject[:128]
    if session.info.pop(_DEFERRED_HERE, False):
        seal_pending(uow)  # this transaction's deferred events come before this one in the chain
    pg = session.get_bind().dialect.name == "postgresql"
    found = session.execute(_LOCK_HEAD["postgresql" if pg else "sqlite"], {"id": HEAD_ID}).first()
    if found is None or not found[2]:
        _record_taking_over(session, seal, at, actor, action, subject, body)
        return
    prev = str(found[1])
    count = int(found[0]) + 1
    digest = seal.event_hash(prev, at, actor, action, subject, body)
    values = {
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "detail": body,
        "prev_hash": prev,
        "hash": digest,
        "count": count,
        "mac": seal.head_mac(count, digest),
        "id": HEAD_ID,
    }
    if pg:
        session.execute(_APPEND_PG, values)
    else:
        session.execute(_APPEND_EVENT, values)
        session.execute(text(_SET_HEAD), values)
    loaded = session.identity_map.get(session.identity_key(AuditHeadRow, HEAD_ID))
    if loaded is not None:  # an ORM copy of the head read earlier in this transaction is now stale
        session.expire(loaded)
    if seal.head_file is not None:
        _copy_head_after_commit(session, seal, count, digest)


def _record_taking_over(
    session: Session, seal: Seal, at: dt.datetime, actor: str, action: str, subject: str, body: str
) -> None:
    """Append one event where the head is missing or unsigned (a chain written before the key)."""
    head = _lock_head(session)
    if not head.mac:
        _take_over(session, seal, head)
    prev = head.hash
    digest = seal.event_hash(prev, at, actor, action, subject, body)
    session.add(
        AuditEventRow(
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            detail=body,
            prev_hash=prev,
            hash=digest,
        )
    )
    head.count += 1
    head.hash = digest
    head.mac = seal.head_mac(head.count, digest)
    session.flush()
    if seal.head_file is not None:
        _copy_head_after_commit(session, seal, head.count, digest)


def _copy_head_after_commit(session: Session, seal: Seal, count: int, last: str) -> None:
    pending = session.info.get("audit_head")
    session.info["audit_head"] = (count, last)
    if pending is not None:
        return  # the listener is already in place for this transaction

    def write(sess: Session) -> None:
        got = sess.info.pop("audit_head", None)
        if got is not None and seal.head_file is not None:
            write_head_copy(seal, seal.head_file, *got)

    def forget(sess: Session, *_args: object) -> None:
        sess.info.pop("audit_head", None)

    event.listen(session, "after_commit", write, once=True)
    event.listen(session, "after_soft_rollback", forget, once=True)


def write_head_copy(seal: Seal, path: Path, count: int, last: str) -> None:
    """Write the head's copy outside the database (atomically, owner-only), unless it is already ahead."""
    try:
        current = json.loads(path.read_text())
        if int(current.get("count", 0)) >= count:
            return
    except (OSError, ValueError, AttributeError):
        pass
    body = json.dumps({"count": count, "hash": last, "mac": seal.head_mac(count, last)})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(body + "\n")
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`verify` found: events checked, the first bad event (its id) and why, or intact."""

    checked: int
    broken_at: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify(uow: UnitOfWork, *, with_copy: bool = True) -> Verdict:
    """Recompute the chain with the key; compare its end with the signed head and (``with_copy``,
    not after a restore from an older backup) the head's copy outside the database."""
    seal = _seal(uow)
    session = uow.session
    head = session.get(AuditHeadRow, HEAD_ID)
    prev = GENESIS
    count = 0
    for row in session.execute(select(AuditEventRow).order_by(AuditEventRow.id)).yield_per(2000).scalars():
        count += 1
        if row.prev_hash != prev:
            return Verdict(count, row.id, "does not follow the event before it (removed, inserted or forked)")
        if row.hash != seal.event_hash(prev, row.at, row.actor, row.action, row.subject, row.detail):
            return Verdict(count, row.id, "its hash is not the key's (edited, forged or re-chained)")
        prev = row.hash
    if head is None or (head.count == 0 and not head.mac):
        if count:
            return Verdict(count, None, "the chain has no signed head (run `zhisuan audit adopt` once)")
    elif not hmac.compare_digest(head.mac, seal.head_mac(head.count, head.hash)):
        return Verdict(count, None, "the signed head's signature is not the key's (head row edited)")
    elif head.count != count or head.hash != prev:
        return Verdict(count, None, f"the signed head counts {head.count} events, the table holds {count}")
    for p in session.execute(select(AuditPendingRow).order_by(AuditPendingRow.id)).yield_per(2000).scalars():
        if not _genuine(seal, p):
            return Verdict(count, None, f"deferred event {p.id} is not the key's (forged; never chained)")
    copy = _read_copy(seal) if with_copy else None
    if copy is not None:
        c_count, c_hash, c_mac = copy
        if not hmac.compare_digest(c_mac, seal.head_mac(c_count, c_hash)):
            return Verdict(count, None, f"the head's copy ({seal.head_file}) is not signed with the key")
        if c_count > count:
            return Verdict(count, None, f"the head's copy outside the database counts {c_count} events")
        if c_count and _hash_at(session, c_count) != c_hash:
            return Verdict(count, None, f"event number {c_count} is not the one the head's copy names")
    return Verdict(count)


def _read_copy(seal: Seal) -> tuple[int, str, str] | None:
    if seal.head_file is None or not seal.head_file.exists():
        return None
    try:
        data = json.loads(seal.head_file.read_text())
        return int(data["count"]), str(data["hash"]), str(data["mac"])
    except (OSError, ValueError, KeyError, TypeError):
        return (-1, "", "")  # unreadable: reported as unsigned


def _hash_at(session: Session, number: int) -> str | None:
    """The hash of the ``number``-th event (1-based, in id order)."""
    return session.execute(
        select(AuditEventRow.hash).order_by(AuditEventRow.id).offset(number - 1).limit(1)
    ).scalar()


def _take_over(session: Session, seal: Seal, head: AuditHeadRow) -> None:
    """First keyed event on a database with an unsigned chain: sign it if it is intact, else leave its
    break where verify will name it and chain on from its end."""
    rows = session.execute(select(func.count(), func.max(AuditEventRow.id)).select_from(AuditEventRow)).one()
    if not rows[0]:
        return
    try:
        _resign(session, seal, head)
    except ValidationError:
        last = session.execute(select(AuditEventRow.hash).where(AuditEventRow.id == rows[1])).scalar_one()
        head.count, head.hash = int(rows[0]), last


def _resign(session: Session, seal: Seal, head: AuditHeadRow) -> int:
    prev, new_prev, count = GENESIS, GENESIS, 0
    rows = session.execute(select(AuditEventRow).order_by(AuditEventRow.id)).scalars().all()
    for row in rows:
        count += 1
        payload = "\x1f".join([prev, row.at.isoformat(), row.actor, row.action, row.subject, row.detail])
        if row.prev_hash != prev or row.hash != hashlib.sha256(payload.encode()).hexdigest():
            raise ValidationError(
                f"the unsigned chain is broken at event {row.id}; not adopted", field="audit"
            )
        prev = row.hash
    for row in rows:
        row.prev_hash = new_prev
        row.hash = new_prev = seal.event_hash(
            new_prev, row.at, row.actor, row.action, row.subject, row.detail
        )
    session.flush()
    head.count, head.hash = count, new_prev
    head.mac = seal.head_mac(count, new_prev)
    session.flush()
    return count


def rewrite_head_copy(uow: UnitOfWork) -> None:
    """After a restore: the copy outside the database follows the restored (and verified) signed head."""
    seal = _seal(uow)
    head = uow.session.get(AuditHeadRow, HEAD_ID)
    if seal.head_file is None or head is None or not head.mac:
        return
    seal.head_file.unlink(missing_ok=True)
    write_head_copy(seal, seal.head_file, head.count, head.hash)


def adopt(uow: UnitOfWork) -> int:
    """Sign a chain written before the key existed: check it with plain SHA-256, then re-sign it.

    Refused when the head is already signed (a signed chain is never rewritten).
    """
    seal = _seal(uow)
    session = uow.session
    head = _lock_head(session)
    if head.mac:
        raise ValidationError("the audit chain is already signed; nothing to adopt", field="audit")
    count = _resign(session, seal, head)
    if seal.head_file is not None:
        _copy_head_after_commit(session, seal, count, head.hash)
    return count


# reading the log ------------------------------------------------------------------------------------

#: who may read the audit log: the platform's administrators and the provincial office (everything)
READERS = frozenset({Role.ADMIN, Role.PROVINCE})


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: dt.datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, object]
    hash: str

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "detail": self.detail,
            "hash": self.hash,
        }


def list_events(
    uow: UnitOfWork,
    who: Principal,
    *,
    action: str | None = None,
    actor: str | None = None,
    subject: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AuditEvent]:
    """The newest events first (admin and province), filtered by action prefix, actor or subject."""
    if who.role not in READERS:
        raise PermissionDeniedError("the audit log is for administrators and the provincial office")
    query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(max(1, min(limit, 1000)))
    if action:
        query = query.where(AuditEventRow.action.startswith(action, autoescape=True))
    if actor:
        query = query.where(AuditEventRow.actor == actor)
    if subject:
        query = query.where(AuditEventRow.subject == subject)
    if before_id is not None:
        query = query.where(AuditEventRow.id < before_id)
    out = []
    for row in uow.session.execute(query).scalars():
        try:
            detail = json.loads(row.detail)
        except ValueError:
            detail = {"raw": row.detail}
        out.append(AuditEvent(row.id, row.at, row.actor, row.action, row.subject, detail, row.hash))
    return out


__all__ = [
    "DEFERRED_INSERT",
    "GENESIS",
    "READERS",
    "AuditEvent",
    "Seal",
    "Verdict",
    "adopt",
    "deferred_event",
    "list_events",
    "record",
    "rewrite_head_copy",
    "seal_in_background",
    "seal_pending",
    "verify",
    "write_head_copy",
]
