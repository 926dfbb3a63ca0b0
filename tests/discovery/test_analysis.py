"""The analyser against the synthetic catalogue's ground truth, and decoding uploaded files."""

from __future__ import annotations

import fcntl
import io

import librosa
import numpy as np
import pytest
import soundfile as sf
import threadpoolctl

from discovery import analysis, synth
from discovery.model import AudioFeatures, Key, Mode
from tests.discovery.conftest import RenderedTrack


def test_tempo_is_within_two_percent_on_nine_tracks_in_ten(catalogue: list[RenderedTrack]) -> None:
    # A half- or double-tempo answer is more than 2 % off, so octave errors count as misses.
    hits = [abs(t.features.bpm - t.truth.bpm) / t.truth.bpm <= 0.02 for t in catalogue]
    assert sum(hits) / len(hits) >= 0.9, [(t.truth.bpm, t.features.bpm) for t in catalogue]


def _accuracy(estimates: list[float], truths: list[float], octaves: tuple[float, ...]) -> float:
    """MIREX tempo accuracy: within 4 % of the truth (Accuracy1) or of a metrical relative (Accuracy2)."""
    return float(
        np.mean(
            [
                any(abs(e - t * o) <= 0.04 * t * o for o in octaves)
                for e, t in zip(estimates, truths, strict=True)
            ]
        )
    )


def test_tempo_accuracy1_with_no_octave_errors_is_at_least_nine_in_ten(
    catalogue: list[RenderedTrack],
) -> None:
    estimates, truths = [t.features.bpm for t in catalogue], [t.truth.bpm for t in catalogue]
    accuracy1 = _accuracy(estimates, truths, (1.0,))
    accuracy2 = _accuracy(estimates, truths, (1 / 3, 0.5, 1.0, 2.0, 3.0))
    assert accuracy1 >= 0.9, (accuracy1, accuracy2, list(zip(truths, estimates, strict=True)))
    assert accuracy2 >= accuracy1


def test_a_clip_and_its_full_track_agree_on_tempo(catalogue: list[RenderedTrack]) -> None:
    # The demo's "tense 150 BPM piece" that read 75 BPM whole and 150 BPM as a clip.
    tense = next(t for t in catalogue if t.truth.bpm == 150 and t.truth.mood.value == "tense")
    clip = tense.audio()[5 * synth.SAMPLE_RATE : 15 * synth.SAMPLE_RATE]
    clip_bpm = analysis.analyse(clip).bpm
    assert abs(tense.features.bpm - 150) <= 0.04 * 150, tense.features.bpm
    assert abs(clip_bpm - tense.features.bpm) <= 0.04 * tense.features.bpm, (clip_bpm, tense.features.bpm)


def test_key_and_mode_are_right_on_four_tracks_in_five(catalogue: list[RenderedTrack]) -> None:
    hits = [t.features.key == t.truth.key for t in catalogue]
    mirex = np.mean([analysis.mirex_key_score(t.features.key, t.truth.key) for t in catalogue])
    assert sum(hits) / len(hits) >= 0.8
    assert mirex >= 0.85


def test_instrumental_estimate_tells_sung_leads_from_instruments(catalogue: list[RenderedTrack]) -> None:
    right = [(t.features.instrumental < 0.5) == t.truth.vocal for t in catalogue]
    assert sum(right) / len(right) >= 0.9


def test_duration_beats_and_ranges_are_plausible(catalogue: list[RenderedTrack]) -> None:
    for t in catalogue:
        f = t.features
        seconds = len(t.audio()) / synth.SAMPLE_RATE
        assert f.duration_s == pytest.approx(seconds, abs=0.01)
        assert f.beat_count >= 0.8 * seconds * t.truth.bpm / 60 / 2
        assert 0 <= f.energy <= 1 and 0 <= f.instrumental <= 1 and 0 <= f.key_confidence <= 1
        assert len(f.mfcc_mean) == len(f.mfcc_std) == 13 and len(f.chroma_mean) == 12
        assert len(f.spectral_contrast_mean) == 7
        assert f.analysis_version == analysis.ANALYSIS_VERSION


def test_loud_moods_measure_louder_and_more_energetic(catalogue: list[RenderedTrack]) -> None:
    loud = [t.features for t in catalogue if t.truth.mood.value in ("uplifting", "tense")]
    soft = [t.features for t in catalogue if t.truth.mood.value in ("calm", "melancholic")]
    assert min(f.loudness_db for f in loud) > max(f.loudness_db for f in soft)
    assert np.mean([f.energy for f in loud]) > np.mean([f.energy for f in soft]) + 0.2


