"""Card batches: issuing many codes at once, streamed to the database and to a CSV.

Memory stays flat whatever the count: codes are made, encrypted, inserted and written in
chunks. The whole batch is one transaction and the CSV appears under its final name only
after the commit, so a crash leaves neither codes without a file nor a file without codes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from licensor.clock import clock
from licensor.config import Settings
from licensor.db import Database, bulk_insert
from licensor.errors import PartnerUnknown, ValidationFailed
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.models import ActivationCode, Batch, CodeOrigin, Partner
from licensor.units import open_unit

CSV_COLUMNS = ["activation_code", "plan", "plan_name", "batch", "serial"]
MAX_BATCH = 10_000_000


@dataclass(frozen=True)
class IssuedBatch:
    batch_id: int
    plan: str
    count: int
    path: Path


def issue_codes(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    *,
    plan_code: str,
    count: int,
    out: Path,
    label: str = "",
    partner_slug: str | None = None,
    sold_at_till: bool = False,
    actor: str = "cli",
    chunk_size: int = 5_000,
    progress: Callable[[int], None] | None = None,
) -> IssuedBatch:
    """Issue ``count`` card codes for a plan and write them to ``out`` (CSV). A partner's
    allocation, or a batch ``sold_at_till``, activates only once each sale is recorded."""
    if not 1 <= count <= MAX_BATCH:
        raise ValidationFailed(f"a batch holds 1 to {MAX_BATCH:,} codes")
    partial = out.with_name(out.name + ".partial")
    try:
        with open_unit(database, keyring, settings, clock.now(), actor=actor) as unit:
            session, new_code_row = unit.session, unit.codes.new_code_row
            plan = unit.plans.by_code(plan_code)  # an unknown plan leaves no file or folder
            partner_id = None
            if partner_slug is not None:  # an allocation: the partner sells these codes
                partner_id = session.scalar(select(Partner.id).where(Partner.slug == partner_slug))
                if partner_id is None:
                    raise PartnerUnknown(f"there is no partner {partner_slug!r}")
            origin = CodeOrigin.PARTNER_ORDER if partner_id else CodeOrigin.CARD_BATCH
            out.parent.mkdir(parents=True, exist_ok=True)
            # The file holds codes in clear, for the printer: readable by its owner only.
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            handle = os.fdopen(descriptor, "w", newline="")
            with handle:
                batch = Batch(
                    plan_id=plan.id,
                    partner_id=partner_id,
                    origin=origin,
                    label=label,
                    count=count,
                    sold_at_till=sold_at_till,
                    created_at=unit.now,
                )
                session.add(batch)
                session.flush()
                unit.audit(
                    "licensing.batch_issued",
                    subject_type="batch",
                    subject_id=batch.id,
                    plan=plan.code,
                    count=count,
                    sold_at_till=sold_at_till,
                )
                writer = csv.writer(handle)
                writer.writerow(CSV_COLUMNS)
                for start in range(0, count, chunk_size):
                    size = min(chunk_size, count - start)
                    rows = []
                    lines = []
                    codes = formats.generate_codes(size)
                    for serial, canonical in enumerate(codes, start + 1):
                        row = new_code_row(canonical, plan, origin)
                        row["batch_id"] = batch.id
                        rows.append(row)
                        lines.append(
                            (formats.format_code(canonical), plan.code, plan.name, batch.id, serial)
                        )
                    # Straight through the driver (COPY on PostgreSQL): the ORM's bulk path
                    # cost more than making and encrypting the codes.
                    bulk_insert(session, ActivationCode, rows)
                    writer.writerows(lines)
                    if progress:
                        progress(size)
                handle.flush()
                os.fsync(handle.fileno())
                result = IssuedBatch(batch.id, plan.code, count, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)
    return result
