"""Identifying clips of catalogue tracks by landmark fingerprints, and refusing unrelated audio."""

from __future__ import annotations

import uuid
from collections import defaultdict

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from discovery import fingerprint, synth
from discovery.model import FingerprintHit, Identification, Landmark
from tests.discovery.conftest import RenderedTrack

Index = dict[int, list[tuple[uuid.UUID, int]]]


@pytest.fixture(scope="session")
def index(catalogue: list[RenderedTrack]) -> Index:
    """Hash → (track id, offset) for the whole catalogue, as the fingerprints table holds it."""
    table: defaultdict[int, list[tuple[uuid.UUID, int]]] = defaultdict(list)
    for t in catalogue:
        for landmark in fingerprint.landmarks(t.audio()):
            table[landmark.hash].append((track_id(t), landmark.offset))
    return dict(table)


def track_id(t: RenderedTrack) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, t.truth.slug)


def identify(index: Index, clip: synth.Audio) -> Identification:
    query = fingerprint.landmarks(clip, fingerprint.QUERY_PEAKS_PER_SECOND)
    wanted = {q.hash for q in query}
    hits = [FingerprintHit(h, track, offset) for h in wanted for track, offset in index.get(h, ())]
    return fingerprint.identify(query, hits)


def test_catalogue_stores_twenty_to_thirty_hashes_per_second(
    catalogue: list[RenderedTrack], index: Index
) -> None:
    seconds = sum(t.features.duration_s for t in catalogue)
    stored = sum(len(rows) for rows in index.values())
    assert 20 <= stored / seconds <= 30
    assert all(0 <= h < 2**31 for h in index)  # fits a PostgreSQL integer


def test_five_second_clips_at_5_db_snr_are_identified_with_their_offset(
    catalogue: list[RenderedTrack], index: Index
) -> None:
    rng = np.random.default_rng(5)
    right = 0
    trials = 0
    for n, t in enumerate(catalogue):
        audio = t.audio()
        for repeat in range(2):
            start = float(rng.uniform(0, len(audio) / synth.SAMPLE_RATE - 5.5))
            first = int(start * synth.SAMPLE_RATE)
            clip = synth.add_noise(
                audio[first : first + 5 * synth.SAMPLE_RATE], snr_db=5, seed=n * 2 + repeat
            )
            result = identify(index, clip)
            trials += 1
            if (
                result.matched
                and result.track_id == track_id(t)
                and abs((result.offset_s or 0) - start) < 0.1
            ):
                right += 1
    assert right / trials >= 0.95


def test_unrelated_music_noise_and_silence_match_nothing(index: Index) -> None:
    strangers = [synth.render(synth.demo_track(i, seed=7), seconds=12) for i in range(4)]
    clips = [s[: 10 * synth.SAMPLE_RATE] for s in strangers] + [s[: 5 * synth.SAMPLE_RATE] for s in strangers]
    clips.append((0.3 * np.random.default_rng(0).standard_normal(5 * synth.SAMPLE_RATE)).astype(np.float32))
    clips.append(np.zeros(5 * synth.SAMPLE_RATE, dtype=np.float32))
    for clip in clips:
        result = identify(index, clip)
        assert not result.matched and result.track_id is None


def test_a_clean_clip_is_matched_with_near_certain_confidence(
    catalogue: list[RenderedTrack], index: Index
) -> None:
    t = catalogue[3]
    clip = t.audio()[10 * synth.SAMPLE_RATE : 20 * synth.SAMPLE_RATE]
    result = identify(index, clip)
    assert result.matched and result.track_id == track_id(t)
    assert result.offset_s == pytest.approx(10.0, abs=0.05)
    assert result.confidence >= 0.95


def test_confidence_is_one_half_exactly_at_the_decision_bar() -> None:
    bar = fingerprint.MIN_WEIGHT
    assert fingerprint.evidence(bar, 0, 3.0) == 1.0
    assert fingerprint.evidence(bar - 0.1, 0, 3.0) < 1.0
    assert fingerprint.evidence(bar, bar / 1.5, 3.0) < 1.0  # too close to the best other track
    assert fingerprint.evidence(bar, 0, 2 * bar / fingerprint.MIN_WEIGHT_PER_SECOND) < 1.0  # too sparse


