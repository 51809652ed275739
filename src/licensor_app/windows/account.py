"""**Connect to My Account**: send this device's license to the customer's account by
signing in (F4), or connect the device with a short code entered in My Account (F10)."""

from __future__ import annotations

import threading

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static
from textual.worker import get_current_worker

from licensor_app.messages import describe_error
from licensor_app.windows.base import Window, message_line, title
from licensor_client import (
    Connected,
    DeviceCodeExpired,
    DeviceConnect,
    LicensorClientError,
    LinkResult,
    NetworkError,
)

POLL_GROUP = "connect-poll"
#: What is shown only while there is a code to enter.
CODE_WIDGETS = ("#code-intro", "#user-code", "#verification-uri", "#connect-status", "#check-now")


class ConnectWindow(Window[None]):
    """With a license on the device, signing in sends it to the account; without one, the
    window goes straight to connecting with a code."""

    def __init__(self, *, has_license: bool) -> None:
        super().__init__()
        self.has_license = has_license
        self.connect: DeviceConnect | None = None
        self._wake = threading.Event()

    def compose(self) -> ComposeResult:
        yield title(self._("Connect to My Account"))
        with VerticalScroll(id="body"):
            with Vertical(id="sign-in-panel"):
                yield Static(
                    self._(
                        "Sign in with your My Account email address and password: the app "
                        "sends its license to your account, and the license's activation "
                        "code then appears in the Licenses section of My Account. No account "
                        "yet? Create one at {url} with the email address you used when you "
                        "bought the license.",
                        url=self.client.server + "/sign-up",
                    ),
                    markup=False,
                )
                yield Label(self._("Email"))
                yield Input(id="email", placeholder="name@example.com")
                yield Label(self._("Password"))
                yield Input(id="password", password=True)
                with Horizontal(classes="buttons"):
                    yield Button(self._("Sign in"), id="sign-in", variant="primary", compact=True)
                    yield Button(
                        self._("Connect with a code instead"),
                        id="connect-with-code",
                        classes="link",
                        compact=True,
                    )
            with Vertical(id="code-panel"):
                yield Static(
                    self._(
                        "On any phone or computer, sign in to My Account at the address "
                        "below and enter this code:"
                    ),
                    id="code-intro",
                    markup=False,
                )
                yield Static("", id="user-code", classes="user-code", markup=False)
                yield Static("", id="verification-uri", markup=False)
                yield Static("", id="connect-status", classes="muted", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button(self._("I have entered the code"), id="check-now", compact=True)
                    yield Button(self._("Get a new code"), id="new-code", compact=True)
            yield message_line()
        yield Button(self._("Close"), id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#code-panel").display = False
        if self.has_license:
            self.query_one("#email", Input).focus()
        else:
            self.query_one("#sign-in-panel").display = False
            self.start_connecting()

    def on_unmount(self) -> None:
        self.stop_polling()

    @on(Button.Pressed, "#close")
    def close_window(self) -> None:
        self.dismiss(None)

    # --- sign in (F4) -------------------------------------------------------------------------

    @on(Button.Pressed, "#sign-in")
    @on(Input.Submitted, "#email, #password")
    def sign_in(self) -> None:
        email = self.query_one("#email", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not email or not password:
            self.say(self._("Enter your email address and password."), "error")
            return
        self.run_sdk(lambda: self.client.recover(email, password), self.signed_in)

    def signed_in(self, result: LinkResult) -> None:
        self.query_one("#password", Input).value = ""
        if result.status == "already_linked":
            text = self._(
                "This license was already in your account. Its activation code is in the "
                "Licenses section of My Account: {url}",
                url=result.licenses_url,
            )
        else:
            text = self._(
                "Your license was sent to your account. Its activation code is now in the "
                "Licenses section of My Account: {url}",
                url=result.licenses_url,
            )
        self.say(text, "success")

    # --- connect with a code (F10) ------------------------------------------------------------

    @on(Button.Pressed, "#connect-with-code, #new-code")
    def start_connecting(self) -> None:
        self.stop_polling()
        self.query_one("#code-panel").display = True
        for selector in CODE_WIDGETS:  # until the server gives a code
            self.query_one(selector).display = False
        self.run_sdk(self.client.connect_start, self.show_code)

    def show_code(self, connect: DeviceConnect) -> None:
        self.connect = connect
        for selector in CODE_WIDGETS:
            self.query_one(selector).display = True
        self.query_one("#user-code", Static).update(connect.user_code)
        self.query_one("#verification-uri", Static).update(connect.verification_uri)
        self.query_one("#connect-status", Static).update(
            self._("Waiting for the code to be entered…")
        )
        self._wake = threading.Event()
        self.run_worker(
            lambda: self.poll(connect, self._wake),
            thread=True,
            exclusive=True,
            group=POLL_GROUP,
            name=POLL_GROUP,
        )

    @on(Button.Pressed, "#check-now")
    def check_now(self) -> None:
        self._wake.set()

    def stop_polling(self) -> None:
        self.workers.cancel_group(self, POLL_GROUP)
        self._wake.set()

    def poll(self, connect: DeviceConnect, wake: threading.Event) -> None:
        """Ask the server at its interval (or at once when woken) until the code is
        entered, it expires, or the window closes."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            try:
                connected = self.client.connect_poll(connect)
            except NetworkError as error:
                self.from_thread(self.poll_trouble, error)
            except LicensorClientError as error:
                self.from_thread(self.connect_failed, error)
                return
            else:
                if connected is not None:
                    self.from_thread(self.connected, connected)
                    return
            wake.wait(connect.interval)
            wake.clear()

    def poll_trouble(self, error: Exception) -> None:
        if self.is_attached:
            self.query_one("#connect-status", Static).update(
                describe_error(error, self.licensor.translator)
            )

    def connect_failed(self, error: Exception) -> None:
        if not self.is_attached:
            return
        self.query_one("#connect-status", Static).update("")
        if isinstance(error, DeviceCodeExpired):
            self.say(self._("The code has expired. Choose Get a new code."), "error")
        else:
            self.say_error(error)

    def connected(self, connected: Connected) -> None:
        if not self.is_attached:
            return
        self.query_one("#connect-status", Static).update("")
        text = self._(
            "This device is now connected to your account {account}.", account=connected.account
        )
        if connected.licenses_linked:
            text += " " + self._(
                "Its license was sent there too: the activation code is in the Licenses "
                "section of My Account."
            )
        self.say(text, "success")
