"""Structured logs (structlog): key-value events such as ``licensing.activated``, one line
each on stderr, as text for a terminal or JSON (``LICENSOR_LOG_FORMAT=json``) for a
collector. docs/logging.md is the operator's side.

Every process logs the same way: ``configure_logging`` is called by the app factory (in
each of uvicorn's processes), by every command (``serve``, ``worker``, ``demo``, the
vendor's commands) and for uvicorn's own loggers through ``uvicorn_log_config``, so that
under JSON every line a process writes is JSON. A record is one ``write`` of the whole
line, newline included: processes sharing one stderr (``serve --workers N`` under
systemd) interleave whole lines, never halves (structlog's PrintLogger wrote the message
and its newline apart, and two processes' records spliced into ``}{``).

A request's id (``X-Request-ID``, licensor/edge.py) is bound to every record logged while
it is answered, stored on the jobs and mail it queues, and bound again when the worker
runs them: one grep follows a request into the worker.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from licensor.config import Settings

REQUEST_ID = "request_id"
# An incoming id is kept when it is short and plain (a proxy's or a client's id), so it
# can neither forge log lines nor fill a column; any other is replaced by one of ours.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


class LineWriter:
    """A structlog logger (and the stdlib handler's output) writing each record as one
    line in one ``write`` call on the file's descriptor, newline included."""

    def __init__(self, file: TextIO) -> None:
        self.file = file
        try:
            self.descriptor: int | None = file.fileno()
        except (AttributeError, OSError, ValueError):  # a stream without one (a test's capture)
            self.descriptor = None

    def write_line(self, line: str) -> None:
        """Write ``line`` and its newline at once."""
        data = (line + "\n").encode("utf-8", "replace")
        if self.descriptor is None:
            self.file.write(data.decode("utf-8"))
            self.file.flush()
            return
        # A pipe takes up to PIPE_BUF (4 KiB) whole; a longer record is finished if the
        # kernel took part of it (only a signal makes it do so on a blocking descriptor).
        while data:
            written = os.write(self.descriptor, data)
            data = data[written:]

    def msg(self, message: str) -> None:
        self.write_line(message)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _LineHandler(logging.Handler):
    """The stdlib's records (uvicorn, libraries), formatted as ours and written as ours."""

    def __init__(self, writer: LineWriter, formatter: logging.Formatter) -> None:
        super().__init__()
        self.writer = writer
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.write_line(self.format(record))
        except Exception:
            self.handleError(record)


def _renderer(log_format: str) -> structlog.types.Processor:
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def stdlib_handler(log_format: str = "console") -> logging.Handler:
    """A handler for the stdlib's loggers that writes their records as structlog's:
    ``event`` the message, ``logger`` its name, the same level, time and request id."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _renderer(log_format),
        ],
    )
    return _LineHandler(LineWriter(sys.stderr), formatter)


def _level(settings: Settings) -> int:
    return logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)


def configure_logging(settings: Settings) -> None:
    """Log as the settings say (``LICENSOR_LOG_LEVEL``, ``LICENSOR_LOG_FORMAT``), structlog's
    records and the stdlib's alike, one line per record on stderr."""
    level = _level(settings)
    structlog.configure(
        processors=[*_shared_processors(), _renderer(settings.log_format)],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *_: LineWriter(sys.stderr),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _LineHandler)]:
        root.removeHandler(handler)
    root.addHandler(stdlib_handler(settings.log_format))
    root.setLevel(_libraries_level(level))
    for name in ("uvicorn", "uvicorn.error"):
        # uvicorn's own handlers (plain text) give way to ours, through the root.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn").setLevel(level)


def _libraries_level(level: int) -> int:
    # Libraries' chatter (Alembic's "Context impl SQLiteImpl." before every command) stays
    # out below a warning, as it did before their records were ours; DEBUG lets it in.
    return level if level <= logging.DEBUG else max(level, logging.WARNING)


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's ``log_config``: its loggers through our handler, in every process it
    starts (each applies this before it imports the app). Its access log stays off: the
    edge logs each request as ``http.request``, with the request's id."""
    level = _level(settings)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "licensor": {
                "()": "licensor.logging.stdlib_handler",
                "log_format": settings.log_format,
            },
        },
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True},
        },
        "root": {"handlers": ["licensor"], "level": _libraries_level(level)},
    }


def request_id_from(header: bytes | None) -> str | None:
    """An incoming ``X-Request-ID`` when it is safe to keep, else None."""
    if header is not None and _SAFE_REQUEST_ID.fullmatch(header):
        return header.decode("ascii")
    return None


def new_request_id() -> str:
    """A fresh request id: 96 random bits in hex."""
    return os.urandom(12).hex()


def current_request_id() -> str | None:
    """The id of the request (or of the job) being worked on in this context, if any."""
    value = structlog.contextvars.get_contextvars().get(REQUEST_ID)
    return value if isinstance(value, str) else None


@contextmanager
def request_bound(request_id: str | None) -> Iterator[None]:
    """Every record logged inside the block carries ``request_id`` (none: unchanged)."""
    if request_id is None:
        yield
        return
    with structlog.contextvars.bound_contextvars(**{REQUEST_ID: request_id}):
        yield


log = structlog.get_logger("licensor")
