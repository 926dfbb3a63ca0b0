"""The demo catalogue: varied, deterministic, and rendered as real audio."""

from __future__ import annotations

import numpy as np

from discovery import analysis, synth
from discovery.model import Mode, Mood


def test_catalogue_spans_tempi_keys_modes_and_moods() -> None:
    tracks = synth.demo_catalogue()
    assert len(tracks) == synth.CATALOGUE_SIZE == 40
    bpms = [t.bpm for t in tracks]
    assert min(bpms) < 75 and max(bpms) > 160
    assert len({t.key.tonic for t in tracks}) >= 10
    assert {t.key.mode for t in tracks} == set(Mode)
    assert {t.mood for t in tracks} == set(Mood)
    assert {t.lead for t in tracks} >= {"saw", "square", "flute", "bell", "vox"}
    assert len({t.title for t in tracks}) == len(tracks)
    assert 10 <= sum(bool(t.human_tags) for t in tracks) < len(tracks)


def test_rendering_is_deterministic_and_short() -> None:
    track = synth.demo_track(11)
    first, second = synth.render(track, seconds=8), synth.render(track, seconds=8)
    assert np.array_equal(first, second)
    assert 8 <= len(first) / synth.SAMPLE_RATE <= 11
    assert 0.2 < float(np.max(np.abs(first))) <= 1.0


def test_wav_bytes_decode_back_to_the_samples() -> None:
    audio = synth.render(synth.demo_track(2), seconds=4)
    decoded, seconds = analysis.decode(synth.to_wav(audio))
    assert seconds == len(audio) / synth.SAMPLE_RATE
    assert np.max(np.abs(decoded - audio)) < 1e-3


def test_noise_is_added_at_the_requested_snr() -> None:
    audio = synth.render(synth.demo_track(0), seconds=4)
    noisy = synth.add_noise(audio, snr_db=5, seed=1)
    noise = noisy.astype(np.float64) - audio
    snr = 10 * np.log10(np.mean(audio.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(snr - 5) < 0.2
