"""**Enter activation code**: redeem a code on this device (F3)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from licensor_app.windows.base import Window, message_line, title
from licensor_client import LicenseInfo


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
                yield Button(self._("Cancel"), id="cancel", compact=True)
            yield message_line()

    def on_mount(self) -> None:
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
        self.run_sdk(lambda: self.client.activate(code), self.close_with)
