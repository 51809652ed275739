"""``LicensorApp``: the reference app a vendor's product grows from (Textual).

One ``LicenseClient`` per app; every window reaches it through the app, so a test can
build two apps with their own state directory and fingerprint and have two machines.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.reactive import reactive
from textual.screen import Screen

from licensor_app.floating import FloatingSeat
from licensor_app.i18n import DEFAULT_LANGUAGE, Translator
from licensor_app.windows.main import MainWindow
from licensor_client import LicenseClient, LicenseInfo

APP_ID = "licensor-app"
DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_PRODUCT = "Licensor Demo"


def default_screenshot_dir() -> Path:
    """Where a customer looks for a screenshot: the Pictures folder (the XDG one on
    Linux when set), else the home folder."""
    home = Path.home()
    user_dirs = home / ".config" / "user-dirs.dirs"
    try:
        for line in user_dirs.read_text().splitlines():
            if line.startswith("XDG_PICTURES_DIR="):
                value = line.partition("=")[2].strip().strip('"').replace("$HOME", str(home))
                if Path(value).is_dir():
                    return Path(value)
    except OSError:
        pass
    pictures = home / "Pictures"
    return pictures if pictures.is_dir() else home


class LicensorApp(App[None]):
    """The app: a main window with a **License** link to the Licensing window."""

    CSS_PATH = "app.tcss"

    #: The license as last learned by any window (``None``: no license on this device).
    license_info: reactive[LicenseInfo | None] = reactive(None, always_update=True, init=False)
    #: How this device's seat of a floating license stands ("" for other licenses).
    floating_line: reactive[str] = reactive("", init=False)

    def __init__(
        self,
        server: str = DEFAULT_SERVER,
        public_keys: str | None = None,
        *,
        state_dir: Path | str | None = None,
        fingerprint: str | None = None,
        language: str = DEFAULT_LANGUAGE,
        screenshot_dir: Path | str | None = None,
        product: str = DEFAULT_PRODUCT,
        timeout: float = 10.0,
        enrollment_token: str | None = None,
    ) -> None:
        self.translator = Translator(language)
        super().__init__()
        self.product = product
        self.title = product
        #: The one-time token of a download from My Account, redeemed on first start.
        self.enrollment_token = enrollment_token
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir else default_screenshot_dir()
        self.client = LicenseClient(
            server,
            public_keys,
            app_id=APP_ID,
            state_dir=state_dir,
            fingerprint=fingerprint,
            timeout=timeout,
        )
        self.floating = FloatingSeat(self)

    @property
    def language(self) -> str:
        return self.translator.language

    def get_default_screen(self) -> Screen[None]:
        return MainWindow()

    def on_mount(self) -> None:
        if self.client.has_license():
            self.floating.start()  # a floating license's seat, held while the app runs

    def on_unmount(self) -> None:
        self.floating.stop()
        self.client.close()
