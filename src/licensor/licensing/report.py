"""What ``licensor codes show`` reports about an activation code or a license key: the code,
its license and their seats, masked unless a reveal is asked for (and then audited)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from licensor.clock import isoformat
from licensor.errors import CodeMalformed
from licensor.licensing import formats
from licensor.licensing.codes import code_state
from licensor.licensing.licenses import license_status
from licensor.licensing.seats import devices_limit
from licensor.models import Activation, ActivationCode, License
from licensor.units import UnitOfWork

PUBLIC_ID = re.compile(r"^LIC-[0-9A-Z]{4}-[0-9A-Z]{4}$")


def code_report(
    unit: UnitOfWork,
    secret: str,
    *,
    reveal: bool,
    actor: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """What the admin may know about a code or license (by its code, key or public ID); a
    reveal is audited."""
    codes, licenses, session, now = unit.codes, unit.licenses, unit.session, unit.now
    code: ActivationCode | None
    license: License | None
    parsed = formats.parse_secret(secret)
    if parsed is None and PUBLIC_ID.match(secret.strip().upper()):
        parsed = formats.ParsedSecret("public_id", secret.strip().upper())
    if parsed is None:
        raise CodeMalformed(
            "neither an activation code nor a license key nor a public ID (check for typos)"
        )
    if parsed.kind == "public_id":
        license = licenses.by_public_id(parsed.canonical)
        code = license.activation_code
    elif parsed.kind == "activation_code":
        code = codes.find_code(parsed.canonical)
        license = code.license
    else:
        license = licenses.find_license(parsed.canonical)
        code = license.activation_code
    report: dict[str, Any] = {"found_by": parsed.kind}
    if code is not None:
        clear = codes.reveal_code(code)
        report.update(
            activation_code=formats.format_code(clear) if reveal else formats.mask_code(clear),
            plan=code.plan.code,
            state=code_state(code, now),
            origin=code.origin,
            batch=code.batch_id,
            created_at=isoformat(code.created_at),
            blocked_reason=code.blocked_reason,
        )
        if code.reserved_for_id is not None:  # kept in reserve (licensing/reserves.py)
            reserved_for = session.get_one(License, code.reserved_for_id)
            report.update(
                reserved_for=reserved_for.public_id,
                reserve_starts_at=isoformat(code.reserve_starts_at),
            )
    if license is not None:
        key = licenses.reveal_license_key(license)
        seats = session.scalars(
            select(Activation)
            .where(Activation.license_id == license.id)
            .options(joinedload(Activation.device, innerjoin=True))
            .order_by(Activation.id)
        ).all()
        report.update(
            plan=license.plan.code,
            license_key=formats.format_license_key(key)
            if reveal
            else formats.mask_license_key(key),
            public_id=license.public_id,
            license_status=license_status(license, now),
            starts_at=isoformat(license.starts_at),
            expires_at=isoformat(license.expires_at),
            devices=f"{sum(s.released_at is None for s in seats)} of {devices_limit(license)}",
            reserve_starts_at=isoformat(unit.reserves.starts_at(license)),
            activations=[
                {
                    "device": seat.device.name,
                    "platform": seat.device.platform,
                    "activated_at": isoformat(seat.activated_at),
                    "released_at": isoformat(seat.released_at),
                }
                for seat in seats
            ],
        )
    if reveal:
        unit.audit(
            "licensing.code_revealed",
            actor=actor,
            subject_type="activation_code" if code is not None else "license",
            subject_id=code.id if code is not None else (license.id if license else None),
            reason=reason,
            found_by=parsed.kind,
        )
    return report
