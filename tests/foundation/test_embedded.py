"""Embedded stores: started under the data dir, joined by a second process, stopped by the last one out."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import PROJECT_ROOT, free_port

HOLDER = """
import json, sys
from marketplace.config import load_settings
from marketplace.embedded import _handles, store_urls
urls = store_urls(load_settings())
print(json.dumps({"pg": _handles["postgres"].get_pid(), "redis": _handles["redis"].pid,
                  "database_url": urls.database_url, "redis_url": urls.redis_url}), flush=True)
sys.stdin.readline()  # hold the servers until told to go
"""


def _start_holder(data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, object]]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={"MARKETPLACE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def _release(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.wait(timeout=60) == 0


def _gone(pid: int, deadline_s: float = 20) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_second_process_joins_and_last_one_out_stops_the_servers(tmp_path: Path) -> None:
    first, first_info = _start_holder(tmp_path)
    second, second_info = _start_holder(tmp_path)
    assert second_info == first_info, "the second process must join the first one's servers"
    assert (tmp_path / "postgres" / "PG_VERSION").exists()

    _release(first)
    assert psutil.pid_exists(int(str(first_info["pg"]))), "PostgreSQL must outlive the first process"
    assert psutil.pid_exists(int(str(first_info["redis"]))), "Redis must outlive the first process"

    _release(second)
    assert _gone(int(str(first_info["pg"]))), "PostgreSQL must stop when the last process exits"
    assert _gone(int(str(first_info["redis"]))), "Redis must stop when the last process exits"


def _serve_embedded(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """`marketplace serve` on its own embedded stores (no URLs configured) under `data_dir`."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "serve", "--no-worker", "--port", str(port)],
        env={**env, "MARKETPLACE_DATA_DIR": str(data_dir)},
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _until_answering(port: int, server: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    """Any answer from /health will do: without a worker it is a 503, but the server is up."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited with {server.returncode}"
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the server on port {port} did not answer within {deadline_s} s")


def _postgres_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])


def test_a_server_restarted_after_kill_9_adopts_the_orphaned_postgres_and_stops_it_on_a_clean_stop(
    tmp_path: Path,
) -> None:
    port = free_port()
    first = _serve_embedded(tmp_path, port)
    postgres = None
    try:
        _until_answering(port, first)
        postgres = _postgres_pid(tmp_path)
        first.kill()
        first.wait(timeout=10)
        assert psutil.pid_exists(postgres), "PostgreSQL outlives a server killed with -9"

        second = _serve_embedded(tmp_path, port)
        _until_answering(port, second)
        assert _postgres_pid(tmp_path) == postgres, "the restarted server adopts the running PostgreSQL"

        second.terminate()
        assert second.wait(timeout=30) == 0
        assert _gone(postgres), "a clean stop of the last server stops the PostgreSQL it adopted"
    finally:
        for process in (first, locals().get("second")):
            if isinstance(process, subprocess.Popen) and process.poll() is None:
                process.kill()
        if postgres is not None and psutil.pid_exists(postgres):
            psutil.Process(postgres).terminate()
