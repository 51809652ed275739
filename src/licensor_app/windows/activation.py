"""**Enter activation code**: redeem a code on this device (F3). When the license is on all
the devices it allows, the window lists them (name, last seen) and the ways to free a seat:
the app on one of them, My Account's address, or a link mailed to the license's owner."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from licensor_app.i18n import format_date
from licensor_app.messages import describe_error
from licensor_app.windows.base import Window, message_line, title
from licensor_client import DeviceLimitReached, LicenseInfo


class ActivationWindow(Window[LicenseInfo]):
    def compose(self) -> ComposeResult:
        yield title(self._("Enter activation code"))
        with Vertical(id="body"):
            yield Static(
                self._(
                    "The activation code is in your purchase confirmation email, on the card "
                    "you bought, or in the Licenses section of My Account."
                ),
                markup=False,
            )
            yield Input(placeholder="XXXXX-XXXXX-XXXXX-XXXXX", id="activation-code", max_length=40)
            with Horizontal(classes="buttons"):
                yield Button(self._("Activate"), id="activate", variant="primary", compact=True)
                yield Button(self._("Add as reserve code"), id="add-reserve", compact=True)
                yield Button(self._("Cancel"), id="cancel", compact=True)
            yield Static(
                self._(
                    "This device has an active license. A second code of the same plan can "
                    "wait in reserve: the license then runs longer, from the day its current "
                    "term ends."
                ),
                id="reserve-hint",
                classes="muted",
                markup=False,
            )
            yield message_line()
            with Vertical(id="seats-full"):
                yield Static(
                    self._("The license is in use on these devices:"),
                    id="seats-full-title",
                    markup=False,
                )
                yield Static("", id="seat-devices", markup=False)
                yield Static("", id="seats-full-ways", markup=False)
                yield Button(
                    self._("Email me a link to free a seat"),
                    id="email-release-link",
                    classes="link",
                    compact=True,
                )
                yield message_line("link-message")

    def on_mount(self) -> None:
        self.query_one("#seats-full").display = False
        # Offered while this device holds an active license (docs/reserve-codes.md).
        held = self.licensor.license_info
        active = held is not None and held.valid
        self.query_one("#add-reserve").display = active
        self.query_one("#reserve-hint").display = active
        self.query_one("#activation-code", Input).focus()

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#activate")
    @on(Input.Submitted, "#activation-code")
    def activate(self) -> None:
        code = self.query_one("#activation-code", Input).value.strip()
        if not code:
            self.say(self._("Enter the activation code from your purchase."), "error")
            return
        self.query_one("#seats-full").display = False
        self.run_sdk(lambda: self.client.activate(code), self.close_with, self.refused)

    @on(Button.Pressed, "#add-reserve")
    def add_reserve(self) -> None:
        code = self.query_one("#activation-code", Input).value.strip()
        if not code:
            self.say(self._("Enter the activation code from your purchase."), "error")
            return
        self.run_sdk(lambda: self.client.add_reserve_code(code), self.close_with, self.say_error)

    def refused(self, error: Exception) -> None:
        self.say_error(error)
        if isinstance(error, DeviceLimitReached):
            self.show_seats_full(error)

    def show_seats_full(self, error: DeviceLimitReached) -> None:
        """The license's devices and the ways to free a seat of it."""
        language = self.licensor.language
        lines = [
            self._(
                "• {device}: last seen {date}",
                device=holder.name or self._("Unnamed device"),
                date=format_date(holder.last_seen_at, language) if holder.last_seen_at else "—",
            )
            for holder in error.devices
        ]
        self.query_one("#seat-devices", Static).update("\n".join(lines))
        self.query_one("#seats-full-title").display = bool(lines)
        ways = self._(
            "To use it here, free a seat: remove the license in the app on a device you no "
            "longer use, or sign in to My Account and remove a device there: {address}",
            address=error.free_seat_url or self._("the Devices section of My Account"),
        )
        if not error.release_link_available:
            # A code in no account and no order (a printed card): typed in My Account's
            # Licenses, it joins the account, whose Devices page then lists its devices.
            ways += " " + self._(
                "If the license is not in your account yet, add its activation code in the "
                "Licenses section first."
            )
        self.query_one("#seats-full-ways", Static).update(ways)
        self.query_one("#email-release-link").display = error.release_link_available
        self.say("", target="#link-message")
        self.query_one("#seats-full").display = True

    @on(Button.Pressed, "#email-release-link")
    def email_release_link(self) -> None:
        code = self.query_one("#activation-code", Input).value.strip()
        self.run_sdk(
            lambda: self.client.request_seat_release_link(code),
            self.link_requested,
            lambda error: self.say(
                describe_error(error, self.licensor.translator), "error", target="#link-message"
            ),
        )

    def link_requested(self, _said: str) -> None:
        self.query_one("#email-release-link").display = False
        self.say(
            self._(
                "If this license has an owner on record, we have emailed them a link that "
                "frees a seat. Open it, choose the device to free, then activate here again."
            ),
            "success",
            target="#link-message",
        )
