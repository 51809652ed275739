"""A posted form's action, the one way every page does it: call the service in the page's
unit of work; a field problem re-renders the page with each message beside its field; a
done action redirects (303, post/redirect/get), or shows a page of its own.

    @router.post("/desk/requests/{number}/status")
    def set_status(page: StaffPage, number: str, status: Field = "") -> Response:
        with page.open() as unit:
            request = unit.desk.request(number, lock=True)
            return form_action(
                unit,
                lambda: unit.desk.set_status(unit.account, request, status),
                done=f"/desk/requests/{number}?done=status",
                again=lambda code, errors: request_page(unit, request, code, errors=errors),
                messages=PROBLEMS,
            )

A re-rendered page is answered inside the same unit, which commits: services check a form
before they write anything, so a refused form has changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from fastapi.responses import Response

from licensor.errors import FormInvalid, LicensorError
from licensor.web.pages import PageUnit

T = TypeVar("T")

# The page again, with the answer's status and the messages by field name.
Again = Callable[[int, dict[str, str]], Response]


def form_action(
    unit: PageUnit,
    action: Callable[[], T],
    *,
    done: str | Callable[[T], str | Response],
    again: Again,
    messages: Mapping[str, str],
    form: str = "",
    renamed: Mapping[str, str] | None = None,
    refusals: Mapping[type[LicensorError], str] | None = None,
) -> Response:
    """Run ``action``; where it went well, redirect to ``done`` (a path, or a function of
    what the action returned giving a path or a whole answer).

    A ``FormInvalid`` shows the page ``again`` (422) with its problems as ``messages`` say
    them, translated, each under its field's name: a service's field ``renamed`` to the
    form's, then prefixed with ``form`` where a page holds several forms. An error of one of
    the ``refusals`` classes shows the page again with that error's own status and its
    title beside the field the mapping names (its prefix included). Any other error goes
    on to the error pages."""
    try:
        result = action()
    except FormInvalid as error:
        fields = {(renamed or {}).get(name, name): key for name, key in error.fields.items()}
        return again(422, unit.field_messages(fields, dict(messages), form))
    except LicensorError as error:
        field = _field_for(error, refusals or {})
        if field is None:
            raise
        return again(error.status, {field: unit._(error.title)})
    if isinstance(done, str):
        return unit.redirect(done)
    answer = done(result)
    return unit.redirect(answer) if isinstance(answer, str) else answer


def _field_for(error: LicensorError, refusals: Mapping[type[LicensorError], str]) -> str | None:
    return next((field for kind, field in refusals.items() if isinstance(error, kind)), None)
