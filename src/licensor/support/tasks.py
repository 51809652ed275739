"""Background work of the support desk: reading the license key from each screenshot, and
closing an attachment question nobody answered in time (``support/approvals.py``).

Never in the request: OCR takes a second or more (``support/ocr.py``). The job is written
with the attachment; the worker loads the stored PNG in a short transaction, reads it
outside any, and saves the reading, encrypted, in a short one of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from licensor import jobs
from licensor.errors import JobFailed
from licensor.logging import log
from licensor.models import Attachment, OcrStatus
from licensor.support.attachments import load_attachment, seal_reading
from licensor.support.desk.approvals import EXPIRE_JOB

READ_KEY = "support.read_key"


def enqueue_read_key(session: Session, attachment: Attachment) -> None:
    """Ask for the key to be read from a stored attachment (its row must be flushed)."""
    jobs.enqueue(session, attachment.created_at, READ_KEY, attachment_id=attachment.id)


def _failed(context: jobs.JobContext, payload: dict[str, Any], error: str) -> None:
    with context.database.transaction() as session:
        attachment = session.get(Attachment, payload["attachment_id"])
        if attachment is not None and attachment.ocr_status == OcrStatus.PENDING:
            attachment.ocr_status = OcrStatus.FAILED
            attachment.ocr_error = error
            attachment.ocr_at = context.now()


@jobs.handler(READ_KEY, max_attempts=4, on_failure=_failed)
def read_key(context: jobs.JobContext, payload: dict[str, Any]) -> None:
    """Read the license key in one screenshot and keep what was read."""
    from licensor.support.ocr import (
        DEBIAN_PACKAGES,
        OcrUnavailable,
        ScreenshotUnreadable,
        read_license_key,
    )

    with context.database.transaction() as session:
        attachment = session.get(Attachment, payload["attachment_id"])
        if attachment is None or attachment.ocr_status != OcrStatus.PENDING:
            return  # gone, or read already by a run whose outcome was not recorded
        png = load_attachment(session, context.settings, context.keyring, attachment)
        session.expunge(attachment)
    try:
        reading = read_license_key(png, tesseract=context.settings.tesseract)
    except ScreenshotUnreadable as error:
        raise JobFailed(str(error)) from None
    except OcrUnavailable as error:
        # Not the screenshot's fault: the job is retried (and in the end marked failed),
        # but the host needs fixing, so say how.
        log.error(
            "support.ocr_unavailable",
            attachment=attachment.id,
            error=str(error),
            tesseract=context.settings.tesseract or "tesseract on PATH",
            fix=f"install Debian's {DEBIAN_PACKAGES} or set LICENSOR_TESSERACT",
        )
        raise
    with context.database.transaction() as session:
        stored = session.get(Attachment, attachment.id)
        if stored is None:
            return
        stored.ocr_ciphertext = seal_reading(context.keyring, reading.text, reading.license_key)
        stored.ocr_verified = reading.verified and reading.license_key is not None
        stored.ocr_status = OcrStatus.DONE
        stored.ocr_error = None
        stored.ocr_at = context.now()


@jobs.handler(EXPIRE_JOB)
def expire_attach_approval(context: jobs.JobContext, payload: dict[str, Any]) -> None:
    """Due at the question's expiry (a no-op if it was answered): audited, on the thread."""
    with context.unit() as unit:
        unit.approvals.expire(payload["approval_id"])
