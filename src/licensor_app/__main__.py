"""``licensor-app`` (and ``python -m licensor_app``): start the reference app."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from licensor_app.app import DEFAULT_PRODUCT, DEFAULT_SERVER, LicensorApp, default_screenshot_dir
from licensor_app.i18n import LANGUAGES, language_from_environment
from licensor_client import EnrollmentFileInvalid, read_enrollment

EPILOG = """\
environment:
  LICENSOR_SERVER         the server, when --server is not given
  LICENSOR_PUBLIC_KEYS    the vendor's signing keys (id:key,...), when --public-keys is not
                          given; without either, the server's keys are pinned on first use
  LICENSOR_APP_LANGUAGE   en or it, when --language is not given (else from LC_ALL/LANG)
  LICENSOR_ENROLLMENT     the enrollment file, when --enroll is not given
  LICENSOR_FINGERPRINT    overrides the fingerprint derived from this machine (virtual
                          machines, tests)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="licensor-app",
        description="The Licensor reference app: activate, check, back up and move a license.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        default=os.environ.get("LICENSOR_SERVER") or DEFAULT_SERVER,
        help=f"the Licensor server (default: {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--public-keys",
        metavar="KEYS",
        default=os.environ.get("LICENSOR_PUBLIC_KEYS") or None,
        help="the vendor's public signing keys to pin, id:key,... (`licensor keys show`)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        type=Path,
        help="where this device keeps its license (default: the per-user state directory)",
    )
    parser.add_argument(
        "--language",
        choices=LANGUAGES,
        default=os.environ.get("LICENSOR_APP_LANGUAGE") or language_from_environment(os.environ),
        help="the language of the windows (default: from LC_ALL/LANG, else en)",
    )
    parser.add_argument(
        "--screenshot-dir",
        metavar="DIR",
        type=Path,
        help="where Save screenshot writes (default: your Pictures folder, else home)",
    )
    parser.add_argument(
        "--product", default=DEFAULT_PRODUCT, help="the product name the main window shows"
    )
    parser.add_argument(
        "--enroll",
        metavar="FILE",
        type=Path,
        default=os.environ.get("LICENSOR_ENROLLMENT") or None,
        help="licensor-enrollment.json from My Account's download: on first start the app "
        "activates the subscription itself (the file also names the server and its keys)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    arguments = build_parser().parse_args(argv)
    if arguments.language not in LANGUAGES:
        build_parser().error(f"LICENSOR_APP_LANGUAGE must be one of {', '.join(LANGUAGES)}")
    server, keys, token = arguments.server, arguments.public_keys, None
    if arguments.enroll:
        try:
            enrollment = read_enrollment(arguments.enroll)
        except EnrollmentFileInvalid as error:
            print(f"licensor-app: {error}", file=sys.stderr)
            sys.exit(2)
        server, token = enrollment.server, enrollment.token
        keys = keys or ",".join(f"{key}:{value}" for key, value in enrollment.public_keys.items())
    try:
        app = LicensorApp(
            server,
            keys,
            enrollment_token=token,
            state_dir=arguments.state_dir,
            language=arguments.language,
            screenshot_dir=arguments.screenshot_dir or default_screenshot_dir(),
            product=arguments.product,
        )
    except ValueError as error:  # unreadable keys, a malformed LICENSOR_FINGERPRINT
        print(f"licensor-app: {error}", file=sys.stderr)
        sys.exit(2)
    app.run()


if __name__ == "__main__":
    main()
