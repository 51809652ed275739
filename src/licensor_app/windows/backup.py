"""**Save license backup** and **Restore license**: keep the license across an OS
reinstall (F9), or take it to another computer with a passphrase."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from licensor_app.windows.base import Window, message_line, title
from licensor_client import LicenseInfo

BACKUP_NAME = "license-backup.json"


def default_backup_path() -> Path:
    """In the home folder: a place the customer finds again and copies off the machine."""
    return Path.home() / BACKUP_NAME


def _path(text: str) -> Path | None:
    text = text.strip()
    return Path(text).expanduser() if text else None


class SaveBackupWindow(Window[Path]):
    #: Whether the backup saved was protected by a passphrase.
    protected = False

    def compose(self) -> ComposeResult:
        yield title(self._("Save license backup"))
        with Vertical(id="body"):
            yield Static(
                self._(
                    "Save the license before you reinstall the operating system, and restore "
                    "it afterwards."
                ),
                markup=False,
            )
            yield Label(self._("Save to"))
            yield Input(str(default_backup_path()), id="backup-path")
            yield Label(self._("Passphrase (optional)"))
            yield Input(id="backup-passphrase", password=True)
            yield Static(self.what_it_keeps(), id="backup-note", classes="muted", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(self._("Save"), id="save", variant="primary", compact=True)
                yield Button(self._("Cancel"), id="cancel", compact=True)
            yield message_line()

    def what_it_keeps(self) -> str:
        """What a backup restores, and where, on this computer: its identity decides
        whether one without a passphrase opens after a reinstall (docs/client.md)."""
        if self.client.machine.survives_reinstall:
            return self._(
                "Without a passphrase the backup can be restored on this computer only, also "
                "after its system is reinstalled: the license comes back without using "
                "another device. With a passphrase it can also be restored on another "
                "computer, which then counts as one of the license's devices."
            )
        return self._(
            "This computer's identity changes when its system is reinstalled, so a backup "
            "without a passphrase cannot be restored after a reinstall. Choose a passphrase "
            "to keep the license across a reinstall: restoring then counts this computer as "
            "one of the license's devices, as another computer would. Keep the passphrase "
            "safe."
        )

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def save(self) -> None:
        path = _path(self.query_one("#backup-path", Input).value)
        if path is None:
            self.say(self._("Choose where to save the backup."), "error")
            return
        passphrase = self.query_one("#backup-passphrase", Input).value or None
        self.protected = passphrase is not None
        self.run_sdk(lambda: self.client.export_backup(path, passphrase), self.close_with)


class RestoreWindow(Window[LicenseInfo]):
    def compose(self) -> ComposeResult:
        yield title(self._("Restore license"))
        with Vertical(id="body"):
            yield Static(
                self._(
                    "Restore a license backup saved with Save license backup. On the computer "
                    "that saved it no passphrase is needed; on another computer, enter the "
                    "passphrase chosen when it was saved."
                ),
                markup=False,
            )
            yield Label(self._("Backup file"))
            yield Input(str(default_backup_path()), id="restore-path")
            yield Label(self._("Passphrase (if one was chosen)"))
            yield Input(id="restore-passphrase", password=True)
            with Horizontal(classes="buttons"):
                yield Button(self._("Restore"), id="restore", variant="primary", compact=True)
                yield Button(self._("Cancel"), id="cancel", compact=True)
            yield message_line()

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#restore")
    @on(Input.Submitted)
    def restore(self) -> None:
        path = _path(self.query_one("#restore-path", Input).value)
        if path is None:
            self.say(self._("Choose the backup file to restore."), "error")
            return
        passphrase = self.query_one("#restore-passphrase", Input).value or None
        self.run_sdk(
            lambda: self.client.import_backup(path, passphrase),
            self.close_with,
            lambda error: self.say_error(error, passphrase_given=passphrase is not None),
        )
