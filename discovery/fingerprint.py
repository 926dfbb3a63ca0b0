"""Landmark fingerprints: hash pairs of spectral peaks, and identify a clip by offset voting.

The constellation method (Wang, 2003): the strongest peaks of the spectrogram survive noise and
compression; each peak is paired with the peaks just after it, and (f1, f2, Δt) becomes a hash.
A clip from a track shares many hashes with it at one constant time offset, while chance matches
with other tracks scatter over many offsets, so the tallest offset histogram bin identifies it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from uuid import UUID

import numba
import numpy as np
import numpy.typing as npt

from discovery import spectrogram
from discovery.model import FingerprintHit, Identification, Landmark

SAMPLE_RATE = 22_050
N_FFT = 4096  # 5.4 Hz bins: a tone's peak stands 3 dB further above white noise than at 2,048
HOP = 512  # one offset unit is 512 / 22,050 s ≈ 23 ms
MIN_BIN = 28  # ≈ 150 Hz: below it a peak is mostly kick drum and rumble
MAX_BIN = 1023  # ≈ 5.5 kHz, ten bits: white noise drowns music above it first
NEIGHBOURHOOD = (29, 7)  # a peak is the loudest within ±14 bins (±75 Hz) and ±3 frames
PEAKS_PER_SECOND = 6  # kept per second in the catalogue: about 23 hashes per second
QUERY_PEAKS_PER_SECOND = 18  # a clip keeps more, so the catalogue's peaks survive noise among them
MIN_DT, MAX_DT = 2, 40  # target zone: 46 ms to 0.93 s after the anchor (six bits)
MAX_DF = 200  # and within ±200 bins (±1 kHz)

# The decision rule, calibrated on snippets of real music that was never indexed
# (docs/benchmarks.md, "the decision rule's calibration"). Votes on one offset are weighted by how
# rare their hash is (1/√ the stored landmarks with it): chance alignments between unrelated
# pieces are mostly hashes many tracks share. A match needs this much weight, this much per
# second of sound in the clip (chance grows with a clip's length), and this many times the weight
# of the best track outside the match's recording group.
MIN_WEIGHT = 8.5
MIN_WEIGHT_PER_SECOND = 0.7
MIN_RATIO = 2.0
RUNNER_UP_FLOOR = 0.5  # the ratio is taken against at least this, so a lone match still needs MIN_WEIGHT
OFFSET_TOLERANCE = 1  # frames either side, for peaks that land on a neighbouring frame

Array = npt.NDArray[np.float32]
Spectrogram = spectrogram.Spectrogram


def frames_to_seconds(frames: int) -> float:
    return frames * HOP / SAMPLE_RATE


def peaks(audio: Array, peaks_per_second: int = PEAKS_PER_SECOND) -> npt.NDArray[np.int64]:
    """Spectral peaks as (frame, bin) rows: local maxima of the spectrum, the strongest few per second.

    Compared as power, which orders values as their decibels do, so the peaks (and which of them
    are strongest) are the log spectrum's without taking a logarithm of every value.
    """
    band = spectrogram.power(np.asarray(audio, dtype=np.float32), N_FFT, HOP, (MIN_BIN, MAX_BIN + 1))
    floor = 10 ** (2 * math.log10(N_FFT / 4) - 7)  # ≈ −70 dBFS as power: silence yields no peaks at all
    frames, bins = np.nonzero(_local_maxima(band, floor, NEIGHBOURHOOD[0] // 2, NEIGHBOURHOOD[1] // 2))
    strength = band[frames, bins]
    keep = _strongest_nearby(frames, strength, peaks_per_second, int(0.5 * SAMPLE_RATE / HOP))
    return np.stack([frames[keep], bins[keep] + MIN_BIN], axis=1).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _local_maxima(band: Spectrogram, floor: float, half_bins: int, half_frames: int) -> npt.NDArray[np.bool_]:
    """Where `band` (frames × bins) is above `floor` and no value within ±half_bins, ±half_frames exceeds it.

    scipy's maximum filter (mode "nearest") compared with the values, without its two passes over
    every value: most fail against a neighbour in their own frame.
    """
    n_frames, n_bins = band.shape
    found = np.zeros((n_frames, n_bins), dtype=np.bool_)
    for t in range(n_frames):
        for b in range(n_bins):
            value = band[t, b]
            if (
                value <= floor
                or (b > 0 and band[t, b - 1] > value)
                or (b + 1 < n_bins and band[t, b + 1] > value)
            ):
                continue
            peak = True
            for tt in range(max(0, t - half_frames), min(n_frames, t + half_frames + 1)):
                for bb in range(max(0, b - half_bins), min(n_bins, b + half_bins + 1)):
                    if band[tt, bb] > value:
                        peak = False
                        break
                if not peak:
                    break
            found[t, b] = peak
    return found


@numba.njit(cache=True, nogil=True)
def _strongest_nearby(
    frames: npt.NDArray[np.int64], strength: Spectrogram, count: int, half: int
) -> npt.NDArray[np.bool_]:
    """Which peaks (in frame order) are among the `count` strongest within ±`half` frames of themselves.

    Judged in a window centred on each peak rather than in fixed one-second blocks, so a clip
    cut anywhere from a track keeps the same peaks as the track did.
    """
    n = len(frames)
    keep = np.zeros(n, dtype=np.bool_)
    low = high = 0
    for i in range(n):
        while frames[low] < frames[i] - half:
            low += 1
        while high < n and frames[high] <= frames[i] + half:
            high += 1
        stronger = 0
        for j in range(low, high):
            stronger += strength[j] > strength[i]
        keep[i] = stronger < count
    return keep


def landmarks(audio: Array, peaks_per_second: int = PEAKS_PER_SECOND) -> list[Landmark]:
    """The clip's hashes: each peak paired with every later peak in its target zone.

    Pairing with the whole zone (not the next n peaks) makes the hashes of a sparser peak set a
    subset of a denser one's, so a query can be fingerprinted more densely than the catalogue
    and still contain the catalogue's hashes when noise has pushed some peaks down the ranking.
    """
    hashes, offsets = _pairs(peaks(audio, peaks_per_second))
    return [Landmark(hash=h, offset=o) for h, o in zip(hashes.tolist(), offsets.tolist(), strict=True)]


@numba.njit(cache=True, nogil=True)
def _pairs(points: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(hash, anchor frame) of every pair of (frame, bin) points, in frame order, within the target zone."""
    n = len(points)
    zone = 0  # the pairs there can be: each point with every later one up to MAX_DT frames on
    for i in range(n):
        j = i + 1
        while j < n and points[j, 0] - points[i, 0] <= MAX_DT:
            j += 1
        zone += j - i - 1
    hashes = np.empty(zone, dtype=np.int64)
    offsets = np.empty(zone, dtype=np.int64)
    kept = 0
    for i in range(n):
        t1, f1 = points[i, 0], points[i, 1]
        for j in range(i + 1, n):
            dt = points[j, 0] - t1
            if dt > MAX_DT:
                break
            if dt >= MIN_DT and abs(points[j, 1] - f1) <= MAX_DF:
                hashes[kept] = (f1 << 16) | (points[j, 1] << 6) | dt
                offsets[kept] = t1
                kept += 1
    return hashes[:kept], offsets[:kept]


