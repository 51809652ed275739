"""The statistics the timing tests rely on, checked on samples whose answer is known."""

from __future__ import annotations

import random

from tests.timing import ks_p_value, ks_statistic, median_gap_ms, sign_test_p_value


def test_two_samples_of_one_distribution_are_not_told_apart() -> None:
    draw = random.Random(7)
    first = [draw.gauss(5.0, 1.0) for _ in range(800)]
    second = [draw.gauss(5.0, 1.0) for _ in range(800)]
    assert ks_p_value(first, second) > 0.01
    assert abs(median_gap_ms(first, second)) < 200  # 0.2 s of a 1 s spread


def test_a_small_shift_is_found() -> None:
    """A shift of a quarter of the spread, in samples of the size the timing tests take."""
    draw = random.Random(8)
    first = [draw.gauss(5.25, 1.0) for _ in range(1500)]
    second = [draw.gauss(5.0, 1.0) for _ in range(1500)]
    assert ks_p_value(first, second) < 0.001


def test_the_statistic_is_the_largest_gap_between_the_distribution_functions() -> None:
    assert ks_statistic([1, 2, 3, 4], [1, 2, 3, 4]) == 0
    assert ks_statistic([1, 2], [3, 4]) == 1
    assert ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5


def test_the_sign_test_finds_a_shifted_median_and_not_a_centred_one() -> None:
    draw = random.Random(9)
    centred = [draw.gauss(0.0, 1.0) for _ in range(800)]
    shifted = [draw.gauss(0.25, 1.0) for _ in range(800)]
    assert sign_test_p_value(centred) > 0.01
    assert sign_test_p_value(shifted) < 0.001
    assert sign_test_p_value([1.0, -1.0]) == 1.0
