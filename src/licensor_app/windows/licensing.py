"""The **Licensing** window: the license at a glance and everything a customer does with
it; and the confirmation before removing it from this device."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from licensor_app.windows.account import ConnectWindow
from licensor_app.windows.activation import ActivationWindow
from licensor_app.windows.backup import RestoreWindow, SaveBackupWindow
from licensor_app.windows.base import Window, message_line, title
from licensor_app.windows.details import LicenseDetailsWindow
from licensor_app.windows.shared import SharedLicenseWindow
from licensor_app.windows.summary import (
    CHECKED,
    devices,
    expiry,
    last_known,
    plan_name,
    reserve,
    status_word,
    why_not_valid,
)
from licensor_client import LicenseInfo, NotActivated, ReleaseResult

#: Actions that need a license on this device; the others are offered without one.
WITH_LICENSE = ("#show-details", "#recover", "#remove-license", "#save-backup")
WITHOUT_LICENSE = ("#connect", "#use-shared")


class LicensingWindow(Window[None]):
    # The first action, not the scrolling body, has the focus when the window opens, so
    # Enter and Tab work at once (issue 14, item 15).
    AUTO_FOCUS = "#actions Button"

    def compose(self) -> ComposeResult:
        yield title(self._("Licensing"))
        with VerticalScroll(id="body"):
            with Grid(id="license-panel", classes="fields"):
                for label, field in (
                    (self._("Plan"), "plan"),
                    (self._("Status"), "status"),
                    (self._("Expires"), "expires"),
                    (self._("Devices"), "devices"),
                ):
                    yield Label(label, classes="field-label")
                    yield Static("", id=field, classes="field-value", markup=False)
                yield Label(self._("Reserve code"), id="reserve-label", classes="field-label")
                yield Static("", id="reserve", classes="field-value", markup=False)
            yield Static("", id="why-not-valid", classes="warning", markup=False)
            yield Static("", id="checked", classes="muted", markup=False)
            yield Static("", id="lease", markup=False)
            yield Static(
                self._(
                    "There is no license on this device. Enter the activation code from "
                    "your purchase, restore a license backup, or connect this device to "
                    "My Account."
                ),
                id="no-license",
                markup=False,
            )
            with Vertical(id="actions"):
                for label, action in (
                    (self._("Enter activation code"), "enter-code"),
                    (self._("Show details"), "show-details"),
                    (self._("Recover my activation codes"), "recover"),
                    (self._("Remove license from this device"), "remove-license"),
                    (self._("Save license backup"), "save-backup"),
                    (self._("Restore license"), "restore-license"),
                    (self._("Connect to My Account"), "connect"),
                    (self._("Use a license shared with me"), "use-shared"),
                ):
                    yield Button(label, id=action, classes="link", compact=True)
            yield message_line()
        yield Button(self._("Close"), id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no-license").display = False
        self.query_one("#license-panel").display = False
        self.query_one("#why-not-valid").display = False
        self.watch(self.licensor, "floating_line", self.show_lease)
        self.refresh_license()

    def show_lease(self, line: str) -> None:
        lease = self.query_one("#lease", Static)
        lease.update(line)
        lease.display = bool(line)

    def refresh_license(self) -> None:
        if not self.client.has_license():
            self.show(None)
            return
        self.run_sdk(self.client.status, self.show, self.not_checked)

    def not_checked(self, error: Exception) -> None:
        self.show(last_known(self.client, error))
        if not isinstance(error, NotActivated):
            self.say_error(error)

    def show(self, info: LicenseInfo | None) -> None:
        """Fill the window from ``info``, or offer what to do without a license."""
        self.licensor.license_info = info
        has_license = info is not None
        self.query_one("#license-panel").display = has_license
        self.query_one("#checked").display = has_license
        self.query_one("#why-not-valid").display = False
        self.query_one("#no-license").display = not has_license
        for selector in WITH_LICENSE:
            self.query_one(selector).display = has_license
        for selector in WITHOUT_LICENSE:
            self.query_one(selector).display = not has_license
        self.focus_first_action()
        if info is None:
            return
        _ = self.licensor.translator
        self.query_one("#plan", Static).update(plan_name(info))
        status = self.query_one("#status", Static)
        status.update(status_word(info, _))
        status.set_class(not info.valid, "warning")
        self.query_one("#expires", Static).update(expiry(info, _))
        self.query_one("#devices", Static).update(devices(info, _))
        self.query_one("#reserve", Static).update(reserve(info, _))
        for selector in ("#reserve", "#reserve-label"):
            self.query_one(selector).display = info.reserve_starts_at is not None
        self.query_one("#checked", Static).update(_(CHECKED[info.source]))
        why = self.query_one("#why-not-valid", Static)
        why.update(why_not_valid(info, _))
        why.display = bool(why_not_valid(info, _))

    def focus_first_action(self) -> None:
        """Unless the customer has moved on to a control, the first action shown."""
        focused = self.focused
        if focused is not None and focused.id != "body" and focused.display:
            return
        for button in self.query("#actions Button").results(Button):
            if button.display:
                button.focus()
                return

    # --- actions ------------------------------------------------------------------------------

    @on(Button.Pressed, "#close")
    def close_window(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#enter-code")
    def enter_code(self) -> None:
        self.app.push_screen(ActivationWindow(), self.activated)

    def activated(self, info: LicenseInfo | None) -> None:
        if info is None:
            return
        before = self.licensor.license_info
        self.show(info)
        if info.reserve_starts_at is not None and (
            before is None or before.reserve_starts_at is None
        ):
            self.say(self._("The reserve code was added."), "success")
            return
        self.say(self._("The license is active on this device."), "success")
        self.licensor.floating.start()  # a floating license: hold its seat from now on

    @on(Button.Pressed, "#show-details")
    def show_details(self) -> None:
        self.app.push_screen(LicenseDetailsWindow())

    @on(Button.Pressed, "#recover")
    def recover(self) -> None:
        self.app.push_screen(ConnectWindow(has_license=True))

    @on(Button.Pressed, "#connect")
    def connect(self) -> None:
        self.app.push_screen(ConnectWindow(has_license=False), self.connected)

    def connected(self, _result: None) -> None:
        self.refresh_license()

    @on(Button.Pressed, "#use-shared")
    def use_shared(self) -> None:
        self.app.push_screen(SharedLicenseWindow(), self.activated)

    @on(Button.Pressed, "#remove-license")
    def remove_license(self) -> None:
        self.app.push_screen(RemoveLicenseWindow(), self.removed)

    def removed(self, result: ReleaseResult | None) -> None:
        if result is None:
            return
        self.show(None)
        self.say(
            self._(
                "The license was removed from this device. It is now on {used} of {allowed} "
                "devices, so you can activate it on another one.",
                used=result.devices_used,
                allowed=result.devices_max,
            ),
            "success",
        )

    @on(Button.Pressed, "#save-backup")
    def save_backup(self) -> None:
        window = SaveBackupWindow()
        self.app.push_screen(window, lambda path: self.backup_saved(path, window.protected))

    def backup_saved(self, path: Path | None, protected: bool = False) -> None:
        if path is None:
            return
        if protected or self.client.machine.survives_reinstall:
            said = self._(
                "License backup saved to {path}. Keep a copy outside this computer, for "
                "example on a USB drive.",
                path=path,
            )
        else:
            said = self._(
                "License backup saved to {path}. It can be restored on this computer until "
                "its system is reinstalled; before a reinstall, save it again with a "
                "passphrase.",
                path=path,
            )
        self.say(said, "success")

    @on(Button.Pressed, "#restore-license")
    def restore_license(self) -> None:
        self.app.push_screen(RestoreWindow(), self.restored)

    def restored(self, info: LicenseInfo | None) -> None:
        if info is None:
            return
        self.show(info)
        self.say(self._("The license was restored on this device."), "success")


class RemoveLicenseWindow(Window[ReleaseResult]):
    """Asks before freeing this device's seat (F8)."""

    def compose(self) -> ComposeResult:
        yield title(self._("Remove license from this device"))
        with Vertical(id="body"):
            yield Static(
                self._(
                    "Remove the license from this device? The app here stops being licensed, "
                    "and the license's place becomes free, so you can activate it on another "
                    "device with the same activation code."
                ),
                id="confirm-text",
                markup=False,
            )
            with Horizontal(classes="buttons"):
                yield Button(
                    self._("Remove license"), id="confirm-remove", variant="error", compact=True
                )
                yield Button(self._("Cancel"), id="cancel", compact=True)
            yield message_line()

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm-remove")
    def confirm(self) -> None:
        self.run_sdk(self.client.release, self.close_with)
