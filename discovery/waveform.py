"""A preview's waveform for the page: the loudest sample in each of a few hundred slices, scaled to 0–1."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BARS = 160


def peaks(samples: npt.NDArray[np.float32], bars: int = BARS) -> tuple[float, ...]:
    """`bars` values, each the largest absolute sample of its slice over the whole clip's largest (0 for silence).

    A clip shorter than `bars` samples gives one value per sample.
    """
    if bars < 1:
        raise ValueError("bars must be at least 1")
    magnitude = np.abs(np.asarray(samples, dtype=np.float64))
    if magnitude.size == 0:
        return ()
    slices = np.array_split(magnitude, min(bars, magnitude.size))
    loudest = np.array([s.max() for s in slices])
    top = float(loudest.max())
    if top == 0:
        return tuple(0.0 for _ in loudest)
    return tuple(round(float(v) / top, 3) for v in loudest)
