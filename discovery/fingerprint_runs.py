"""The fingerprint index's layout: landmarks packed into runs that partition the hash space.

A row per landmark costs about 80 bytes in PostgreSQL (a 24-byte tuple header, a line pointer
and an index entry for a 12-byte payload), which is 8 MB per hour of audio. Instead each row
is a run: every stored landmark whose hash lies in [first_hash, next run's first_hash), sorted
by hash and packed in 10 bytes (hash and offset in 48 bits, track key). A run splits when it outgrows
RUN_LANDMARKS, so the row overhead stays near one byte a landmark however big the catalogue
grows, and a clip reads one small run per hash it holds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from discovery.model import Landmark

# An entry: the 26-bit hash and the top 6 bits of a 22-bit offset (frames: 27 hours), the
# offset's low 16 bits, the track key. Big-endian, so SQL reads the same bytes (the migration does).
ENTRY = np.dtype([("hash_offset", ">u4"), ("offset_low", ">u2"), ("track", ">i4")])
HASH_BITS, OFFSET_BITS = 26, 22
RUN_LANDMARKS = 96  # 960 bytes: under PostgreSQL's 2 kB TOAST threshold, so a run stays inline
FIRST_HASH = -(2**31)  # the first run always starts here, so every hash has a run

Entries = npt.NDArray[np.void]


def entries(track_key: int, landmarks: Sequence[Landmark]) -> Entries:
    """One track's landmarks as packed entries, sorted like a run."""
    hashes = np.array([lm.hash for lm in landmarks], dtype=np.int64)
    offsets = np.array([lm.offset for lm in landmarks], dtype=np.int64)
    if np.any((hashes < 0) | (hashes >= 2**HASH_BITS)) or np.any((offsets < 0) | (offsets >= 2**OFFSET_BITS)):
        raise ValueError(f"a stored landmark needs a {HASH_BITS}-bit hash and a {OFFSET_BITS}-bit offset")
    packed = np.empty(len(landmarks), dtype=ENTRY)
    packed["hash_offset"] = (hashes << (32 - HASH_BITS)) | (offsets >> 16)
    packed["offset_low"] = offsets & 0xFFFF
    packed["track"] = track_key
    return _sorted(packed)


def hashes_of(run: Entries) -> npt.NDArray[np.int64]:
    return np.asarray(run["hash_offset"], dtype=np.int64) >> (32 - HASH_BITS)


def offsets_of(run: Entries) -> npt.NDArray[np.int64]:
    high = np.asarray(run["hash_offset"], dtype=np.int64) & (2 ** (32 - HASH_BITS) - 1)
    low = np.asarray(run["offset_low"], dtype=np.int64)
    return np.asarray((high << 16) | low, dtype=np.int64)


def pack(run: Entries) -> bytes:
    return np.ascontiguousarray(run, dtype=ENTRY).tobytes()


def unpack(data: bytes) -> Entries:
    return np.frombuffer(data, dtype=ENTRY)


def matching(runs: Sequence[bytes], hashes: Collection[int]) -> Entries:
    """The entries of these runs whose hash is one of the clip's."""
    if not runs:
        return np.empty(0, dtype=ENTRY)
    found = unpack(b"".join(runs))
    return found[np.isin(hashes_of(found), np.fromiter(hashes, dtype=np.int64, count=len(hashes)))]


def rewrite(runs: Mapping[int, bytes], added: Entries, live: Collection[int]) -> dict[int, bytes]:
    """The runs that replace `runs` once `added` is merged in and entries of dead track keys dropped.

    `runs` must be every run that covers a hash of `added` (keyed by first hash; on an empty
    index, nothing), so each added entry lands in the run that covers it. A run that outgrows
    RUN_LANDMARKS is cut into equal parts at hash boundaries; its first part keeps its key, so
    the runs around it still partition the hash space.
    """
    old = [unpack(data) for data in runs.values()]
    kept = [run[np.isin(run["track"], np.fromiter(live, dtype=np.int64, count=len(live)))] for run in old]
    merged = _sorted(np.concatenate([*kept, added]) if kept else np.asarray(added, dtype=ENTRY))
    firsts = np.array(sorted(runs) or [FIRST_HASH], dtype=np.int64)
    bounds = np.searchsorted(hashes_of(merged), firsts, side="left")
    out: dict[int, bytes] = {}
    for first, start, end in zip(firsts, bounds, [*bounds[1:], len(merged)], strict=True):
        for k, part in enumerate(_split(merged[start:end])):
            out[int(first) if k == 0 else int(hashes_of(part)[0])] = pack(part)
    return out


def _split(run: Entries) -> list[Entries]:
    """The run in equal parts of at most RUN_LANDMARKS, cut only where the hash changes."""
    parts = -(-len(run) // RUN_LANDMARKS)
    if parts <= 1:
        return [run]
    hashes = hashes_of(run)
    cuts = [0]
    for k in range(1, parts):
        cut = int(np.searchsorted(hashes, hashes[k * len(run) // parts], side="left"))
        if cut > cuts[-1]:  # one hash with more entries than a run holds stays whole
            cuts.append(cut)
    cuts.append(len(run))
    return [run[a:b] for a, b in pairwise(cuts)]


def _sorted(run: Entries) -> Entries:
    """By hash (the top bits of the first field), then offset and track: the order of a run."""
    return run[np.lexsort((run["track"], run["offset_low"], run["hash_offset"]))]
