"""The enrollment file an app downloaded from My Account carries (F1): server, keys, token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from licensor_client.exceptions import EnrollmentFileInvalid

ENROLLMENT_FORMAT = "licensor-enrollment/1"


@dataclass(frozen=True)
class Enrollment:
    """The file My Account's download carries: where the server is, its keys, the token."""

    server: str
    token: str
    public_keys: dict[str, str]


def read_enrollment(path: Path | str) -> Enrollment:
    """Read ``licensor-enrollment.json`` (format ``licensor-enrollment/1``)."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise EnrollmentFileInvalid(f"{path} is not an enrollment file") from error
    if (
        not isinstance(document, dict)
        or document.get("format") != ENROLLMENT_FORMAT
        or not isinstance(document.get("server"), str)
        or not isinstance(document.get("token"), str)
        or not isinstance(document.get("public_keys"), dict)
    ):
        raise EnrollmentFileInvalid(f"{path} is not an enrollment file")
    return Enrollment(document["server"], document["token"], dict(document["public_keys"]))
