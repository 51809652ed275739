"""Whether this host's keys are the ones that made its database (SPEC "operations": a host
whose keys do not match the database refuses to start).

A host started with other keys would otherwise serve, answering ``unknown`` for every
license the database holds. So each key in use leaves its check value in ``key_checks``
(``keys.KeyCheckValue``) when a process first starts with it, and every start compares:
refused are a key id the database knows with another check value, a blind-index key other
than the database's (every lookup goes through that one key), and a keyring holding none
of the database's encryption keys, or none of its signing keys. Rotation only adds rows: a
new first key is recorded beside the old ones, which stay. A database from before check
values were kept is checked against its data instead (a stored code must decrypt, and
index to itself) before its keys are recorded.

It stands with the faces that call it (the CLI's start, /readyz) rather than in the core:
checking an old database reads a code as the licensing domain stores it.
"""

from __future__ import annotations

import hmac
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from licensor.db import Database
from licensor.errors import KeyMaterialError, KeyMismatch
from licensor.keys import BLIND_INDEX, ENCRYPTION, SIGNING, Keyring, sealed_with
from licensor.licensing.codes import CODE_PURPOSE
from licensor.models import ActivationCode, KeyCheck

SAID = {ENCRYPTION: "encryption", BLIND_INDEX: "blind index", SIGNING: "signing"}
REMEDY = (
    "start with the keys that made this database "
    "(LICENSOR_KEYS_DIR or the LICENSOR_* key variables; docs/keys.md)"
)


def _ids(ids: list[str]) -> str:
    return ", ".join(repr(key_id) for key_id in sorted(ids))


def mismatch(session: Session, keyring: Keyring) -> str | None:
    """How these keys differ from the ones that made this database, each key named by
    kind and id ("encryption key 'a1' is not the database's 'b2'; ..."), or None when
    they do not."""
    stored = {
        (row.kind, row.key_id): row.check_value
        for row in session.execute(select(KeyCheck.kind, KeyCheck.key_id, KeyCheck.check_value))
    }
    if not stored:
        return _data_mismatch(session, keyring)
    problems = []
    for kind in (ENCRYPTION, BLIND_INDEX, SIGNING):
        mine = [check for check in keyring.check_values if check.kind == kind]
        theirs = [key_id for stored_kind, key_id in stored if stored_kind == kind]
        other = [
            check.key_id
            for check in mine
            if (value := stored.get((kind, check.key_id))) is not None
            and not hmac.compare_digest(value, check.value)
        ]
        held = [check.key_id for check in mine if (kind, check.key_id) in stored]
        if other:
            problems.append(f"{SAID[kind]} key {_ids(other)} is another key under the same id")
        elif theirs and not held:
            if len(mine) == 1:
                said = f"{SAID[kind]} key {_ids([check.key_id for check in mine])} is not"
            else:
                said = f"{SAID[kind]} keys {_ids([check.key_id for check in mine])} include none of"
            problems.append(f"{said} the database's {_ids(theirs)}")
    return "; ".join(problems) or None


def _data_mismatch(session: Session, keyring: Keyring) -> str | None:
    """For a database whose keys were never recorded: whether a stored code decrypts
    under these keys and its blind index is the one these keys make (None: no code yet,
    or it does)."""
    stored = session.execute(
        select(ActivationCode.code_index, ActivationCode.code_ciphertext).limit(1)
    ).first()
    if stored is None:
        return None
    key_id = sealed_with(stored.code_ciphertext)
    if key_id is None or not keyring.holds_encryption_key(key_id):
        return f"encryption key {key_id!r}, which encrypted the database's codes, is not here"
    try:
        code = keyring.decrypt(stored.code_ciphertext, purpose=CODE_PURPOSE)
    except KeyMaterialError:
        return f"encryption key {key_id!r} does not decrypt the database's codes"
    if keyring.blind_index(code, purpose=CODE_PURPOSE) != stored.code_index:
        return f"blind index key {keyring.blind_index_key_id!r} does not find the database's codes"
    return None


def record(session: Session, keyring: Keyring, now: datetime) -> int:
    """Record the check value of each key this database does not know yet; how many."""
    known = {
        (row.kind, row.key_id) for row in session.execute(select(KeyCheck.kind, KeyCheck.key_id))
    }
    new = [check for check in keyring.check_values if (check.kind, check.key_id) not in known]
    session.add_all(
        KeyCheck(kind=check.kind, key_id=check.key_id, check_value=check.value, created_at=now)
        for check in new
    )
    session.flush()
    return len(new)


def check_keys(database: Database, keyring: Keyring, now: datetime) -> None:
    """At a process's start: ``KeyMismatch`` (one line, naming the key and what to do)
    when these keys did not make this database; else their check values recorded."""
    for attempt in (1, 2):
        try:
            with database.transaction() as session:
                if problem := mismatch(session, keyring):
                    raise KeyMismatch(
                        f"these keys did not make this database ({problem}): {REMEDY}"
                    )
                record(session, keyring, now)
            return
        except IntegrityError:
            # Another host recorded a key at the same moment; compare with its row.
            if attempt == 2:
                raise
