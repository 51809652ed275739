"""Writing mail: render a template in the recipient's language into an outbox row.

The row is added to the caller's session, so it commits (or vanishes) with the change
that caused it. Nothing is sent here; ``licensor worker`` sends (mail/delivery.py).
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from licensor import dates
from licensor.clock import MailDate, MailTime
from licensor.keys import Keyring
from licensor.logging import current_request_id
from licensor.models import OutboxMessage

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("en", "it")
BODY_PURPOSE = b"outbox_body"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


# The text part's signature, after the "-- " line mail readers recognise.
SIGNATURES = {"en": "The {product} team", "it": "Il team di {product}"}


@lru_cache
def _language_environment(language: str) -> Environment:
    """The templates with ``language``'s ways: dates and moments in the context said as
    it says them (``when``: a datetime is shown ``5 dic 2026, 10:15 UTC``), the filters
    ``date``/``datetime``, and ``plural(count, one=..., other=...)`` by its CLDR rule."""
    environment = _environment.overlay()
    # Its own globals and filters: an overlay shares its parent's dicts otherwise.
    environment.globals = dict(environment.globals)
    environment.filters = dict(environment.filters)
    environment.filters["date"] = lambda value: dates.format_date(value, language)
    environment.filters["datetime"] = lambda value: dates.format_datetime(value, language)
    environment.globals["plural"] = lambda count, **forms: dates.plural(count, language, **forms)
    environment.globals["language"] = language
    return environment


def _said(value: Any, language: str) -> Any:
    """A context value as the language says it: moments and days (also inside lists)."""
    if isinstance(value, MailTime):
        return dates.format_datetime(value.moment, language)
    if isinstance(value, MailDate):
        return dates.format_date(value.day, language)
    if isinstance(value, list | tuple):
        return type(value)(_said(item, language) for item in value)
    if isinstance(value, datetime):
        return dates.format_datetime(value, language)
    if isinstance(value, date):
        return dates.format_date(value, language)
    return value


def render(template: str, language: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of a message; unknown languages fall back to English."""
    language = language if language in LANGUAGES else "en"
    environment = _language_environment(language)
    context = {name: _said(value, language) for name, value in context.items()}
    folder = f"{template}/{language}"
    subject = environment.get_template(f"{folder}/subject.txt").render(context).strip()
    text = environment.get_template(f"{folder}/body.txt").render(context)
    if "product" in context:
        signature = SIGNATURES[language].format(product=context["product"])
        text = text.rstrip("\n") + f"\n\n-- \n{signature}\n"
    html = environment.get_template(f"{folder}/body.html").render(context)
    return subject, text, html


def enqueue(
    session: Session,
    keyring: Keyring,
    now: datetime,
    *,
    to: str,
    template: str,
    language: str,
    context: dict[str, Any],
    sender_domain: str = "licensor.local",
    headers: dict[str, str] | None = None,
) -> OutboxMessage:
    """Render the message into an outbox row in ``session``; ``headers`` are extra ones
    the sent message carries (List-Unsubscribe), kept with the encrypted body."""
    subject, text, html = render(template, language, context)
    stored: dict[str, Any] = {"text": text, "html": html}
    if headers:
        stored["headers"] = headers
    body = json.dumps(stored, ensure_ascii=False)
    message = OutboxMessage(
        message_id=f"<{uuid.uuid4().hex}@{sender_domain}>",
        recipient=to,
        template=template,
        language=language if language in LANGUAGES else "en",
        subject=subject,
        body_ciphertext=keyring.encrypt(body, purpose=BODY_PURPOSE),
        created_at=now,
        attempts=0,
        next_attempt_at=now,
        request_id=current_request_id(),  # the worker's records of it join the request's
    )
    session.add(message)
    return message


def bodies(keyring: Keyring, message: OutboxMessage) -> tuple[str, str]:
    """(text, html) of a stored message."""
    body = json.loads(keyring.decrypt(message.body_ciphertext, purpose=BODY_PURPOSE))
    return body["text"], body["html"]


def extra_headers(keyring: Keyring, message: OutboxMessage) -> dict[str, str]:
    """The extra headers a stored message was written with (none for most)."""
    body = json.loads(keyring.decrypt(message.body_ciphertext, purpose=BODY_PURPOSE))
    return dict(body.get("headers") or {})