@pytest.mark.parametrize(
    ("estimated", "reference", "score"),
    [
        ("A minor", "A minor", 1.0),
        ("E minor", "A minor", 0.5),
        ("D minor", "A minor", 0.5),
        ("C major", "A minor", 0.3),
        ("A minor", "C major", 0.3),
        ("A major", "A minor", 0.2),
        ("B minor", "A minor", 0.0),
    ],
)
def test_mirex_key_score_weights(estimated: str, reference: str, score: float) -> None:
    assert analysis.mirex_key_score(Key.parse(estimated), Key.parse(reference)) == score


def test_key_of_a_cadence_in_a_minor() -> None:
    """i–iv–V–i in A minor (Am, Dm, E, Am), each chord two seconds of notes with four harmonics."""
    sr = analysis.SAMPLE_RATE
    t = np.arange(2 * sr) / sr
    chords = [(57, 60, 64), (50, 53, 57), (52, 56, 59), (57, 60, 64)]
    audio = np.concatenate(
        [
            sum(np.sin(2 * np.pi * k * synth.midi_hz(n) * t) / k for n in chord for k in (1, 2, 3, 4))
            for chord in chords
        ]
    )
    key, confidence = analysis.estimate_key((0.1 * audio).astype(np.float32), sr)
    assert key == Key(9, Mode.MINOR) and 0 < confidence <= 1


def _encode(audio: synth.Audio, sr: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, sr, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", None), ("OGG", "VORBIS"), ("MP3", None)]
)
def test_decode_reads_every_accepted_format_at_any_rate(fmt: str, subtype: str | None) -> None:
    t = np.arange(44_100 * 2) / 44_100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], axis=1) * 0.5
    audio, seconds = analysis.decode(_encode(stereo.astype(np.float32), 44_100, fmt, subtype))
    assert seconds == pytest.approx(2.0, abs=0.1)
    assert audio.ndim == 1 and len(audio) == pytest.approx(2 * analysis.SAMPLE_RATE, rel=0.05)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not WAV, FLAC, OGG or MP3"),
        (b"this is a text file, not audio" * 10, "not WAV, FLAC, OGG or MP3"),
        (synth.to_wav(np.zeros(0, dtype=np.float32)), "no audio"),
    ],
)
def test_decode_names_the_problem_with_bad_files(data: bytes, problem: str) -> None:
    with pytest.raises(analysis.AudioDecodeError, match=problem):
        analysis.decode(data)


def test_a_truncated_flac_is_rejected() -> None:
    tone = (0.5 * np.sin(np.arange(22_050 * 3) / 10)).astype(np.float32)
    data = _encode(tone, 22_050, "FLAC")
    with pytest.raises(analysis.AudioDecodeError):
        analysis.decode(data[: len(data) // 2])


def test_warm_up_compiles_only_while_holding_the_installations_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes filling numba's shared cache at once can corrupt it (a segfault later): one at a time."""
    real_analyse = analysis.analyse
    held_during_analysis: list[bool] = []

    def analyse_noting_the_lock(samples: synth.Audio, sr: int = analysis.SAMPLE_RATE) -> AudioFeatures:
        with open(analysis.warm_up_lock_path(), "a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held_during_analysis.append(True)
            else:
                fcntl.flock(other, fcntl.LOCK_UN)
                held_during_analysis.append(False)
        return real_analyse(samples, sr)

    monkeypatch.setattr(analysis, "analyse", analyse_noting_the_lock)
    analysis.warm_up()
    assert held_during_analysis == [True]
    with open(analysis.warm_up_lock_path(), "a") as after:
        fcntl.flock(after, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released once warm-up is done


def test_centroid_bandwidth_and_rolloff_equal_librosas_own() -> None:
    """The analyser computes these three itself (librosa's normalise a copy of the spectrogram each)."""
    spectrum = np.random.default_rng(1).random((1 + analysis.N_FFT // 2, 300)).astype(np.float32) ** 4
    spectrum[:, 5] = 0  # a silent frame
    sr = analysis.SAMPLE_RATE
    centroid, bandwidth = analysis._centroid_and_bandwidth(spectrum, sr)
    assert np.allclose(centroid, librosa.feature.spectral_centroid(S=spectrum, sr=sr)[0], atol=0.05)
    assert np.allclose(bandwidth, librosa.feature.spectral_bandwidth(S=spectrum, sr=sr)[0], atol=0.05)
    assert np.array_equal(
        analysis._rolloff(spectrum, sr), librosa.feature.spectral_rolloff(S=spectrum, sr=sr)[0]
    )


def test_an_analysis_worker_keeps_blas_to_one_thread() -> None:
    """Workers run one per core; OpenBLAS's own threads would spin on the others' cores."""
    analysis.use_one_core()
    blas = [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
