"""**Use a license shared with me** (family sharing): sign in with the My Account email and
password, see the licenses someone shared with the account, and use one on this device.
The owner keeps the activation code; stopping the share frees this device's seat."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from licensor_app.windows.base import Window, message_line, title
from licensor_client import LicenseInfo, SharedLicense


class SharedLicenseWindow(Window[LicenseInfo]):
    def __init__(self) -> None:
        super().__init__()
        self.shared: list[SharedLicense] = []

    def compose(self) -> ComposeResult:
        yield title(self._("Use a license shared with me"))
        with VerticalScroll(id="body"):
            yield Static(
                self._(
                    "If someone shared their license with you and you accepted in My "
                    "Account, sign in with your My Account email address and password to "
                    "use it on this device."
                ),
                markup=False,
            )
            yield Label(self._("Email"))
            yield Input(id="email", placeholder="name@example.com")
            yield Label(self._("Password"))
            yield Input(id="password", password=True)
            with Horizontal(classes="buttons"):
                yield Button(
                    self._("Find shared licenses"), id="find", variant="primary", compact=True
                )
            yield Vertical(id="shared-licenses")
            yield message_line()
        yield Button(self._("Close"), id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#email", Input).focus()

    @on(Button.Pressed, "#close")
    def close_window(self) -> None:
        self.dismiss(None)

    def _credentials(self) -> tuple[str, str] | None:
        email = self.query_one("#email", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not email or not password:
            self.say(self._("Enter your email address and password."), "error")
            return None
        return email, password

    @on(Button.Pressed, "#find")
    @on(Input.Submitted, "#email, #password")
    def find(self) -> None:
        credentials = self._credentials()
        if credentials is not None:
            self.run_sdk(lambda: self.client.shared_licenses(*credentials), self.found)

    def found(self, shared: list[SharedLicense]) -> None:
        self.shared = shared
        listing = self.query_one("#shared-licenses", Vertical)
        listing.remove_children()
        if not shared:
            self.say(self._("No license is shared with this account."), "info")
            return
        listing.mount_all(
            Button(
                self._(
                    "Use {plan} ({public_id}), shared by {owner}",
                    plan=row.plan_name,
                    public_id=row.public_id,
                    owner=row.shared_by,
                ),
                id=f"use-{index}",
                classes="link",
                compact=True,
            )
            for index, row in enumerate(shared)
        )

    @on(Button.Pressed, "#shared-licenses Button")
    def use(self, event: Button.Pressed) -> None:
        credentials = self._credentials()
        if credentials is None or event.button.id is None:
            return
        row = self.shared[int(event.button.id.removeprefix("use-"))]
        self.run_sdk(
            lambda: self.client.activate_shared(row.public_id, *credentials), self.close_with
        )
