"""The compiled sliding median and the harmonic/percussive masks built on it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from discovery import hpss


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 12),
    columns=st.integers(1, 60),
    width=st.sampled_from([1, 3, 5, 15, 31]),
    axis=st.sampled_from([0, 1]),
    seed=st.integers(0, 2**32 - 1),
    ties=st.booleans(),
)
def test_sliding_median_equals_scipys_median_filter(
    rows: int, columns: int, width: int, axis: int, seed: int, ties: bool
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.random((rows, columns)).astype(np.float32)
    if ties:  # spectrograms of silence and clipping repeat values
        values = np.round(values * 3).astype(np.float32)
    size = (1, width) if axis == 1 else (width, 1)
    expected = ndimage.median_filter(values, size=size, mode="reflect")
    assert np.array_equal(hpss.median_filter(values, width, axis), expected)


def test_an_even_median_width_is_refused() -> None:
    with pytest.raises(ValueError, match="odd"):
        hpss.median_filter(np.zeros((2, 2), dtype=np.float32), 4, 1)


def test_a_held_note_is_harmonic_and_a_click_is_percussive() -> None:
    spectrum = np.full((64, 64), 0.01, dtype=np.float32)
    spectrum[20, :] = 1.0  # a partial held for every frame
    spectrum[:, 40] = 1.0  # a hit across every bin
    harmonic, percussive = hpss.masks(spectrum, 15, 15)
    assert harmonic[20, 10] > 0.99 and percussive[20, 10] < 0.01
    assert percussive[5, 40] > 0.99 and harmonic[5, 40] < 0.01
    assert np.allclose(harmonic + percussive, 1.0)


def test_masks_of_silence_are_zero() -> None:
    harmonic, percussive = hpss.masks(np.zeros((8, 8), dtype=np.float32), 3, 3)
    assert not harmonic.any() and not percussive.any()
