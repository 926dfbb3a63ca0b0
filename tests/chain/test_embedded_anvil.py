"""The embedded Anvil: started under the data dir, joined by a second process, stopped by the last one out, its chain kept."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from marketplace.anvil import anvil_binary

pytestmark = pytest.mark.skipif(anvil_binary() is None, reason="Anvil is not installed: `make` installs it")

HOLDER = """
import json, os, sys
from marketplace.anvil import embedded_chain_url
url = embedded_chain_url(__import__("pathlib").Path(sys.argv[1]))
print(json.dumps({"url": url}), flush=True)
sys.stdin.readline()  # hold the node until told to go
"""


def rpc(url: str, method: str, *params: object) -> object:
    reply = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=5
    )
    return reply.json()["result"]


def start_holder(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["url"]


def release(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.wait(timeout=30) == 0


def answers(url: str) -> bool:
    try:
        rpc(url, "eth_chainId")
    except httpx.HTTPError:
        return False
    return True


def wait_until(condition: Callable[[], bool], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_second_process_joins_last_one_out_stops_anvil_and_a_restart_keeps_the_chain(tmp_path: Path) -> None:
    first, url = start_holder(tmp_path)
    second, joined = start_holder(tmp_path)
    assert joined == url, "the second process must join the first one's Anvil"
    rpc(url, "anvil_mine", "0x7")
    height = rpc(url, "eth_blockNumber")

    release(first)
    assert answers(url), "Anvil must outlive the first process while another uses it"
    release(second)
    assert wait_until(lambda: not answers(url)), "Anvil must stop when the last process exits"
    assert (tmp_path / "anvil" / "state.json").exists()

    third, restarted = start_holder(tmp_path)
    try:
        assert rpc(restarted, "eth_blockNumber") == height, "a restart must keep the chain"
    finally:
        release(third)
