"""The license key read from pictures as customers really send them, drawn apart from the
app's renderer (tests/support/ocr_pictures.py): one of each hard kind, and pictures with
no key, or two, from which no key may ever be read."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensor.licensing.formats import license_key_from_data
from licensor.support.ocr import read_license_key
from tests.support.ocr_pictures import (
    LIGHT_THEMES,
    MONO_FONTS,
    SANS_FONTS,
    draw_page,
    installed,
    make_picture,
)

pytestmark = pytest.mark.skipif(
    not installed(MONO_FONTS) or not installed(SANS_FONTS),
    reason="Debian's fonts-dejavu-core and fonts-liberation2 are not installed",
)


# Seeds whose picture of each kind bench/ocr.py's reader reads; the description says what
# was drawn when one fails.
@pytest.mark.parametrize(
    ("kind", "seed"),
    [
        ("wrapped", 1),
        ("serif", 2),
        ("lowercase", 3),
        ("photo", 4),
        ("decoys", 5),
    ],
)
def test_the_key_in_a_picture_a_customer_sends_is_read(kind: str, seed: int) -> None:
    picture = make_picture(kind, random.Random(seed))
    assert picture.license_key is not None

    reading = read_license_key(picture.data)

    assert reading.license_key == picture.license_key, picture.description
    assert reading.verified


def test_hashes_and_a_key_one_digit_off_alone_read_no_key() -> None:
    picture = make_picture("decoys only", random.Random(6))
    assert picture.license_key is None

    reading = read_license_key(picture.data)

    assert reading.license_key is None, picture.description
    assert not reading.verified


def test_two_keys_on_one_picture_read_neither() -> None:
    # Two licenses on one picture: which one the customer means is the agent's call.
    rng = random.Random(7)
    first, second = (license_key_from_data(rng.randbytes(13)) for _ in range(2))
    image = draw_page(
        rng,
        key_lines=[first, "", second],
        key_font=installed(MONO_FONTS)[0],
        label_font=installed(SANS_FONTS)[0],
        theme=LIGHT_THEMES[0],
        scale=1.3,
        decoys=0,
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")

    reading = read_license_key(buffer.getvalue())

    assert reading.license_key is None
    assert not reading.verified


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_a_picture_with_only_decoys_never_yields_a_key(seed: int) -> None:
    picture = make_picture("decoys only", random.Random(seed))

    reading = read_license_key(picture.data)

    assert reading.license_key is None, picture.description
