"""A floating license in the app: a seat checked out at start, renewed by a timer while
the app runs, given back on exit, so the license's seats go to whoever is working.

Whether the license is floating is the server's to say: the first checkout of a license
that counts devices answers ``LicenseNotFloating``, and the app asks no more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from textual.timer import Timer

from licensor_app.i18n import Translator
from licensor_client import (
    Lease,
    LeaseLimitReached,
    LeaseNotHeld,
    LicenseNotFloating,
    LicensorClientError,
)

if TYPE_CHECKING:
    from licensor_app.app import LicensorApp

GROUP = "floating"


def _clock(moment: datetime | None) -> str:
    """A moment as this computer's clock shows it (HH:MM)."""
    return moment.astimezone().strftime("%H:%M") if moment else "—"


class FloatingSeat:
    """The app's seat of a floating license; ``line()`` says how it stands."""

    def __init__(self, app: LicensorApp) -> None:
        self.app = app
        self.lease: Lease | None = None
        self.full: LeaseLimitReached | None = None
        self.freed = False
        self._timer: Timer | None = None

    def start(self) -> None:
        """Check out a seat (in a thread); renew it by a timer while it is held."""
        self.app.run_worker(lambda: self._ask(self.app.client.checkout), thread=True, group=GROUP)

    def renew(self) -> None:
        self.app.run_worker(lambda: self._ask(self.app.client.heartbeat), thread=True, group=GROUP)

    def stop(self) -> None:
        """Give the seat back (on exit, before the client closes); a failure changes
        nothing: the seat frees itself when its lease lapses."""
        if self.lease is None or not self.lease.held:
            return
        try:
            self.app.client.checkin()
        except LicensorClientError:
            pass

    def _ask(self, call: Callable[[], Lease]) -> None:
        try:
            lease = call()
        except LicenseNotFloating:
            return  # the license counts devices: nothing to hold
        except LeaseLimitReached as full:
            self._tell(None, full, freed=False)
        except LeaseNotHeld:
            self._tell(None, None, freed=True)
        except Exception:
            # Offline for now, or an answer not understood: the next renewal tries again,
            # and a worker's error must not end the app.
            return
        else:
            self._tell(lease, None, freed=False)
            if call == self.app.client.checkout:
                self._recheck()

    def _recheck(self) -> None:
        """The license's status once a seat is held: a check made at start, before the
        seat was taken, said ``lease_expired``."""
        try:
            info = self.app.client.status()
        except Exception:
            return  # the windows keep what they showed
        try:
            self.app.call_from_thread(setattr, self.app, "license_info", info)
        except RuntimeError:
            pass

    def _tell(self, lease: Lease | None, full: LeaseLimitReached | None, *, freed: bool) -> None:
        def update() -> None:
            self.lease, self.full, self.freed = lease, full, freed
            if lease is not None and lease.held and self._timer is None:
                every = lease.renew_after.total_seconds()
                self._timer = self.app.set_interval(every, self.renew)
            self.app.floating_line = self.line(self.app.translator)

        try:
            self.app.call_from_thread(update)
        except RuntimeError:
            pass  # the app has ended meanwhile

    def line(self, _: Translator) -> str:
        """What the License window says of the seat; empty for a license counting devices."""
        if self.lease is not None and self.lease.held:
            return _("Floating license: seat held until {time}", time=_clock(self.lease.expires_at))
        if self.full is not None:
            return _(
                "All {count} seats are in use; try again after {time}",
                count=self.full.leases_max or 0,
                time=_clock(self.full.retry_at),
            )
        if self.freed:
            return _("Your seat of the floating license was freed. Open the app again to get one.")
        return ""
