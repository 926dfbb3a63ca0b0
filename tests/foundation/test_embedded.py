"""Embedded stores: started under the data dir, joined by a second process, stopped by the last one out."""

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

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
