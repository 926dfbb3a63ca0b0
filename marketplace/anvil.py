"""Start (or join) the embedded Ethereum node, Anvil, under the data dir when no CHAIN_RPC_URL is configured.

Every process on one data dir — the server, its worker, a CLI command — shares one Anvil. A registry
file beside its state lists the processes using it; the last one out stops it, and Anvil writes its
state file on the way out (and every few seconds meanwhile), so a restart keeps the chain.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec

from marketplace.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Installed by `make` and `.ci/run` with npm (package @foundry-rs/anvil-linux-amd64) into an ignored folder.
INSTALLED_ANVIL = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "anvil"
STATE_SAVE_SECONDS = 2
START_TIMEOUT_SECONDS = 30


class AnvilUnavailable(RuntimeError):
    """The Anvil binary is missing or did not start; the message says how to fix it."""


def anvil_binary() -> Path | None:
    """The Anvil to run: ANVIL_BIN, the project's npm install, or one on PATH."""
    configured = os.environ.get("ANVIL_BIN", "").strip()
    if configured:
        return Path(configured)
    if INSTALLED_ANVIL.exists():
        return INSTALLED_ANVIL
    found = shutil.which("anvil")
    return Path(found) if found else None


def anvil_version() -> str:
    """The installed Anvil's version line, for benchmark reports."""
    binary = anvil_binary()
    if binary is None:
        return "not installed"
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S603
    return out.splitlines()[0].removeprefix("anvil Version: ") if out else "unknown"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        reply = httpx.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1
        )
        return reply.status_code == 200 and "result" in reply.json()
    except (httpx.HTTPError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Registry(msgspec.Struct, kw_only=True):
    """The running Anvil and the processes using it; `pid` 0 when none runs."""

    pid: int = 0
    url: str = ""
    users: list[int] = msgspec.field(default_factory=list)


@contextmanager
def _locked_registry(node_dir: Path) -> Iterator[Registry]:
    """The registry, read and rewritten (or removed once nothing runs) under an exclusive lock."""
    node_dir.mkdir(parents=True, exist_ok=True)
    path = node_dir / "anvil.json"
    with open(node_dir / ".anvil.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            registry = msgspec.json.decode(path.read_bytes(), type=Registry) if path.exists() else Registry()
            yield registry
            if registry.pid:
                path.write_bytes(msgspec.json.encode(registry))
            else:
                path.unlink(missing_ok=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start(node_dir: Path) -> tuple[int, str]:
    binary = anvil_binary()
    if binary is None:
        raise AnvilUnavailable(
            "Anvil is not installed: run `make` (it installs @foundry-rs/anvil-linux-amd64 with npm into .tools/), "
            "set ANVIL_BIN, or set CHAIN_RPC_URL to an Ethereum JSON-RPC endpoint"
        )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(node_dir / "anvil.log", "ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own binary, arguments built here
            [str(binary), "--host", "127.0.0.1", "--port", str(port), "--state", str(node_dir / "state.json"),
             "--state-interval", str(STATE_SAVE_SECONDS), "--silent"],
            stdout=log, stderr=log, start_new_session=True,  # outlives this process while others use it
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AnvilUnavailable(f"Anvil did not start; see {node_dir / 'anvil.log'}")
        time.sleep(0.05)
    return process.pid, url


_joined: dict[str, Path] = {}


def embedded_chain_url(data_dir: Path) -> str:
    """The URL of the data dir's Anvil, started now unless another process already runs it."""
    node_dir = data_dir / "anvil"
    with _locked_registry(node_dir) as registry:
        if not (registry.pid and _alive(registry.pid) and _answers(registry.url)):
            registry.pid, registry.url = _start(node_dir)
            registry.users = []
        registry.users = [user for user in registry.users if _alive(user) and user != os.getpid()] + [
            os.getpid()
        ]
        url = registry.url
    if "node_dir" not in _joined:
        _joined["node_dir"] = node_dir
        atexit.register(release)
    return url


def chain_url(settings: Settings) -> str:
    """The configured chain, or the embedded Anvil started (or joined) now."""
    return settings.chain_rpc_url or embedded_chain_url(settings.data_dir)


def release() -> None:
    """Give up this process's claim; the last process out stops Anvil, which saves its state as it goes."""
    node_dir = _joined.pop("node_dir", None)
    if node_dir is None:
        return
    with _locked_registry(node_dir) as registry:
        registry.users = [user for user in registry.users if user != os.getpid() and _alive(user)]
        pid = registry.pid
        if registry.users or not pid:
            return
        registry.pid = 0  # the registry file goes: nothing runs once Anvil stops
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
        time.sleep(0.05)
