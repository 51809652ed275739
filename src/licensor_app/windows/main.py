"""The main window: the product, a line about its license, and the **License** link."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from licensor_app.windows.base import Window, message_line
from licensor_app.windows.features import FEATURES, feature_buttons, lacking_note, title_of
from licensor_app.windows.licensing import LicensingWindow
from licensor_app.windows.summary import last_known, one_line
from licensor_client import LicenseInfo, NotActivated


class MainWindow(Window[None]):
    def compose(self) -> ComposeResult:
        with Vertical(id="body"):
            yield Static(self.licensor.product, id="product", classes="product", markup=False)
            yield Static(self._("Checking the license…"), id="summary", markup=False)
            yield Button(self._("License"), id="license", classes="link", compact=True)
            yield from feature_buttons(self.licensor.translator)
            yield message_line()

    def on_mount(self) -> None:
        self.watch(self.licensor, "license_info", self.show_summary, init=False)
        token = self.licensor.enrollment_token
        if not self.client.has_license() and token:
            # First start of an app downloaded from My Account: activate itself (F1).
            self.query_one("#summary", Static).update(self._("Activating your subscription…"))
            self.run_sdk(lambda: self.client.enroll(token), self.enrolled, self.not_checked)
            return
        if not self.client.has_license():
            self.licensor.license_info = None
            return
        self.run_sdk(self.client.status, self.checked, self.not_checked)

    def enrolled(self, info: LicenseInfo) -> None:
        self.licensor.license_info = info
        self.say(self._("Activated with your subscription: no code needed."))

    def checked(self, info: LicenseInfo) -> None:
        self.licensor.license_info = info

    def not_checked(self, error: Exception) -> None:
        self.licensor.license_info = last_known(self.client, error)
        if not isinstance(error, NotActivated):
            self.say_error(error)

    def show_summary(self, info: LicenseInfo | None) -> None:
        self.query_one("#summary", Static).update(one_line(info, self.licensor.translator))
        for name, _title in FEATURES:
            included = info is not None and info.has(name)
            self.query_one(f"#feature-{name}", Button).disabled = not included
        note = lacking_note(info, self.licensor.translator)
        self.query_one("#features-note", Static).update(note)

    @on(Button.Pressed, "#features Button")
    def use_feature(self, event: Button.Pressed) -> None:
        feature = self._(title_of(event.button.id or ""))
        self.say(self._("{feature}: included in your plan.", feature=feature))

    def action_close(self) -> None:
        pass  # the main window stays; quit with ctrl+q

    @on(Button.Pressed, "#license")
    def open_licensing(self) -> None:
        self.app.push_screen(LicensingWindow())
