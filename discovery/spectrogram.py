"""Short-time spectra as analysis and fingerprinting read them: frames as rows, a band of bins, block by block.

librosa's `stft` lays frames out as columns and transforms along them, so every FFT reads strided
memory and the whole complex matrix is kept; here each block of frames is windowed, transformed
along contiguous rows (scipy's pocketfft, single precision) and reduced at once to the magnitude
or power of the bins asked for. The values are librosa's (centred frames, zero padding, periodic
Hann window) to single-precision rounding.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.signal

Spectrogram = npt.NDArray[np.float32]
_BLOCK_FRAMES = 128  # frames transformed at a time: a block of 4,096-point frames stays in cache


def power(
    samples: npt.NDArray[np.float32], n_fft: int, hop: int, band: tuple[int, int] | None = None
) -> Spectrogram:
    """|STFT|² of bins `band` = [first, stop) (all when None), as frames × bins; frames centred as librosa's."""
    first, stop = band or (0, n_fft // 2 + 1)
    if not 0 <= first < stop <= n_fft // 2 + 1:
        raise ValueError(f"bins {first}–{stop} are outside a {n_fft}-point spectrum")
    padded = np.pad(np.asarray(samples, dtype=np.float32), n_fft // 2)
    count = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:count]
    window = scipy.signal.get_window("hann", n_fft).astype(np.float32)
    out = np.empty((count, stop - first), dtype=np.float32)
    for start in range(0, count, _BLOCK_FRAMES):
        spectrum = scipy.fft.rfft(frames[start : start + _BLOCK_FRAMES] * window, axis=1)[:, first:stop]
        out[start : start + _BLOCK_FRAMES] = spectrum.real**2 + spectrum.imag**2
    return out


def magnitude(
    samples: npt.NDArray[np.float32], n_fft: int, hop: int, band: tuple[int, int] | None = None
) -> Spectrogram:
    """|STFT| as bins × frames, librosa's layout (a transposed view of `power`'s rows, square-rooted)."""
    return np.sqrt(power(samples, n_fft, hop, band)).T