def recording_groups(duplicates: Iterable[tuple[UUID, UUID]]) -> dict[UUID, frozenset[UUID]]:
    """Each track's recording group: the tracks joined to it by near-duplicate links, however indirectly."""
    parent: dict[UUID, UUID] = {}

    def root(track: UUID) -> UUID:
        while parent.setdefault(track, track) != track:
            parent[track] = parent[parent[track]]
            track = parent[track]
        return track

    for copy, original in duplicates:
        parent[root(copy)] = root(original)
    members: defaultdict[UUID, set[UUID]] = defaultdict(set)
    for track in list(parent):
        members[root(track)].add(track)
    return {track: frozenset(members[root(track)]) for track in parent}


def identify(
    query: Sequence[Landmark],
    hits: Iterable[FingerprintHit],
    groups: Mapping[UUID, frozenset[UUID]] | None = None,
) -> Identification:
    """The track and offset most query hashes agree on, or no match when the evidence falls short.

    `hits` are the stored landmarks whose hash occurs in the query (one lookup per clip).
    Near-duplicates of one recording (`groups`, from `recording_groups`) share their votes, so the
    runner-up is the best track outside the winner's group, and the answer names the group.
    The confidence is 0.5 exactly at the decision rule's bar (see `evidence`) and tends to 1 far
    above it; a clip that falls short says how close it came. The offset is where in the track
    the clip starts: negative when the clip begins before the track does (a lead-in).
    Fingerprint the clip with `landmarks(clip, QUERY_PEAKS_PER_SECOND)`.
    """
    by_hash: defaultdict[int, list[int]] = defaultdict(list)
    for landmark in query:
        by_hash[landmark.hash].append(landmark.offset)
    # A set per (track, offset difference) of the query landmarks voting for it, so a hash that
    # repeats (a drum loop) votes once per landmark rather than once per repetition.
    voters: defaultdict[tuple[UUID, int], set[tuple[int, int]]] = defaultdict(set)
    stored: Counter[int] = Counter()  # the hits are every stored landmark with the query's hashes
    for hit in hits:
        stored[hit.hash] += 1
        for offset in by_hash.get(hit.hash, ()):
            voters[(hit.track_id, hit.offset - offset)].add((hit.hash, offset))
    votes = {key: (len(m), sum(1 / math.sqrt(stored[h]) for h, _ in m)) for key, m in voters.items()}
    best_per_track: dict[UUID, tuple[float, int, int]] = {}  # weight, aligned hashes, offset
    for track, delta in votes:
        near = [
            votes.get((track, delta + d), (0, 0.0)) for d in range(-OFFSET_TOLERANCE, OFFSET_TOLERANCE + 1)
        ]
        weight = sum(w for _, w in near)
        if weight > best_per_track.get(track, (0.0, 0, 0))[0]:
            best_per_track[track] = (weight, sum(n for n, _ in near), delta)
    ranked = sorted(best_per_track.items(), key=lambda item: item[1][0], reverse=True)
    if not ranked:
        return Identification(matched=False, query_hashes=len(query))
    track, (weight, aligned, delta) = ranked[0]
    group = (groups or {}).get(track, frozenset({track}))
    runner_up = next((w for other, (w, _, _) in ranked if other not in group), 0.0)
    strength = evidence(weight, runner_up, sounding_seconds(query))
    confidence = round(1 - 0.5**strength, 3)
    if strength < 1:
        return Identification(
            matched=False, confidence=confidence, aligned_hashes=aligned, query_hashes=len(query)
        )
    return Identification(
        matched=True,
        track_id=track,
        offset_s=round(frames_to_seconds(delta), 3),
        confidence=confidence,
        aligned_hashes=aligned,
        query_hashes=len(query),
        recording_group=tuple(sorted(group, key=str)) if len(group) > 1 else (),
    )


def evidence(weight: float, runner_up: float, seconds: float) -> float:
    """How far a best alignment's weight clears the lowest of the rule's three bars: 1.0 exactly at it."""
    return min(
        weight / MIN_WEIGHT,
        weight / (MIN_WEIGHT_PER_SECOND * max(seconds, 1.0)),
        weight / (MIN_RATIO * max(runner_up, RUNNER_UP_FLOOR)),
    )


def sounding_seconds(query: Sequence[Landmark]) -> float:
    """The seconds of a clip its landmarks span: its length, less any silence at either end."""
    if not query:
        return 0.0
    offsets = [landmark.offset for landmark in query]
    return frames_to_seconds(max(offsets) - min(offsets) + MAX_DT)
