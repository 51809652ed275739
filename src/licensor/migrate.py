"""Schema migrations (Alembic), shipped inside the package so an installed Licensor can
migrate its own database: ``licensor migrate``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config

from licensor.config import Settings
from licensor.dates import plural
from licensor.errors import UnknownRevision
from licensor.files import attachment_files_dir


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", "licensor:migrations")
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to ``revision``; ``UnknownRevision`` when the database is at a
    revision this version does not ship (a newer version migrated it)."""
    found = current(settings)
    if found is not None and not known(settings, found):
        raise UnknownRevision(_unknown(found))
    command.upgrade(alembic_config(settings), revision)


def known(settings: Settings, revision: str) -> bool:
    """Whether this version ships ``revision``."""
    from alembic.script import ScriptDirectory

    revisions = ScriptDirectory.from_config(alembic_config(settings)).walk_revisions()
    return any(script.revision == revision for script in revisions)


def _unknown(found: str) -> str:
    return (
        f"the database is at revision {found}, which this version of Licensor does not know: "
        "a newer version migrated it; run that version, or restore the backup made before"
    )


def current(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from licensor.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return revision


def head(settings: Settings) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


def schema_problem(settings: Settings) -> str | None:
    """Why the database cannot serve this version of Licensor yet, or None."""
    try:
        found = current(settings)
    except Exception as error:  # unreachable server, bad URL, unreadable file, no rights
        # The driver's own reason, on one line (SQLAlchemy adds the statement and a link).
        reason = " ".join(str(getattr(error, "orig", None) or error).split())
        return f"cannot open the database: {reason}"
    expected = head(settings)
    if found is None:
        return "the database has no tables yet: run `licensor migrate`"
    if found != expected and not known(settings, found):
        return _unknown(found)
    if found != expected:
        return (
            f"the database is at revision {found}, this version needs {expected}: "
            "run `licensor migrate`"
        )
    return None


# A screenshot file of an older version: its storage name, nothing else (write_private's
# temporary files start with a dot and were never committed).
_STORAGE_NAME = re.compile(r"[0-9a-f]{32}")
_FILES_PER_TRANSACTION = 20  # at most 5 MB each: a bounded transaction


@dataclass(frozen=True)
class AttachmentImport:
    """What ``import_attachment_files`` did: files read into the database (and removed),
    and files no attachment row names (left where they are)."""

    directory: Path
    found: bool  # whether this host has the directory at all
    imported: int
    unclaimed: int

    def summary(self) -> str:
        """One line for the operator."""
        line = (
            plural(
                self.imported, "en", one="{count} screenshot file", other="{count} screenshot files"
            )
            + f" from {self.directory} "
            "read into the database and removed"
        )
        if self.unclaimed:
            line += f"; {self.unclaimed} named by no attachment left there"
        return line


def import_attachment_files(settings: Settings) -> AttachmentImport:
    """Read the screenshots an older version kept in ``var/attachments`` into the
    database (their ciphertext as it is: the encryption does not change), then remove
    each file. Idempotent: a file whose contents are already in the database is only
    removed, so a run stopped halfway is finished by the next. Each host that kept files
    runs it once (``licensor migrate`` does)."""
    from sqlalchemy import select

    from licensor.db import Database
    from licensor.models import Attachment, AttachmentContent

    directory = attachment_files_dir(settings)
    if not directory.is_dir():
        return AttachmentImport(directory, found=False, imported=0, unclaimed=0)
    files = sorted(
        path
        for path in directory.iterdir()
        if path.is_file() and _STORAGE_NAME.fullmatch(path.name)
    )
    imported = unclaimed = 0
    database = Database(settings)
    try:
        for start in range(0, len(files), _FILES_PER_TRANSACTION):
            batch = files[start : start + _FILES_PER_TRANSACTION]
            read = []
            with database.transaction() as session:
                owners = dict(
                    session.execute(
                        select(Attachment.storage_name, Attachment.id).where(
                            Attachment.storage_name.in_([path.name for path in batch])
                        )
                    ).all()
                )
                present = set(
                    session.scalars(
                        select(AttachmentContent.attachment_id).where(
                            AttachmentContent.attachment_id.in_(owners.values())
                        )
                    )
                )
                for path in batch:
                    attachment_id = owners.get(path.name)
                    if attachment_id is None:
                        unclaimed += 1
                        continue
                    if attachment_id not in present:
                        session.add(
                            AttachmentContent(
                                attachment_id=attachment_id, ciphertext=path.read_bytes()
                            )
                        )
                    read.append(path)
            for path in read:  # only once the contents are committed
                path.unlink(missing_ok=True)
            imported += len(read)
    finally:
        database.dispose()
    if not any(directory.iterdir()):
        directory.rmdir()
    return AttachmentImport(directory, found=True, imported=imported, unclaimed=unclaimed)
