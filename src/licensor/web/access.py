"""Who a page is for, in its route's signature (STYLE: access is visible in the signature).

A route names its audience by the type of its ``page`` parameter and opens its unit of
work from it::

    @router.get("/account/licenses")
    def licenses(page: CustomerPage) -> Response:
        with page.open() as unit:
            ...

``page.open()`` checks the audience as it opens the page's one transaction (no second
transaction to look the visitor up), and the CSRF token of any form posted (every method
but GET and HEAD). ``PublicPage`` is anyone's; ``CustomerPage`` needs a signed-in account;
``StaffPage`` an agent or admin with two-factor sign-in (the support desk); ``AdminPage``
an admin with two-factor sign-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request

from licensor.models import Role
from licensor.web.pages import SIGNED_IN, STAFF, PageUnit, Web, page_web

_READS = frozenset({"GET", "HEAD"})


class Page:
    """One page request and its audience."""

    def __init__(self, request: Request, web: Web, audience: str | None) -> None:
        self.request = request
        self.web = web
        self.audience = audience

    @contextmanager
    def open(self) -> Iterator[PageUnit]:
        """The page's unit of work, once the visitor is found to be of the audience (and a
        posted form's token holds)."""
        with self.web.unit(
            self.request,
            require=self.audience,
            check_csrf=self.request.method not in _READS,
        ) as unit:
            yield unit


def page_for(audience: str | None, web: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """The dependency of a page for ``audience``; ``web`` is how the page machinery is had
    (the default parses a posted form on the event loop; the support form has its own,
    which caps an upload's size first)."""

    async def page(request: Request, web: Web) -> Page:
        return Page(request, web, audience)

    # An annotation object, not the string the module's ``annotations`` future makes:
    # FastAPI could not resolve a closure's name from a string.
    page.__annotations__["web"] = Annotated[Web, Depends(web or page_web)]
    return page


PublicPage = Annotated[Page, Depends(page_for(None))]
CustomerPage = Annotated[Page, Depends(page_for(SIGNED_IN))]
StaffPage = Annotated[Page, Depends(page_for(STAFF))]
AdminPage = Annotated[Page, Depends(page_for(Role.ADMIN))]
