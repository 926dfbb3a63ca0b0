"""A newcomer's first minute: `marketplace serve --demo` (what `make run` runs) on a fresh data dir.

`python -m benchmarks.first_minute [--quick] [--tracks N]` prints two Markdown tables:

- the wall time from the command's start until the server first answers a page, until /health is 200,
  and until the whole demo catalogue is analysed, with the CPU seconds the server and its workers spent;
- where one demo track's CPU time goes (render, check, preview, features, fingerprints), in this process.

The machine's load average is printed too: on a shared machine the wall times say as much about the
neighbours as about us; the CPU seconds do not.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from discovery import analysis, fingerprint, service, synth

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu_seconds(root: psutil.Process, seen: dict[int, float]) -> None:
    """Remember each process's CPU seconds so far (the server, its workers, and whatever they started)."""
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        seen[process.pid] = times.user + times.system + times.children_user + times.children_system


def _first_minute(tracks: int) -> list[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="first-minute-") as data_dir:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
        env |= {"MARKETPLACE_DATA_DIR": data_dir, "DEMO_TRACKS": str(tracks), "STRIPE_HOLD_DAYS": "0"}
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "marketplace.cli", "serve", "--demo", "--port", str(port)],
            env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        root = psutil.Process(server.pid)
        cpu: dict[int, float] = {}
        answered = healthy = analysed = None
        try:
            with httpx.Client(base_url=base, timeout=10) as client:
                while analysed is None:
                    if server.poll() is not None:
                        raise SystemExit(f"the server exited with {server.returncode}")
                    try:
                        if answered is None and client.get("/").status_code == 200:
                            answered = time.perf_counter() - started
                        if healthy is None and client.get("/health").status_code == 200:
                            healthy = time.perf_counter() - started
                        progress = client.get("/api/demo/progress").json()
                        if progress.get("finished"):
                            analysed = time.perf_counter() - started
                    except httpx.TransportError:
                        pass
                    _cpu_seconds(root, cpu)
                    # Often until the first answer; then gently, so the polling costs the server little.
                    time.sleep(0.1 if answered is None else 0.5)
        finally:
            server.terminate()
            server.wait(timeout=60)
    assert answered is not None
    return [
        "| demo tracks | first page answered | /health 200 | all analysed | CPU-s (server + workers) |",
        "| ---: | ---: | ---: | ---: | ---: |",
        f"| {tracks} | {answered:.1f} s | {healthy or float('nan'):.1f} s | {analysed:.1f} s | {sum(cpu.values()):.0f} |",
    ]


def _per_track(tracks: int) -> list[str]:
    """One demo track's pipeline, step by step, as the analysis worker runs it (CPU seconds per track)."""
    analysis.use_one_core()
    analysis.warm_up()
    steps: dict[str, float] = {}

    @contextmanager
    def measured(step: str) -> Iterator[None]:
        began = time.process_time()
        yield
        steps[step] = steps.get(step, 0.0) + time.process_time() - began

    audio_seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="first-minute-") as data_dir:
        for index in range(tracks):
            with measured("render (synthesiser)"):
                data = synth.to_wav(synth.render(synth.demo_track(index)))
            with measured("upload check"):
                checked = service.check_audio(data)
            with measured("decode"):
                samples, _ = analysis.decode(data)
            service.preview_path(Path(data_dir), checked.sha256).parent.mkdir(parents=True, exist_ok=True)
            with measured("preview MP3"):
                service.make_preview(Path(data_dir), checked.sha256, checked.format, samples)
            with measured("features"):
                analysis.analyse(samples)
            with measured("fingerprints"):
                fingerprint.landmarks(samples)
            audio_seconds += checked.duration_s
    total = sum(steps.values())
    rows = ["| step | CPU-s per track | share |", "| --- | ---: | ---: |"]
    rows += [
        f"| {step} | {seconds / tracks:.2f} | {seconds / total:.0%} |" for step, seconds in steps.items()
    ]
    rows.append(
        f"| total ({audio_seconds / tracks:.0f} s of audio a track) | {total / tracks:.2f} | "
        f"{audio_seconds / total:.0f}× real time |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 10-track demo and 4 tracks step by step")
    parser.add_argument(
        "--tracks", type=int, default=None, help="demo tracks (default 40, or 10 with --quick)"
    )
    args = parser.parse_args()
    tracks = args.tracks or (10 if args.quick else synth.CATALOGUE_SIZE)
    print(f"{os.cpu_count()} cores, load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\n".join(_first_minute(tracks)))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("\n".join(_per_track(4 if args.quick else 10)))


if __name__ == "__main__":
    main()
