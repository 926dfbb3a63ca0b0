"""Keep one worker process running beside the server: restart it when it dies, backing off when it
keeps dying young so a worker that cannot start does not spin."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

log = logging.getLogger("marketplace.supervisor")

FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
# Set in a supervised worker's environment: the pid of the server that started it.
SUPERVISOR_PID = "MARKETPLACE_SUPERVISOR_PID"


def restart_delay(previous_delay: float | None, ran_seconds: float) -> float:
    """Seconds to wait before the next start: short after a worker that ran a while, doubling (to a cap)
    after each one that died soon after starting."""
    if previous_delay is None or ran_seconds >= STABLE_AFTER_SECONDS:
        return FIRST_DELAY_SECONDS
    return min(previous_delay * 2, MAX_DELAY_SECONDS)


class WorkerSupervisor:
    """Runs `command` in a thread-watched child process until `stop()`."""

    def __init__(self, command: Sequence[str], env: dict[str, str]) -> None:
        self._command = list(command)
        self._env = {**env, SUPERVISOR_PID: str(os.getpid())}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _supervise(self) -> None:
        delay: float | None = None
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                started = time.monotonic()
                self._process = subprocess.Popen(self._command, env=self._env)  # noqa: S603 (our own command line)
                process = self._process
            code = process.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            delay = restart_delay(delay, ran)
            log.error(
                "the worker (pid %s) exited with %s after %.1f s; restarting it in %.1f s",
                process.pid, code, ran, delay,
            )  # fmt: skip
            self._stopping.wait(delay)

    def stop(self, timeout: float = 15) -> None:
        """Stop supervising and end the worker: SIGTERM, then SIGKILL if it outstays `timeout`."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(timeout=timeout)


async def stop_when_orphaned(supervisor_pid: int, check_every: float = 1.0) -> None:
    """In a supervised worker: stop gracefully once the server that started it is gone (killed with -9,
    it could not stop us), so a restarted server never finds an orphan working beside its new worker."""
    while True:  # the parent's death sends no event we could wait on; ask the kernel who the parent is
        if os.getppid() != supervisor_pid:
            break
        await asyncio.sleep(check_every)
    log.warning("the server that started this worker is gone: stopping", extra={"server_pid": supervisor_pid})
    os.kill(os.getpid(), signal.SIGTERM)
