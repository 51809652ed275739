"""A notice that survives the redirect after a post (post/redirect/get): the action's
answer sets a short-lived cookie naming what was done, and the page it redirects to shows
it once and deletes it, so the address is the page's own and a reload shows nothing
twice. The cookie names an entry of the page's table of messages, never the text: a
cookie set by someone else can only choose among our own sentences."""

from __future__ import annotations

import re

from licensor.web.pages import PageUnit

NOTICE_COOKIE = "licensor_notice"
NOTICE_SECONDS = 60
_VALUE = re.compile(r"^([a-z_]{1,40})(?:\.(\d{1,4}))?$")


def leave_notice(unit: PageUnit, what: str, count: int | None = None) -> None:
    """Have the next page this browser opens show the notice ``what`` (with ``count``)."""
    value = what if count is None else f"{what}.{count}"
    unit.set_cookie(NOTICE_COOKIE, value, max_age=NOTICE_SECONDS)


def take_notice(unit: PageUnit, *shown: str) -> tuple[str, int] | None:
    """The notice left for this page, if any (what, count), deleted as it is read: only a
    notice among those the page ``shown`` shows is taken, so a page opened before the
    redirect's target (another tab, a test) leaves the target's notice in place."""
    value = unit.request.cookies.get(NOTICE_COOKIE)
    if value is None:
        return None
    match = _VALUE.match(value)
    if match is None:
        unit.set_cookie(NOTICE_COOKIE, "")
        return None
    if match.group(1) not in shown:
        return None
    unit.set_cookie(NOTICE_COOKIE, "")
    return match.group(1), int(match.group(2) or 0)
