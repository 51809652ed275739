"""The ``licensor-client`` command: the SDK on the command line, for scripts and support.

Human-readable output by default, ``--json`` for scripts; the exit status tells each
kind of failure apart (``failures.EXIT_CODES``, also listed in ``--help``). The command
line is ``arguments``; what each command does and prints, ``commands``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from licensor_client.cli.arguments import UsageError, build_parser
from licensor_client.cli.commands import run
from licensor_client.cli.failures import (
    FAILED,
    USAGE,
    CommandFailed,
    cannot,
    failure,
    failure_details,
    report,
)
from licensor_client.exceptions import LicensorClientError

__all__ = ["failure", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``licensor-client`` with ``argv`` (default: the process's); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    as_json = "--json" in argv  # until the arguments parse
    command: str | None = None
    try:
        arguments = parser.parse_args(argv)
        as_json, command = getattr(arguments, "json", False), arguments.command
        return run(arguments)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"licensor-client: error: {error}", file=sys.stderr)
        if as_json:
            print(json.dumps({"error": "usage", "message": str(error), "exit_status": USAGE}))
        return USAGE
    except KeyboardInterrupt:
        print("licensor-client: interrupted", file=sys.stderr)
        return 130
    except CommandFailed as error:
        return report(as_json, error.code, str(error), error.status)
    except LicensorClientError as error:
        status, message, hint = failure(error, command)
        return report(as_json, error.code, message, status, hint, failure_details(error))
    except OSError as error:
        return report(as_json, "file_error", str(cannot("write", error)), FAILED)
