"""Real recorded music for accuracy tests and benchmarks, from a Debian package nobody here wrote.

Endgame: Singularity's soundtrack (Debian package `singularity-music`, 16 tracks, 64 minutes,
48 kHz stereo Ogg Vorbis; Max McCracken, CC BY-SA 3.0). It is read where Debian installs it and
never copied into the project. The Wesnoth music packages are kept out on purpose: they are an
independent check that nothing here was tuned on.

`python -m benchmarks.real_music` installs the package (as root, with apt) and lists the tracks.
Identification indexes half of them and never indexes the other half (`indexed_and_never_indexed`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from discovery import analysis, embedding, synth

PACKAGE = "singularity-music"
MUSIC_DIR = Path("/usr/share/games/singularity/music")


def recordings() -> list[Path]:
    """Every track of the package, in a stable order; empty when it is not installed."""
    return sorted(MUSIC_DIR.rglob("*.ogg")) if MUSIC_DIR.is_dir() else []


def ensure_installed() -> str | None:
    """Install the package when it is missing and this process may; the reason when it cannot be had."""
    if recordings():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"the Debian package {PACKAGE} is not installed (install it with apt-get as root)"
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-qq", PACKAGE]
    if subprocess.run(command, env=environment, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=environment, capture_output=True, check=False)
        subprocess.run(command, env=environment, capture_output=True, check=False)
    return None if recordings() else f"apt-get could not install the Debian package {PACKAGE}"


def main() -> int:
    reason = ensure_installed()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    for path in recordings():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# A fixed split for identification: the first half is indexed, the other half never is, so its
# snippets measure false matches on real music the catalogue does not hold (alternate tracks in
# the stable order above, so both halves mix long pieces with the short jingles).
def indexed_and_never_indexed() -> tuple[list[Path], list[Path]]:
    tracks = recordings()
    return tracks[0::2], tracks[1::2]


def decode(path: Path) -> npt.NDArray[np.float32]:
    """The track as the catalogue analyses it: mono at discovery's sample rate."""
    with path.open("rb") as file:
        samples, _ = analysis.decode(file)
    return samples


def read_native(path: Path) -> int:
    """Decode the whole file with libsndfile at its own rate and channels, keeping nothing: the frames read."""
    frames = 0
    with sf.SoundFile(path) as source:
        while len(block := source.read(1 << 18, dtype="float32")):
            frames += len(block)
    return frames


EMBEDDING_WINDOW_SECONDS = 20.0


def window_embeddings() -> npt.NDArray[np.float64]:
    """The embedding of every whole 20 s window of every track, one row each: how real recordings
    spread in embedding space (about 190 rows; the 16 tracks alone would be too few to say)."""
    window = int(EMBEDDING_WINDOW_SECONDS * analysis.SAMPLE_RATE)
    rows = []
    for path in recordings():
        samples = decode(path)
        rows += [
            embedding.embed(analysis.analyse(samples[start : start + window]))
            for start in range(0, len(samples) - window + 1, window)
        ]
    return np.array(rows)


def snippets(
    audio: npt.NDArray[np.float32], seconds: float, snr_db: float | None, count: int, seed: int
) -> list[tuple[float, npt.NDArray[np.float32]]]:
    """`count` clips of the audio at random places, with white noise at the SNR (None: clean), and where each starts."""
    rng = np.random.default_rng(seed)
    length = int(seconds * analysis.SAMPLE_RATE)
    out = []
    for k in range(count):
        first = int(rng.integers(0, max(len(audio) - length, 1)))
        clip = audio[first : first + length]
        out.append(
            (
                first / analysis.SAMPLE_RATE,
                clip if snr_db is None else synth.add_noise(clip, snr_db, seed * 1000 + k),
            )
        )
    return out