def test_a_vote_from_a_hash_many_tracks_share_weighs_less() -> None:
    query = [Landmark(hash=h, offset=h) for h in range(40)]
    mine, others = uuid.uuid4(), [uuid.uuid4() for _ in range(5)]
    rare = [FingerprintHit(h, mine, h + 100) for h in range(20)]  # held by this track alone
    common = [FingerprintHit(h, t, h + 500) for h in range(20, 40) for t in others]  # by five others
    # Counted alone, the 20 aligned votes of each of the six tracks would tie.
    found = fingerprint.identify(query, [*rare, *common])
    assert found.matched and found.track_id == mine and found.aligned_hashes == 20


def test_a_clip_that_is_no_match_says_how_close_it_came(index: Index) -> None:
    stranger = synth.render(synth.demo_track(1, seed=7), seconds=6)
    result = identify(index, stranger[: 5 * synth.SAMPLE_RATE])
    assert not result.matched and 0 <= result.confidence < 0.5


def test_no_hits_is_no_match() -> None:
    assert fingerprint.identify([], []) == Identification(matched=False)


def _hits(query: list[Landmark], stored: list[Landmark], tracks: list[uuid.UUID]) -> list[FingerprintHit]:
    wanted = {q.hash for q in query}
    return [FingerprintHit(s.hash, t, s.offset) for t in tracks for s in stored if s.hash in wanted]


def test_near_duplicates_count_as_one_recording_and_the_answer_names_them(
    catalogue: list[RenderedTrack],
) -> None:
    source = catalogue[3].audio()
    original, copy = uuid.uuid4(), uuid.uuid4()
    clip = synth.add_noise(source[5 * synth.SAMPLE_RATE : 10 * synth.SAMPLE_RATE], snr_db=5, seed=8)
    query = fingerprint.landmarks(clip, fingerprint.QUERY_PEAKS_PER_SECOND)
    hits = _hits(query, fingerprint.landmarks(source), [original, copy])
    assert not fingerprint.identify(
        query, hits
    ).matched  # two equal tracks: neither has twice the other's votes
    found = fingerprint.identify(query, hits, fingerprint.recording_groups([(copy, original)]))
    assert found.matched and found.track_id in {original, copy}
    assert set(found.recording_group) == {original, copy}
    assert found.offset_s == pytest.approx(5.0, abs=0.05)


def test_a_clip_starting_before_the_track_reports_its_true_negative_offset(
    catalogue: list[RenderedTrack],
) -> None:
    source = catalogue[4].audio()
    lead_in = np.zeros(2 * synth.SAMPLE_RATE, dtype=np.float32)
    clip = np.concatenate([lead_in, source[: 5 * synth.SAMPLE_RATE]])
    query = fingerprint.landmarks(clip, fingerprint.QUERY_PEAKS_PER_SECOND)
    found = fingerprint.identify(query, _hits(query, fingerprint.landmarks(source), [uuid.uuid4()]))
    assert found.matched and found.offset_s == pytest.approx(-2.0, abs=0.05)


def test_recording_groups_follow_links_however_indirect() -> None:
    a, b, c, d, e = (uuid.uuid4() for _ in range(5))
    groups = fingerprint.recording_groups([(b, a), (c, b), (e, d)])
    assert groups[a] == groups[b] == groups[c] == {a, b, c}
    assert groups[d] == groups[e] == {d, e}


# The compiled peak picking, pairing and per-second selection against the computations they replace.


