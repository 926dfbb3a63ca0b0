"""Start (or join) the stand-in under the data dir, as the embedded databases are; the last process out stops it.

`data_dir/stripe-standin/` holds its state, its API key and webhook signing secret (created on first
start, mode 0600), `server.json` (pid and port of the running server) and one file per process
using it, so the last one to leave can stop it.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec

START_SECONDS = 30.0


class StandinConnection(msgspec.Struct, frozen=True):
    api_base: str
    api_key: str
    webhook_secret: str


_joined: dict[Path, StandinConnection] = {}


def _home(data_dir: Path) -> Path:
    home = data_dir / "stripe-standin"
    (home / "clients").mkdir(parents=True, exist_ok=True)
    return home


def _secret_file(path: Path, make: str) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(make)
    return make


def read_credentials(data_dir: Path) -> tuple[str, str]:
    """The stand-in's API key and webhook signing secret, created on first use."""
    home = _home(data_dir)
    api_key = _secret_file(home / "api_key", f"sk_test_standin_{secrets.token_urlsafe(24)}")
    webhook_secret = _secret_file(home / "webhook_secret", f"whsec_{secrets.token_urlsafe(32)}")
    return api_key, webhook_secret


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    with open(home / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not serving anyone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _running(home: Path) -> tuple[int, int] | None:
    try:
        server = json.loads((home / "server.json").read_text())
    except (OSError, ValueError):
        return None
    pid, port = int(server["pid"]), int(server["port"])
    return (pid, port) if _alive(pid) and _answers(port) else None


def _start(data_dir: Path, home: Path) -> tuple[int, int]:
    port = _free_port()
    log = open(home / "standin.log", "ab")  # noqa: SIM115 - the child keeps writing to it after we return
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no outside input
        [sys.executable, "-m", "marketplace.stripe_standin", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    log.close()
    deadline = time.monotonic() + START_SECONDS
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the Stripe stand-in did not start; see {home / 'standin.log'}")
        time.sleep(0.05)
    (home / "server.json").write_text(json.dumps({"pid": process.pid, "port": port}))
    return process.pid, port


def join(data_dir: Path) -> StandinConnection:
    """The running stand-in for this data dir, started now if nobody runs it; released at exit."""
    data_dir = data_dir.resolve()
    if data_dir in _joined:
        return _joined[data_dir]
    home = _home(data_dir)
    api_key, webhook_secret = read_credentials(data_dir)
    with _locked(home):
        running = _running(home) or _start(data_dir, home)
        (home / "clients" / str(os.getpid())).touch()
    connection = StandinConnection(api_base=f"http://127.0.0.1:{running[1]}", api_key=api_key,
                                   webhook_secret=webhook_secret)  # fmt: skip
    _joined[data_dir] = connection
    atexit.register(release, data_dir)
    return connection


def release(data_dir: Path) -> None:
    """Leave the stand-in; the last process using it stops it."""
    if _joined.pop(data_dir.resolve(), None) is None:
        return
    home = _home(data_dir.resolve())
    with _locked(home):
        (home / "clients" / str(os.getpid())).unlink(missing_ok=True)
        users = [
            path for path in (home / "clients").iterdir() if path.name.isdigit() and _alive(int(path.name))
        ]
        if users:
            return
        running = _running(home)
        if running is not None:
            os.kill(running[0], signal.SIGTERM)
        (home / "server.json").unlink(missing_ok=True)


def ensure_webhook_endpoint(connection: StandinConnection, url: str) -> None:
    """Have the stand-in send every event to `url` (once, however often the server starts)."""
    headers = {"Authorization": f"Bearer {connection.api_key}"}
    with httpx.Client(base_url=connection.api_base, headers=headers, timeout=10) as http:
        known = http.get("/v1/webhook_endpoints").raise_for_status().json()["data"]
        if all(endpoint["url"] != url for endpoint in known):
            http.post("/v1/webhook_endpoints", data={"url": url, "enabled_events[0]": "*"}).raise_for_status()
