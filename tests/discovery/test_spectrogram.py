"""Spectrograms computed frame-row by frame-row equal librosa's."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discovery import spectrogram


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large")  # clips shorter than a frame, as ours allow
@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(1, 20_000),
    n_fft=st.sampled_from([256, 1024, 2048, 4096]),
    hop_share=st.sampled_from([4, 2, 1]),
    band=st.tuples(st.floats(0, 0.9), st.floats(0.05, 1)),
    seed=st.integers(0, 2**32 - 1),
)
def test_power_equals_librosas_stft_squared(
    length: int, n_fft: int, hop_share: int, band: tuple[float, float], seed: int
) -> None:
    samples = np.random.default_rng(seed).uniform(-1, 1, length).astype(np.float32)
    bins = n_fft // 2 + 1
    first = int(band[0] * (bins - 1))
    stop = min(bins, first + 1 + int(band[1] * (bins - first)))
    hop = n_fft // hop_share
    expected = np.abs(librosa.stft(samples, n_fft=n_fft, hop_length=hop))[first:stop] ** 2
    found = spectrogram.power(samples, n_fft, hop, (first, stop))
    assert found.shape == expected.T.shape
    assert np.allclose(found, expected.T, rtol=1e-4, atol=1e-6 * float(expected.max(initial=1.0)))


def test_magnitude_is_librosas_layout_and_values() -> None:
    samples = np.sin(np.arange(30_000) * 0.05).astype(np.float32)
    expected = np.abs(librosa.stft(samples, n_fft=2048, hop_length=512))
    assert np.allclose(spectrogram.magnitude(samples, 2048, 512), expected, rtol=1e-4, atol=1e-3)


def test_a_band_outside_the_spectrum_is_refused() -> None:
    with pytest.raises(ValueError, match="outside a 1024-point spectrum"):
        spectrogram.power(np.zeros(4096, dtype=np.float32), 1024, 256, (100, 600))
