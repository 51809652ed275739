"""What every window of the app shares: its language, the SDK, a busy state while the SDK
works in a thread, and one line that tells the customer how it went."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, ClassVar, TypeVar, cast

from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker

from licensor_app.messages import describe_error
from licensor_client import LicenseClient

if TYPE_CHECKING:
    from licensor_app.app import LicensorApp

ResultType = TypeVar("ResultType")
Value = TypeVar("Value")

#: Message kinds, each a CSS class of ``#message``.
KINDS = ("info", "success", "error")


class Window(Screen[ResultType]):
    """A window of the app. Subclasses put their widgets in a container ``#body`` (shown
    as loading while the SDK works) and a ``Static`` ``#message``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close", show=False)]

    @property
    def licensor(self) -> LicensorApp:
        from licensor_app.app import LicensorApp

        return cast(LicensorApp, self.app)

    @property
    def client(self) -> LicenseClient:
        return self.licensor.client

    def _(self, text: str, **values: object) -> str:
        """``text`` in the app's language."""
        return self.licensor.translator(text, **values)

    def action_close(self) -> None:
        self.dismiss(None)

    def close_with(self, result: ResultType) -> None:
        """Close the window, handing ``result`` to whoever opened it."""
        self.dismiss(result)

    # --- the message line -----------------------------------------------------------------

    def say(self, text: str, kind: str = "info", *, target: str = "#message") -> None:
        message = self.query_one(target, Static)
        message.update(text)
        message.remove_class(*KINDS)
        message.add_class(kind)
        message.display = bool(text)

    def say_error(self, error: BaseException, **options: bool) -> None:
        self.say(describe_error(error, self.licensor.translator, **options), "error")

    # --- the SDK in a thread ------------------------------------------------------------------

    def busy(self, busy: bool) -> None:
        self.query_one("#body").loading = busy

    def run_sdk(
        self,
        action: Callable[[], Value],
        done: Callable[[Value], None],
        failed: Callable[[Exception], None] | None = None,
        *,
        group: str = "sdk",
    ) -> Worker[None]:
        """Run ``action`` (a blocking SDK call) in a thread while the window shows it is
        busy; then ``done(result)`` or ``failed(error)`` (default: say what went wrong)
        back on the UI thread, unless the window was closed meanwhile."""
        self.busy(True)
        self.say("")

        def finish(callback: Callable[[], None]) -> None:
            if not self.is_attached:
                return
            self.busy(False)
            callback()

        def work() -> None:
            try:
                result = action()
            except Exception as error:
                self.from_thread(finish, partial(failed or self.say_error, error))
            else:
                self.from_thread(finish, partial(done, result))

        return self.run_worker(work, thread=True, exclusive=True, group=group, name=group)

    def from_thread(self, callback: Callable[..., None], *arguments: object) -> None:
        """Run ``callback`` on the UI thread and wait for it; nothing if the app has ended."""
        try:
            self.app.call_from_thread(callback, *arguments)
        except RuntimeError:
            pass  # the app stopped while the SDK was working: nobody is left to tell


def title(text: str) -> Static:
    """The window's title line (``#window-title``)."""
    return Static(text, id="window-title", classes="window-title", markup=False)


def message_line(id: str = "message") -> Static:
    """The line that says how the last action went (hidden while empty)."""
    line = Static("", id=id, classes="message", markup=False)
    line.display = False
    return line
