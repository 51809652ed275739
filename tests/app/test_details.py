"""License details (seed 002): the 32-digit key in groups, the public ID, Copy, and the
screenshot a customer attaches to a support request."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageChops

from licensor_app.qr import qr_text
from licensor_app.screenshot import render_license_details
from licensor_client._proof import device_key, make_proof
from tests.app.conftest import MakeMachine
from tests.app.screens import (
    SIZE,
    activate,
    click,
    message,
    open_licensing,
    save_details_screenshot,
    save_screenshot,
    shown,
    text,
    window,
)
from tests.licensing.factories import MakeCode

GROUPED_KEY = re.compile(r"^[0-9A-F]{4}( [0-9A-F]{4}){7}$")


@pytest.mark.anyio
async def test_details_show_the_key_the_server_knows_grouped_for_reading(
    machine: MakeMachine, make_code: MakeCode, api: httpx.Client
) -> None:
    app = machine()
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code("plus"))
        await click(pilot, "#show-details")

        assert window(pilot) == "License details"
        grouped = text(pilot, "#license-key")
        public_id = text(pilot, "#public-id")
        assert GROUPED_KEY.match(grouped), grouped
        assert text(pilot, "#plan") == "Plus"
        assert text(pilot, "#expires")

        await click(pilot, "#copy")
        assert app.clipboard == grouped.replace(" ", "")
        assert message(pilot) == "The license key was copied to the clipboard."

        await click(pilot, "#close")
        assert window(pilot) == "Licensing"

    # The server knows this key for this device, under the public ID the window shows.
    answer = api.post(
        "/api/v1/licenses/validate",
        json={"license_key": grouped.replace(" ", ""), "fingerprint": app.client.fingerprint},
    ).json()
    assert answer["valid"] is True
    assert answer["public_id"] == public_id


@pytest.mark.anyio
async def test_save_screenshot_says_where_and_that_support_can_have_it(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    app = machine()
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code())
        await click(pilot, "#show-details")
        path = await save_screenshot(pilot)

        assert path.parent == app.screenshot_dir
        assert message(pilot) == (
            f"Screenshot saved to {path}. You can attach it to a support request."
        )


def test_the_saved_png_is_the_details_window_with_the_key_drawn(
    server: str, make_code: MakeCode, tmp_path: Path
) -> None:
    shot = save_details_screenshot(server, make_code("plus"), tmp_path / "customer")

    with Image.open(shot.path) as saved:
        assert saved.format == "PNG"
        assert saved.width >= 600
        assert saved.height >= 300
        image = saved.convert("RGB")
    assert len(shot.license_key) == 32
    # Exactly the License details window of this license (the app's default dark theme)...
    assert shot.plan == "Plus"
    info = (shot.license_key, shot.public_id, shot.plan)
    expires = shot.expires_at
    same = render_license_details(*info, expires, product="Licensor Demo", theme="dark")
    assert ImageChops.difference(image, same).getbbox() is None
    # ...in which the key is drawn: another key changes the picture, only where keys are.
    other_key = "0123456789ABCDEF0123456789ABCDEF"
    other = render_license_details(
        other_key, *info[1:], expires, product="Licensor Demo", theme="dark"
    )
    changed = ImageChops.difference(image, other).getbbox()
    assert changed is not None
    left, top, right, bottom = changed
    assert right - left > image.width / 2  # the key spans most of the window
    assert bottom - top < image.height / 4  # and is one line


@pytest.mark.anyio
async def test_the_details_window_shows_the_proofs_qr_code_and_exports_the_proof(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    app = machine()
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code("plus"))
        await click(pilot, "#show-details")
        assert not shown(pilot, "#proof-qr")  # the window stays small until asked

        before = datetime.now(UTC).replace(microsecond=0)
        await click(pilot, "#show-qr")
        after = datetime.now(UTC)
        assert shown(pilot, "#proof-qr")
        drawing = text(pilot, "#proof-qr")
        assert message(pilot) == "Support can scan this QR code: it is your license proof."

        await click(pilot, "#export-proof")
        path = app.screenshot_dir / f"license-proof-{text(pilot, '#public-id')}.txt"
        assert message(pilot).startswith(f"License proof saved to {path}.")

    proof = path.read_text().strip()
    assert proof.startswith("LP1.")
    fields = json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))
    assert fields["fingerprint"] == app.client.fingerprint
    # The QR code is of a proof by the same key (Ed25519 signs the same bytes the same way),
    # made when the button was pressed.
    key = device_key(app.client.state_dir, app.client.machine)
    moments = [
        before + timedelta(seconds=s) for s in range(int((after - before).total_seconds()) + 2)
    ]
    drawn = {
        qr_text(
            make_proof(
                key,
                license_key=fields["license_key"],
                public_id=fields["public_id"],
                fingerprint=fields["fingerprint"],
                issued_at=moment,
            )
        )
        for moment in moments
    }
    assert drawing in drawn
    assert set(drawing) <= {" ", "▀", "▄", "█", "\n"}
