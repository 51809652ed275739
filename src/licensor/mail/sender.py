"""Delivering one message over SMTP (``LICENSOR_SMTP_URL``), or to the dev mailbox."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from licensor.config import Settings
from licensor.keys import Keyring
from licensor.mail import dev_mailbox
from licensor.mail.outbox import bodies, extra_headers
from licensor.models import OutboxMessage


class Sender(Protocol):
    def send(self, message: OutboxMessage) -> None:
        """Deliver or raise; the worker retries on any exception."""


def build_email(keyring: Keyring, message: OutboxMessage, sender: str) -> EmailMessage:
    text, html = bodies(keyring, message)
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    # Stable across retries: a receiver can drop the duplicate of an at-least-once send.
    email["Message-ID"] = message.message_id
    email["Date"] = format_datetime(message.created_at)
    email["Content-Language"] = message.language
    for name, value in extra_headers(keyring, message).items():
        email[name] = value
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email


class SmtpSender:
    """``smtp://[user:pass@]host:port[?starttls=true]`` or ``smtps://…`` (TLS at connect)."""

    def __init__(self, url: str, keyring: Keyring, sender: str, timeout: float = 30) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("LICENSOR_SMTP_URL must look like smtp://host:port")
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.tls = parts.scheme == "smtps"
        self.starttls = parse_qs(parts.query).get("starttls", ["false"])[0] in ("1", "true")
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.keyring = keyring
        self.sender = sender
        self.timeout = timeout
        # Made once, and only for TLS: loading the CA store costs tens of ms a message.
        self.context = ssl.create_default_context() if self.tls or self.starttls else None

    def send(self, message: OutboxMessage) -> None:
        email = build_email(self.keyring, message, self.sender)
        context = self.context
        client: smtplib.SMTP
        if self.tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.starttls:
                client.starttls(context=context)
            if self.username and self.password:
                client.login(self.username, self.password)
            client.send_message(email)


class DevMailbox:
    """``licensor demo`` without SMTP: the message is marked sent and stays readable in the
    dev mailbox (/dev/mail). Elsewhere, without SMTP, the worker sends nothing."""

    def send(self, message: OutboxMessage) -> None:
        return None


def configured_sender(settings: Settings, keyring: Keyring) -> Sender | None:
    """How this configuration sends mail: over SMTP (``LICENSOR_SMTP_URL``); without it,
    marked shown where the dev mailbox shows it (``licensor demo``); else None, and the
    mail waits in the outbox."""
    if settings.smtp_url:
        return SmtpSender(settings.smtp_url, keyring, settings.mail_from)
    if dev_mailbox.mounted(settings):
        return DevMailbox()
    return None
