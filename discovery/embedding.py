"""Turn audio features into a fixed-length, L2-normalised vector for similarity search.

Four feature groups (rhythm, harmony, timbre, dynamics) are standardised with fixed constants
(typical values of produced music analysed at 22,050 Hz, never refitted to the catalogue, so a
track's embedding does not move when other tracks arrive), each group is normalised to unit
length and weighted equally. The cosine of two embeddings is then the mean of the four groups'
cosines, which is what lets a search result explain its score group by group.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from discovery.model import AudioFeatures, Mode

Vector = npt.NDArray[np.float64]

# Every group ends with this constant component, so two tracks both near the typical value count
# as similar instead of pointing in unrelated directions from the origin.
_ANCHOR = 1.0

# (centre, scale) per feature: z = (value - centre) / scale.
_MFCC_CENTRE = (110.0, 40.0, 30.0, 15.0, 10.0, 0.0, 5.0, -3.0, 0.0, -6.0, -3.0, -8.0)  # coefficients 1..12
_MFCC_SCALE = (30.0, 20.0, 18.0, 10.0, 10.0, 8.0, 7.0, 6.0, 5.0, 5.0, 5.0, 5.0)
_CONTRAST_CENTRE = (28.0, 23.0, 27.0, 29.0, 29.0, 25.0, 25.0)
_CONTRAST_SCALE = 5.0

GROUPS: dict[str, slice] = {
    "rhythm": slice(0, 5),
    "harmony": slice(5, 19),
    "timbre": slice(19, 43),
    "dynamics": slice(43, 47),
}
EMBEDDING_DIM = 47


def _rhythm(f: AudioFeatures) -> list[float]:
    return [
        math.log2(max(f.bpm, 1.0) / 120.0) / 0.4,  # an octave of tempo is 2.5 units
        (f.pulse_clarity - 0.7) / 0.2,
        (f.onset_rate - 3.0) / 1.5,
        (f.percussive_ratio - 0.05) / 0.04,
    ]


def _harmony(f: AudioFeatures) -> list[float]:
    # The chroma profile's shape, not its level: which pitch classes dominate, and the mode.
    chroma = np.asarray(f.chroma_mean, dtype=np.float64)
    shape = (chroma - chroma.mean()) / (chroma.std() or 1.0)
    return [*(shape / math.sqrt(12)).tolist(), 0.5 if f.key.mode is Mode.MAJOR else -0.5]


def _timbre(f: AudioFeatures) -> list[float]:
    mfcc = [(v - c) / s for v, c, s in zip(f.mfcc_mean[1:13], _MFCC_CENTRE, _MFCC_SCALE, strict=True)]
    contrast = [
        (v - c) / _CONTRAST_SCALE for v, c in zip(f.spectral_contrast_mean, _CONTRAST_CENTRE, strict=True)
    ]
    spectral = [
        math.log2(max(f.spectral_centroid_hz, 1.0) / 1500.0) / 0.5,
        math.log2(max(f.spectral_bandwidth_hz, 1.0) / 1800.0) / 0.5,
        math.log2(max(f.spectral_rolloff_hz, 1.0) / 3300.0) / 0.5,
        (f.spectral_flatness - 0.05) / 0.02,
    ]
    return [*mfcc, *contrast, *spectral]


def _dynamics(f: AudioFeatures) -> list[float]:
    return [(f.loudness_db + 20.0) / 6.0, (f.dynamic_range_db - 7.0) / 3.0, (f.energy - 0.45) / 0.2]


def embed(features: AudioFeatures) -> Vector:
    """The unit-length embedding of one track's features (EMBEDDING_DIM floats)."""
    parts = []
    for values in (_rhythm(features), _harmony(features), _timbre(features), _dynamics(features)):
        group = np.array([*values, _ANCHOR], dtype=np.float64)
        parts.append(group / np.linalg.norm(group))
    vector = np.concatenate(parts) / math.sqrt(len(parts))
    assert len(vector) == EMBEDDING_DIM
    return vector


def group_similarities(a: npt.ArrayLike, b: npt.ArrayLike) -> dict[str, float]:
    """Cosine similarity of each feature group of two embeddings; their mean is the overall cosine."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out: dict[str, float] = {}
    for name, span in GROUPS.items():
        x, y = va[span], vb[span]
        denom = float(np.linalg.norm(x) * np.linalg.norm(y))
        out[name] = float(np.dot(x, y) / denom) if denom else 0.0
    return out
