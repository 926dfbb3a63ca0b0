"""The run layout of the fingerprint index: every live landmark findable, runs small and partitioning the hashes."""

from __future__ import annotations

import bisect
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discovery import fingerprint_runs
from discovery.fingerprint_runs import FIRST_HASH, RUN_LANDMARKS
from discovery.model import Landmark

Table = dict[int, bytes]


def covering(table: Table, hashes: list[int]) -> dict[int, bytes]:
    """What the store's covering-runs query returns: the run with the greatest first hash at or below each hash."""
    firsts = sorted(table)
    chosen = {firsts[bisect.bisect_right(firsts, h) - 1] for h in hashes} if firsts else set()
    return {first: table[first] for first in chosen}


def save(table: Table, live: set[int], key: int, landmarks: list[Landmark]) -> None:
    """What store.save_fingerprints does to the table, with `live` standing for the keys table."""
    live.add(key)
    if not landmarks:
        return
    added = fingerprint_runs.entries(key, landmarks)
    touched = covering(table, fingerprint_runs.hashes_of(added).tolist())
    for first in touched:
        del table[first]
    table.update(fingerprint_runs.rewrite(touched, added, live))


def lookup(table: Table, live: set[int], hashes: list[int]) -> set[tuple[int, int, int]]:
    found = fingerprint_runs.matching(list(covering(table, hashes).values()), hashes)
    hashes_found, keys = fingerprint_runs.hashes_of(found).tolist(), found["track"].tolist()
    offsets = fingerprint_runs.offsets_of(found).tolist()
    return {(h, k, o) for h, k, o in zip(hashes_found, keys, offsets, strict=True) if k in live}


landmark_lists = st.lists(
    st.lists(
        st.builds(Landmark, hash=st.integers(0, 400), offset=st.integers(0, 5_000)), max_size=300, unique=True
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(tracks=landmark_lists, reanalysed=st.sets(st.integers(0, 5)))
def test_every_live_landmark_is_found_and_replaced_ones_never_are(
    tracks: list[list[Landmark]], reanalysed: set[int]
) -> None:
    table: Table = {}
    live: set[int] = set()
    keys: dict[int, int] = {}
    for n, landmarks in enumerate(tracks):
        keys[n] = n + 1
        save(table, live, keys[n], landmarks)
    for n in sorted(reanalysed & set(keys)):  # a fresh key; the old one is dead from now on
        live.discard(keys[n])
        keys[n] = 100 + n
        save(table, live, keys[n], tracks[n][::2])
    expected = {
        (lm.hash, keys[n], lm.offset)
        for n, landmarks in enumerate(tracks)
        for lm in (landmarks[::2] if n in reanalysed else landmarks)
    }
    assert lookup(table, live, list(range(401))) == expected


@settings(max_examples=60, deadline=None)
@given(tracks=landmark_lists)
def test_runs_partition_the_hash_space_and_stay_small(tracks: list[list[Landmark]]) -> None:
    table: Table = {}
    live: set[int] = set()
    for n, landmarks in enumerate(tracks):
        save(table, live, n + 1, landmarks)
    firsts = sorted(table)
    assert firsts[:1] in ([], [FIRST_HASH])  # empty until the first landmark arrives
    for first, following in pairwise([*firsts, 2**31]):
        hashes = fingerprint_runs.hashes_of(fingerprint_runs.unpack(table[first]))
        assert all(first <= h < following for h in hashes)
        assert len(hashes) <= RUN_LANDMARKS or len(set(hashes.tolist())) == 1


def test_one_hash_with_more_landmarks_than_a_run_holds_stays_in_one_run() -> None:
    table: Table = {}
    many = [Landmark(hash=7, offset=o) for o in range(3 * RUN_LANDMARKS)]
    save(table, {1}, 1, [*many, Landmark(hash=3, offset=0), Landmark(hash=9, offset=0)])
    holding_seven = [
        f for f, data in table.items() if 7 in fingerprint_runs.hashes_of(fingerprint_runs.unpack(data))
    ]
    assert len(holding_seven) == 1
    assert len(lookup(table, {1}, [7])) == 3 * RUN_LANDMARKS


def test_an_entry_is_ten_bytes_big_endian_as_the_migration_writes_it() -> None:
    run = fingerprint_runs.entries(2, [Landmark(hash=2**26 - 1, offset=2**22 - 2)])
    assert fingerprint_runs.pack(run) == bytes.fromhex("fffffffffffe00000002")
    assert fingerprint_runs.hashes_of(run).tolist() == [2**26 - 1]
    assert fingerprint_runs.offsets_of(run).tolist() == [2**22 - 2]


def test_a_landmark_that_does_not_fit_an_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="22-bit offset"):
        fingerprint_runs.entries(1, [Landmark(hash=5, offset=2**22)])
