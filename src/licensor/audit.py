"""The audit trail: append-only, chained with a keyed hash, verifiable.

``audit()`` is how every part of Licensor records who did what: the row is written with
the change it describes, in the same transaction. Rows are chained when the transaction
commits: under a lock on the chain's head (the last lock a transaction takes, so no
deadlock can form around it), each new row gets the next sequence number and
``HMAC(key, previous hash ‖ row)``, and the head keeps the last number and hash under a
MAC of its own. The database refuses UPDATE and DELETE on the table (triggers of revision
0008), and ``licensor audit verify`` walks the chain: an edited row breaks its own hash, a
deleted one leaves a gap, removed newest rows disagree with the head. The key is derived
from the keyring, so a copy of the database alone can neither forge a row nor mend the
chain after an edit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from licensor.clock import isoformat
from licensor.dates import plural
from licensor.db import KEY_SOURCE
from licensor.errors import AuditKeyMissing
from licensor.logging import log
from licensor.models import AuditChain, AuditEvent

GENESIS = bytes(32)
_PENDING = "licensor.audit.pending"
_SEALED = "licensor.audit.sealed"


def audit(
    session: Session,
    now: datetime,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: int | None,
    reason: str | None = None,
    **details: Any,
) -> None:
    """Record an event in this unit of work; it is chained and written at commit, and
    vanishes with a rollback."""
    # Through JSON and back, so the hash covers exactly what the database will return.
    plain = json.loads(json.dumps(details, default=str))
    row = AuditEvent(
        occurred_at=now,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=reason,
        details=plain,
    )
    # With the savepoint it was written in, if any: it goes if that savepoint is undone.
    session.info.setdefault(_PENDING, []).append((row, session.get_nested_transaction()))


def row_hash(key: bytes, previous: bytes, row: AuditEvent) -> bytes:
    """The keyed hash of a row in its place: its sequence number, every field, and the
    hash of the row before it."""
    fields = [
        row.chain_seq,
        isoformat(row.occurred_at),
        row.actor,
        row.action,
        row.subject_type,
        row.subject_id,
        row.reason,
        row.details,
    ]
    encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, previous + encoded.encode(), hashlib.sha256).digest()


def head_mac(key: bytes, seq: int, last_hash: bytes) -> bytes:
    return hmac.new(key, b"head" + seq.to_bytes(8, "big") + last_hash, hashlib.sha256).digest()


def _chain_key(session: Session) -> bytes:
    source = session.info.get(KEY_SOURCE)
    if source is None:
        raise AuditKeyMissing("audit rows written on a session without a chain key")
    key: bytes = source.audit_key
    return key


@event.listens_for(Session, "before_commit")
def _seal(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the rows wait for the transaction itself
    pending = [row for row, _savepoint in session.info.pop(_PENDING, [])]
    if not pending:
        return
    key = _chain_key(session)
    # Everything else first, so the head's lock is the last this transaction takes.
    session.flush()
    head = session.scalars(select(AuditChain).where(AuditChain.id == 1).with_for_update()).one()
    seq, previous = head.seq, head.last_hash
    for row in pending:
        seq += 1
        row.chain_seq = seq
        row.chain_hash = previous = row_hash(key, previous, row)
        session.add(row)
    head.seq, head.last_hash, head.mac = seq, previous, head_mac(key, seq, previous)
    session.info[_SEALED] = [(row.chain_seq, row.action, row.actor) for row in pending]


@event.listens_for(Session, "after_commit")
def _log_sealed(session: Session) -> None:
    # One log line per row: shipped elsewhere, the log is a witness of the chain's head.
    for seq, action, actor in session.info.pop(_SEALED, []):
        log.info("audit.recorded", seq=seq, action=action, actor=actor)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, undone: SessionTransaction) -> None:
    if undone.nested:
        kept = [(row, tx) for row, tx in session.info.get(_PENDING, []) if tx is not undone]
        session.info[_PENDING] = kept
    elif undone.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_SEALED, None)


# --- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Witness:
    """The head as the last verification saw it, kept outside the database: a head rolled
    back to an older state (from a backup, say, with its MAC) cannot pass for the newest
    once a newer one was witnessed."""

    seq: int
    last_hash: bytes


@dataclass
class Verification:
    """What ``licensor audit verify`` found."""

    chained: int = 0
    legacy: int = 0  # rows from before the chain began (revision 0008)
    head_seq: int = 0
    head_hash: bytes = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _rows(session: Session, batch: int) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain_seq > last)
            .order_by(AuditEvent.chain_seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].chain_seq or last
        session.expunge_all()


def _rows_named(first: int, last: int) -> str:
    return f"row {first} was" if first == last else f"rows {first} to {last} were"


def verify(
    session: Session, key: bytes, *, witness: Witness | None = None, batch: int = 2000
) -> Verification:
    """Walk the chain in order and check every link, the gaps and the head; and that the
    row ``witness`` saw last time is still there, as it was."""
    found = Verification()
    if witness is not None and witness.seq > 0:
        seen = session.scalar(select(AuditEvent).where(AuditEvent.chain_seq == witness.seq))
        if seen is None:
            found.problems.append(
                f"row {witness.seq}, the newest at the last verification, is gone: the chain "
                "was cut back"
            )
        elif seen.chain_hash != witness.last_hash:
            found.problems.append(
                f"row {witness.seq} is not the row the last verification saw: replaced"
            )
    expected = 1
    previous: bytes | None = GENESIS  # None after a gap: the link to a missing row
    first_chained_id: int | None = None
    for row in _rows(session, batch):
        seq = row.chain_seq or 0
        if first_chained_id is None:
            first_chained_id = row.id
        if seq != expected:
            found.problems.append(f"{_rows_named(expected, seq - 1)} deleted, before row {seq}")
            previous = None
        if previous is not None and row.chain_hash != row_hash(key, previous, row):
            found.problems.append(
                f"row {seq} (id {row.id}, {row.action}) does not match its hash: edited"
            )
        previous = row.chain_hash
        expected = seq + 1
        found.chained += 1
    head = session.get(AuditChain, 1)
    last_seq = expected - 1
    if head is None:
        found.problems.append("the chain's head is missing")
    else:
        found.head_seq = head.seq
        found.head_hash = head.last_hash
        if head.seq > last_seq:
            found.problems.append(
                f"{_rows_named(last_seq + 1, head.seq)} deleted, the newest of the chain"
            )
        elif head.seq < last_seq:
            found.problems.append(f"the head says {head.seq} rows but {last_seq} are chained")
        elif head.seq and (
            head.mac is None
            or previous is None
            or not hmac.compare_digest(head.mac, head_mac(key, head.seq, previous))
        ):
            found.problems.append("the chain's head does not match its MAC: edited")
    unchained = select(func.count(AuditEvent.id)).where(AuditEvent.chain_seq.is_(None))
    if first_chained_id is None:
        found.legacy = session.scalar(unchained) or 0
    else:
        found.legacy = session.scalar(unchained.where(AuditEvent.id < first_chained_id)) or 0
        stray = session.scalar(unchained.where(AuditEvent.id > first_chained_id)) or 0
        if stray:
            found.problems.append(
                plural(stray, "en", one="{count} row was", other="{count} rows were")
                + " inserted outside the chain"
            )
    return found
