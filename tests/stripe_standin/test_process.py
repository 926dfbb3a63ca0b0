"""The stand-in under the data dir: started by the first process, joined by the next, stopped by the last."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from marketplace.stripe_standin.process import ensure_webhook_endpoint, join, release

HOLDER = """
import json, sys
from pathlib import Path
from marketplace.stripe_standin.process import join
connection = join(Path(sys.argv[1]))
server = json.loads((Path(sys.argv[1]) / "stripe-standin" / "server.json").read_text())
print(json.dumps({"api_base": connection.api_base, "pid": server["pid"]}), flush=True)
sys.stdin.readline()
"""


def _holder(data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, object]]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def _let_go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.wait(timeout=30) == 0


def _answers(api_base: str) -> bool:
    try:
        httpx.get(f"{api_base}/v1/events", timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_a_second_process_joins_and_the_last_one_out_stops_the_standin(tmp_path: Path) -> None:
    first, started = _holder(tmp_path)
    second, joined = _holder(tmp_path)
    assert joined == started, "the second process must use the first one's stand-in"
    _let_go(first)
    assert _answers(str(started["api_base"])), "the stand-in must outlive the first process"
    _let_go(second)
    deadline = time.monotonic() + 15
    while _answers(str(started["api_base"])):
        assert time.monotonic() < deadline, "the last process out must stop the stand-in"
        time.sleep(0.05)


def test_the_servers_webhook_endpoint_is_registered_once(tmp_path: Path) -> None:
    connection = join(tmp_path)
    try:
        for _ in range(2):
            ensure_webhook_endpoint(connection, "http://127.0.0.1:8000/api/stripe/webhook")
        listed = httpx.get(
            f"{connection.api_base}/v1/webhook_endpoints",
            headers={"Authorization": f"Bearer {connection.api_key}"},
        ).json()["data"]
        assert [endpoint["url"] for endpoint in listed] == ["http://127.0.0.1:8000/api/stripe/webhook"]
    finally:
        release(tmp_path)