def reference_peaks(audio: synth.Audio, peaks_per_second: int) -> np.ndarray:
    """The peaks as first written: librosa's spectrogram in decibels, scipy's maximum filter, searchsorted windows."""
    spectrum = np.abs(librosa.stft(audio, n_fft=fingerprint.N_FFT, hop_length=fingerprint.HOP))
    db = 20 * np.log10(np.maximum(spectrum[fingerprint.MIN_BIN : fingerprint.MAX_BIN + 1], 1e-6))
    floor = 20 * np.log10(fingerprint.N_FFT / 4) - 70
    is_peak = (db == ndimage.maximum_filter(db, size=fingerprint.NEIGHBOURHOOD, mode="nearest")) & (
        db > floor
    )
    bins, frames = np.nonzero(is_peak)
    order = np.argsort(frames, kind="stable")
    frames, bins, strength = frames[order], bins[order], db[bins[order], frames[order]]
    half = 0.5 * fingerprint.SAMPLE_RATE / fingerprint.HOP
    lows = np.searchsorted(frames, frames - half, side="left")
    highs = np.searchsorted(frames, frames + half, side="right")
    keep = [
        i
        for i in range(len(frames))
        if np.count_nonzero(strength[lows[i] : highs[i]] > strength[i]) < peaks_per_second
    ]
    return np.stack([frames[keep], bins[keep] + fingerprint.MIN_BIN], axis=1)


@pytest.mark.parametrize(
    "peaks_per_second", [fingerprint.PEAKS_PER_SECOND, fingerprint.QUERY_PEAKS_PER_SECOND]
)
def test_peaks_equal_the_log_spectrum_reference(peaks_per_second: int) -> None:
    music = synth.render(synth.demo_track(3), seconds=20)
    noisy = synth.add_noise(music, snr_db=5, seed=4)
    for audio in (music, noisy):
        assert np.array_equal(
            fingerprint.peaks(audio, peaks_per_second), reference_peaks(audio, peaks_per_second)
        )


@settings(max_examples=60, deadline=None)
@given(
    frames=st.integers(1, 40),
    bins=st.integers(1, 60),
    seed=st.integers(0, 2**32 - 1),
    ties=st.booleans(),
)
def test_local_maxima_equal_scipys_maximum_filter(frames: int, bins: int, seed: int, ties: bool) -> None:
    values = np.random.default_rng(seed).random((frames, bins)).astype(np.float32)
    if ties:  # a flat top keeps every one of its equal values, as the filter's comparison does
        values = np.round(values * 3).astype(np.float32)
    floor = 0.5
    expected = (values == ndimage.maximum_filter(values, size=(7, 29), mode="nearest")) & (values > floor)
    assert np.array_equal(fingerprint._local_maxima(values, floor, 14, 3), expected)


@settings(max_examples=60, deadline=None)
@given(
    frames=st.lists(st.integers(0, 200), max_size=80),
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 6),
)
def test_strongest_nearby_counts_the_stronger_peaks_within_half_a_second(
    frames: list[int], seed: int, count: int
) -> None:
    times = np.sort(np.asarray(frames, dtype=np.int64))
    strength = np.round(np.random.default_rng(seed).random(len(times)) * 10).astype(np.float32)
    expected = [
        np.count_nonzero(strength[np.abs(times - t) <= 21] > s) < count
        for t, s in zip(times, strength, strict=True)
    ]
    assert fingerprint._strongest_nearby(times, strength, count, 21).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 1023)), max_size=60))
def test_pairs_hash_each_peak_with_every_later_one_in_its_target_zone(points: list[tuple[int, int]]) -> None:
    rows = np.asarray(sorted(points, key=lambda p: p[0]) or np.zeros((0, 2)), dtype=np.int64).reshape(-1, 2)
    expected = [
        ((f1 << 16) | (f2 << 6) | (t2 - t1), t1)
        for i, (t1, f1) in enumerate(rows.tolist())
        for t2, f2 in rows[i + 1 :].tolist()
        if fingerprint.MIN_DT <= t2 - t1 <= fingerprint.MAX_DT and abs(f2 - f1) <= fingerprint.MAX_DF
    ]
    hashes, offsets = fingerprint._pairs(rows)
    assert list(zip(hashes.tolist(), offsets.tolist(), strict=True)) == expected
