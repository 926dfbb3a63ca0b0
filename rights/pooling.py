"""How services borrow a pooled connection: `pool.acquire`, or the handlers' `connect` dependency."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import asyncpg

Connect = Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]
"""Taken only for a transaction, so nothing after its commit (a publish, a timer, parsing a file)
holds a connection that other requests are waiting for."""
