"""The auction core is pure: it imports no I/O library and never reads the clock or randomness."""

from __future__ import annotations

import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import auction

AUCTION_DIR = Path(auction.__file__).parent
PURE_MODULES = sorted(
    f"auction.{module.name}"
    for module in pkgutil.iter_modules([str(AUCTION_DIR)])
    # The live-round layers (issue 4) talk to PostgreSQL, Redis and HTTP by design; batches queues tasks.
    if module.name not in {"store", "service", "api", "hub", "jobs", "demo", "pages", "presence", "batches"}
)
IO_LIBRARIES = {
    "aiohttp", "anyio", "arq", "asyncio", "asyncpg", "http", "httpx", "litestar", "psycopg", "redis",
    "requests", "select", "selectors", "socket", "sqlalchemy", "ssl", "subprocess", "threading",
    "urllib3", "uvicorn", "websockets",
}  # fmt: skip


def test_the_pure_auction_modules_import_no_io_library() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {PURE_MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True).stdout
    )
    assert "auction.mechanisms" in loaded
    assert sorted({name.split(".")[0] for name in loaded} & IO_LIBRARIES) == []


def test_the_pure_auction_modules_never_read_the_clock_or_draw_random_numbers() -> None:
    forbidden = re.compile(r"\.now\(|utcnow|\btime\.time\b|\bimport (random|time|secrets)\b|\buuid4\b")
    for name in PURE_MODULES:
        source = (AUCTION_DIR / f"{name.removeprefix('auction.')}.py").read_text()
        assert not forbidden.search(source), name
