"""How much of a recording's sustained pitch wobbles like a singer's vibrato: a cue for "somebody sings".

Singers hold notes with vibrato (4–8 Hz, tens of cents); synthesised and most acoustic instruments
hold them steady. The strongest spectral peaks of each frame are linked into partial tracks, and the
share of long tracks whose pitch oscillates at a vibrato rate is the measure. The linking runs once
per frame over a whole track, so it is compiled (numba) rather than looped in Python.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

LOW_HZ, HIGH_HZ = 300.0, 3000.0  # where sung and played melodies hold their partials
PEAKS_PER_FRAME = 10
PEAK_RANGE_DB = 30.0  # a peak counts within this of the frame's loudest
LINK_CENTS = 60.0  # a partial moves at most this far from one frame to the next
SUSTAINED_SECONDS = 0.4
MIN_WOBBLE_CENTS = 15.0

_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]


@numba.njit(cache=True, nogil=True)
def _link_peaks(db: _F32, first_bin: int, bin_hz: float) -> tuple[_I64, _F64]:
    """Partial tracks through the frames of `db` (one bin of margin either side of the band).

    Returns, for every peak kept, its track number and its pitch in cents above 1 Hz, in frame
    order. Each track in turn takes the nearest untaken peak within LINK_CENTS or ends; peaks
    left over start new tracks.
    """
    n_bins, n_frames = db.shape
    tracks = np.empty(n_frames * PEAKS_PER_FRAME, dtype=np.int64)
    pitches = np.empty(n_frames * PEAKS_PER_FRAME, dtype=np.float64)
    kept = 0
    active = np.empty(PEAKS_PER_FRAME, dtype=np.int64)
    active_last = np.empty(PEAKS_PER_FRAME, dtype=np.float64)
    n_active = 0
    next_track = 0
    candidates = np.empty(n_bins, dtype=np.int64)
    cents = np.empty(PEAKS_PER_FRAME, dtype=np.float64)
    for f in range(n_frames):
        frame = db[:, f]
        floor = frame.max() - PEAK_RANGE_DB
        n_candidates = 0
        for k in range(1, n_bins - 1):
            if frame[k] > frame[k - 1] and frame[k] >= frame[k + 1] and frame[k] > floor:
                candidates[n_candidates] = k
                n_candidates += 1
        order = np.argsort(-frame[candidates[:n_candidates]], kind="mergesort")[:PEAKS_PER_FRAME]
        n_peaks = len(order)
        for j in range(n_peaks):
            k = candidates[order[j]]
            left, centre, right = frame[k - 1], frame[k], frame[k + 1]
            curvature = left - 2.0 * centre + right
            shift = 0.5 * (left - right) / (curvature if curvature != 0 else -1e-9)
            hz = (first_bin - 1 + k + shift) * bin_hz
            cents[j] = 1200.0 * np.log2(max(hz, 1.0))
        taken = np.zeros(n_peaks, dtype=np.bool_)
        still = np.empty(PEAKS_PER_FRAME, dtype=np.int64)
        still_last = np.empty(PEAKS_PER_FRAME, dtype=np.float64)
        n_still = 0
        for a in range(n_active):
            best, gap = -1, 1e300
            for j in range(n_peaks):
                if not taken[j] and abs(cents[j] - active_last[a]) < gap:
                    best, gap = j, abs(cents[j] - active_last[a])
            if best >= 0 and gap < LINK_CENTS:
                taken[best] = True
                tracks[kept], pitches[kept] = active[a], cents[best]
                kept += 1
                still[n_still], still_last[n_still] = active[a], cents[best]
                n_still += 1
        for j in range(n_peaks):
            if not taken[j]:
                tracks[kept], pitches[kept] = next_track, cents[j]
                kept += 1
                still[n_still], still_last[n_still] = next_track, cents[j]
                n_still += 1
                next_track += 1
        active[:n_still], active_last[:n_still] = still[:n_still], still_last[:n_still]
        n_active = n_still
    return tracks[:kept], pitches[:kept]


def vibrato_ratio(harmonic: _F32, sr: int, n_fft: int, hop: int) -> float:
    """Share of sustained partials (≥ 0.4 s) whose pitch oscillates at 4–8 Hz by ≥ 15 cents.

    `harmonic` is a magnitude spectrogram (bins × frames, `n_fft` at `sr`, frames `hop` apart),
    best with the percussion taken out; frames must be close enough (≤ 25 ms) to follow vibrato.
    """
    bin_hz = sr / n_fft
    first, last = int(np.ceil(LOW_HZ / bin_hz)), int(HIGH_HZ / bin_hz)
    band = np.asarray(harmonic[first - 1 : last + 2], dtype=np.float32)
    top = float(band.max()) if band.size else 0.0
    if top <= 0:
        return 0.0
    db = (20 * np.log10(np.maximum(band, 1e-4 * top) / top)).astype(np.float32)  # dB below the top, floor −80
    tracks, pitches = _link_peaks(np.ascontiguousarray(db), first, bin_hz)
    frame_rate = sr / hop
    lengths = np.bincount(tracks)
    sustained = lengths >= int(SUSTAINED_SECONDS * frame_rate)
    if not sustained.any():
        return 0.0
    keep = sustained[tracks]
    order = np.argsort(tracks[keep], kind="stable")  # each track's pitches stay in frame order
    ids, pitches = tracks[keep][order], pitches[keep][order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    track_lengths = lengths[ids[starts]]
    wobbly = 0
    for n in np.unique(track_lengths):  # tracks of one length are judged together
        rows = starts[track_lengths == n][:, None] + np.arange(n)
        wobbly += int(np.count_nonzero(_wobbles(pitches[rows], frame_rate)))
    return wobbly / len(starts)


def _wobbles(pitches: _F64, frame_rate: float) -> npt.NDArray[np.bool_]:
    """Which tracks (rows of equal length, in cents) deviate from their trend at a vibrato rate."""
    window = max(3, int(frame_rate / 3.0))  # a third of a second: slower than vibrato, faster than a melody
    n = pitches.shape[1]
    # The trend at t is the mean of frames t − ⌊window/2⌋ … t + ⌈window/2⌉ − 1, the ends repeated.
    padded = np.pad(pitches, ((0, 0), (window // 2, window - window // 2)), mode="edge")
    sums = np.concatenate([np.zeros((len(pitches), 1)), np.cumsum(padded, axis=1)], axis=1)
    trend = (sums[:, window : window + n] - sums[:, :n]) / window
    deviation = pitches - trend
    spectrum = np.abs(np.fft.rfft(deviation * np.hanning(n), axis=1))
    rates = np.fft.rfftfreq(n, d=1 / frame_rate)
    in_band = spectrum[:, (rates >= 4) & (rates <= 8)].sum(axis=1)
    moving = spectrum[:, rates > 0.5].sum(axis=1)
    result: npt.NDArray[np.bool_] = (np.std(deviation, axis=1) >= MIN_WOBBLE_CENTS) & (in_band > 0.5 * moving)
    return result
