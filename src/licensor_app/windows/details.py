"""**License details**: the 32-digit license key and the public ID, to copy or to send to
support as a screenshot (F6), or as a license proof signed by this device (a file, or its
QR code on screen), which support checks without reading a picture."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Label, Static

from licensor_app.qr import qr_text
from licensor_app.screenshot import save_license_details
from licensor_app.windows.base import Window, message_line, title
from licensor_app.windows.summary import expiry, plan_name
from licensor_client import LicenseInfo


class LicenseDetailsWindow(Window[None]):
    # Focus on the first control when the window opens (issue 14, item 15).
    AUTO_FOCUS = "#copy"

    info: LicenseInfo | None = None
    #: The last screenshot saved from this window.
    saved_path: Path | None = None

    def compose(self) -> ComposeResult:
        yield title(self._("License details"))
        with Vertical(id="body"):
            yield Label(self._("License key"), classes="field-label")
            yield Static("", id="license-key", classes="license-key", markup=False)
            with Grid(classes="fields"):
                for label, field in (
                    (self._("Public ID"), "public-id"),
                    (self._("Plan"), "plan"),
                    (self._("Expires"), "expires"),
                ):
                    yield Label(label, classes="field-label")
                    yield Static("", id=field, classes="field-value", markup=False)
            yield Static(
                self._(
                    "Support may ask for the license key: send a screenshot of this window "
                    "with your request. The public ID is safe to say on the phone."
                ),
                classes="muted",
                markup=False,
            )
            with Horizontal(classes="buttons"):
                yield Button(self._("Copy"), id="copy", compact=True)
                yield Button(self._("Save screenshot"), id="save-screenshot", compact=True)
                yield Button(self._("Close"), id="close", compact=True)
            # The license proof: signed by this device, so support needs no picture.
            with Horizontal(classes="buttons", id="proof-buttons"):
                yield Button(self._("Export proof…"), id="export-proof", compact=True)
                yield Button(self._("QR code"), id="show-qr", compact=True)
            yield message_line()
            # Shown on demand: the proof's QR code is larger than the rest of the window.
            yield Static("", id="proof-qr", markup=False)

    def on_mount(self) -> None:
        self.run_sdk(self.client.details, self.show)

    def show(self, info: LicenseInfo) -> None:
        self.info = info
        _ = self.licensor.translator
        self.query_one("#license-key", Static).update(info.grouped_license_key)
        self.query_one("#public-id", Static).update(info.public_id)
        self.query_one("#plan", Static).update(plan_name(info))
        self.query_one("#expires", Static).update(expiry(info, _))

    @on(Button.Pressed, "#close")
    def close_window(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#copy")
    def copy(self) -> None:
        if self.info is None:
            return
        self.app.copy_to_clipboard(self.info.license_key)
        self.say(self._("The license key was copied to the clipboard."), "success")

    def screenshot_path(self, info: LicenseInfo) -> Path:
        return self.licensor.screenshot_dir / f"license-details-{info.public_id}.png"

    @on(Button.Pressed, "#save-screenshot")
    def save_screenshot(self) -> None:
        info = self.info
        if info is None:
            return
        path = self.screenshot_path(info)
        theme = "dark" if self.app.current_theme.dark else "light"

        def save() -> Path:
            return save_license_details(
                path,
                info.license_key,
                info.public_id,
                plan_name(info),
                info.expires_at,
                product=self.licensor.product,
                language=self.licensor.language,
                theme=theme,
            )

        self.run_sdk(save, self.saved)

    def proof_path(self, info: LicenseInfo) -> Path:
        return self.licensor.screenshot_dir / f"license-proof-{info.public_id}.txt"

    @on(Button.Pressed, "#export-proof")
    def export_proof(self) -> None:
        info = self.info
        if info is None:
            return
        path = self.proof_path(info)

        self.run_sdk(lambda: self.client.export_proof(path), self.proof_saved)

    def proof_saved(self, path: Path) -> None:
        self.saved_path = path
        self.say(
            self._(
                "License proof saved to {path}. Attach it to a support request: it is "
                "signed by this device, so support can check it at once.",
                path=path,
            ),
            "success",
        )

    @on(Button.Pressed, "#show-qr")
    def show_qr(self) -> None:
        if self.info is None:
            return
        self.run_sdk(lambda: qr_text(self.client.license_proof()), self.qr_shown)

    def qr_shown(self, drawing: str) -> None:
        qr = self.query_one("#proof-qr", Static)
        qr.update(drawing)
        qr.display = True
        self.say(self._("Support can scan this QR code: it is your license proof."), "info")

    def saved(self, path: Path) -> None:
        self.saved_path = path
        self.say(
            self._(
                "Screenshot saved to {path}. You can attach it to a support request.", path=path
            ),
            "success",
        )
