"""The analyser on real recorded music (Debian's singularity-music): clips agree with their tracks.

There is no ground truth for these recordings, so the tests ask what a listener would: a 20 s clip
of a track is read at the track's tempo (or at an octave of it, a metrical level a listener might
also tap), in the track's key, the same way every time; and near-silence is refused.
"""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import numpy as np
import pytest
import soundfile as sf

from discovery import analysis, audio, service
from discovery.model import AudioFeatures

CLIP_SECONDS = 20
# Measured on these 16 tracks (30 clips): 83 % of clips read at their track's tempo, 90 % at it or
# an octave of it, key score 0.57 (the analyser before issue 14's speed-up: 77 %, 86 % and 0.51 on
# the eleven tracks compared). Real music changes tempo, feel and key between sections, so some
# clips truly differ from the whole; the bounds leave room for one clip to read otherwise.
MIN_SAME_TEMPO_SHARE = 0.8
MIN_SAME_OR_OCTAVE_SHARE = 0.85
MIN_CLIP_KEY_SCORE = 0.5  # MIREX weights: exact 1, fifth 0.5, relative 0.3, parallel 0.2


class RealTrack(msgspec.Struct, frozen=True):
    name: str
    whole: AudioFeatures
    clips: tuple[AudioFeatures, ...]  # 20 s from 30 s in and from the middle


@pytest.fixture(scope="module")
def real_tracks(real_recordings: list[Path]) -> list[RealTrack]:
    analysis.warm_up()
    tracks = []
    for path in real_recordings:
        with path.open("rb") as file:
            samples, _ = analysis.decode(file)
        clip = CLIP_SECONDS * analysis.SAMPLE_RATE
        starts = [
            s for s in (30 * analysis.SAMPLE_RATE, (len(samples) - clip) // 2) if s + clip <= len(samples)
        ]
        clips = tuple(analysis.analyse(samples[s : s + clip]) for s in starts)
        tracks.append(RealTrack(path.stem, analysis.analyse(samples), clips))
    return tracks


def _within(a: float, b: float, tolerance: float = 0.04) -> bool:
    return abs(a - b) <= tolerance * b


def test_most_clips_read_their_tracks_tempo_and_nearly_all_it_or_an_octave_of_it(
    real_tracks: list[RealTrack],
) -> None:
    readings = [(t.name, t.whole.bpm, c.bpm) for t in real_tracks for c in t.clips]
    same = [r for r in readings if _within(r[2], r[1])]
    octave = [r for r in readings if r not in same and any(_within(r[2], r[1] * f) for f in (0.5, 2.0))]
    other = [r for r in readings if r not in same and r not in octave]
    assert len(same) >= MIN_SAME_TEMPO_SHARE * len(readings), {"octave": octave, "other": other}
    assert len(same) + len(octave) >= MIN_SAME_OR_OCTAVE_SHARE * len(readings), {"other": other}


def test_clips_are_read_in_their_tracks_key(real_tracks: list[RealTrack]) -> None:
    scores = [analysis.mirex_key_score(c.key, t.whole.key) for t in real_tracks for c in t.clips]
    assert np.mean(scores) >= MIN_CLIP_KEY_SCORE, [
        (t.name, t.whole.key.name, [c.key.name for c in t.clips]) for t in real_tracks
    ]


def test_analysing_a_real_recording_twice_gives_the_same_features(real_recordings: list[Path]) -> None:
    with real_recordings[0].open("rb") as file:
        samples, _ = analysis.decode(file)
    first = samples[: 60 * analysis.SAMPLE_RATE]
    assert analysis.analyse(first) == analysis.analyse(first.copy())


def test_real_tracks_measure_in_plausible_ranges(real_tracks: list[RealTrack]) -> None:
    for t in real_tracks:
        f = t.whole
        assert 50 <= f.bpm <= 200 and f.beat_count > 0
        assert -40 < f.loudness_db < 0 and 0 <= f.percussive_ratio <= 1
        assert 0 <= f.instrumental <= 1 and 0 <= f.energy <= 1
        assert 200 < f.spectral_centroid_hz < 6000


def test_a_real_ogg_is_decoded_within_the_track_limits_and_refused_as_a_snippet(
    real_recordings: list[Path],
) -> None:
    path = real_recordings[0]
    checked = service.check_audio(path.read_bytes())
    assert checked.format == "ogg" and checked.duration_s > 60
    with (
        path.open("rb") as file,
        pytest.raises(audio.AudioRejected, match=r"the snippet is .* long; the limit is"),
    ):
        service.snippet_samples(file)


def test_a_real_recording_turned_down_to_near_silence_is_refused(real_recordings: list[Path]) -> None:
    with real_recordings[0].open("rb") as file:
        samples, _ = analysis.decode(file)
    whisper = samples[: 20 * analysis.SAMPLE_RATE] * 10 ** (-50 / 20)  # 50 dB down: below −60 dBFS
    buffer = io.BytesIO()
    sf.write(buffer, whisper, analysis.SAMPLE_RATE, format="FLAC")
    with pytest.raises(audio.AudioRejected, match="almost no signal"):
        service.check_audio(buffer.getvalue())
