"""The vibrato cue on tones whose pitch is known: steady, wobbling at a singer's rate, and gliding."""

from __future__ import annotations

import librosa
import numpy as np
import numpy.typing as npt

from discovery import analysis, vibrato

SR, N_FFT, HOP = analysis.PITCH_RATE, analysis.PITCH_N_FFT, analysis.PITCH_HOP


def _tone(cents_over_time: npt.NDArray[np.float64], base_hz: float = 440.0) -> npt.NDArray[np.float32]:
    """A tone with three harmonics whose pitch follows `cents_over_time` (one value per sample)."""
    hz = base_hz * 2 ** (cents_over_time / 1200)
    phase = 2 * np.pi * np.cumsum(hz) / SR
    tone: npt.NDArray[np.float32] = np.sum([np.sin(k * phase) / k for k in (1, 2, 3)], axis=0).astype(
        np.float32
    )
    return tone


def _ratio(samples: npt.NDArray[np.float32]) -> float:
    spectrum = np.abs(librosa.stft(samples, n_fft=N_FFT, hop_length=HOP))
    return vibrato.vibrato_ratio(spectrum, SR, N_FFT, HOP)


def test_a_steady_tone_has_no_vibrato() -> None:
    assert _ratio(_tone(np.zeros(4 * SR))) == 0.0


def test_a_tone_wobbling_six_times_a_second_by_half_a_semitone_is_vibrato() -> None:
    t = np.arange(4 * SR) / SR
    assert _ratio(_tone(50 * np.sin(2 * np.pi * 6 * t))) > 0.5


def test_a_slow_glide_is_a_melody_not_vibrato() -> None:
    t = np.arange(4 * SR) / SR
    assert _ratio(_tone(40 * np.sin(2 * np.pi * 0.5 * t))) == 0.0


def test_silence_has_no_vibrato() -> None:
    assert vibrato.vibrato_ratio(np.zeros((513, 100), dtype=np.float32), SR, N_FFT, HOP) == 0.0
