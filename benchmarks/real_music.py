"""Real recorded music for accuracy tests and benchmarks, from a Debian package nobody here wrote.

Endgame: Singularity's soundtrack (Debian package `singularity-music`, 16 tracks, 64 minutes,
48 kHz stereo Ogg Vorbis; Max McCracken, CC BY-SA 3.0). It is read where Debian installs it and
never copied into the project. The Wesnoth music packages are kept out on purpose: they are an
independent check that nothing here was tuned on.

`python -m benchmarks.real_music` installs the package (as root, with apt) and lists the tracks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
