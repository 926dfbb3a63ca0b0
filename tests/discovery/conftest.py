"""Discovery fixtures: the demo catalogue rendered and analysed once per test session."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from discovery import analysis, synth
from discovery.model import AudioFeatures


class RenderedTrack(msgspec.Struct, frozen=True):
    truth: synth.DemoTrack
    audio_path: Path
    features: AudioFeatures

    def audio(self) -> synth.Audio:
        return np.load(self.audio_path)


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> list[RenderedTrack]:
    """Every demo track with its ground truth, rendered audio (as .npy under a tmp dir) and features."""
    directory = tmp_path_factory.mktemp("demo-catalogue")
    analysis.warm_up()
    rendered = []
    for track in synth.demo_catalogue():
        audio = synth.render(track)
        path = directory / f"{track.slug}.npy"
        np.save(path, audio)
        rendered.append(RenderedTrack(track, path, analysis.analyse(audio)))
    return rendered
