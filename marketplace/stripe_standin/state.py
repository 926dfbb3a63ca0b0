"""The stand-in's memory: Stripe objects, idempotent responses, events and webhook deliveries in SQLite.

One file under the data dir, so a restarted stand-in remembers every PaymentIntent, transfer and
undelivered webhook. The server is one process on one event loop and never awaits inside a change,
so each `with state.change():` block is atomic.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Object = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_kind ON objects (kind, seq);
CREATE TABLE IF NOT EXISTS idempotent_responses (
    idempotency_key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS onboarding_links (
    token TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    return_url TEXT NOT NULL,
    refresh_url TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);
"""


class StandinState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def change(self) -> Iterator[None]:
        """All writes inside happen together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def put(self, found: Object) -> Object:
        self._db.execute(
            "INSERT INTO objects (id, kind, body) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            (found["id"], found["object"], json.dumps(found)),
        )
        return found

    def get(self, object_id: str, kind: str | None = None) -> Object | None:
        row = self._db.execute("SELECT kind, body FROM objects WHERE id = ?", (object_id,)).fetchone()
        if row is None or (kind is not None and row[0] != kind):
            return None
        body: Object = json.loads(row[1])
        return body

    def newest(self, kind: str, *, limit: int, before_seq: int | None = None) -> list[Object]:
        rows = self._db.execute(
            "SELECT body FROM objects WHERE kind = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (kind, before_seq if before_seq is not None else 2**62, limit),
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def seq_of(self, object_id: str) -> int | None:
        row = self._db.execute("SELECT seq FROM objects WHERE id = ?", (object_id,)).fetchone()
        return None if row is None else int(row[0])

    def all_of(self, kind: str) -> list[Object]:
        rows = self._db.execute("SELECT body FROM objects WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def remembered_response(self, idempotency_key: str) -> tuple[str, int, str] | None:
        row = self._db.execute(
            "SELECT fingerprint, status, body FROM idempotent_responses WHERE idempotency_key = ?",
            (idempotency_key,),
        ).fetchone()
        return None if row is None else (row[0], int(row[1]), row[2])

    def remember_response(self, idempotency_key: str, fingerprint: str, status: int, body: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO idempotent_responses VALUES (?, ?, ?, ?)",
            (idempotency_key, fingerprint, status, body),
        )

    def add_onboarding_link(
        self, token: str, account: str, return_url: str, refresh_url: str, expires_at: int
    ) -> None:
        self._db.execute(
            "INSERT INTO onboarding_links VALUES (?, ?, ?, ?, ?)",
            (token, account, return_url, refresh_url, expires_at),
        )

    def onboarding_link(self, token: str) -> tuple[str, str, str, int] | None:
        row = self._db.execute(
            "SELECT account, return_url, refresh_url, expires_at FROM onboarding_links WHERE token = ?",
            (token,),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], int(row[3]))

    def schedule_delivery(self, event_id: str, endpoint_id: str, at: float) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO deliveries (event_id, endpoint_id, next_attempt_at) VALUES (?, ?, ?)",
            (event_id, endpoint_id, at),
        )

    def due_deliveries(self, now: float, limit: int = 20) -> list[tuple[str, str, int]]:
        rows = self._db.execute(
            """SELECT event_id, endpoint_id, attempts FROM deliveries
               WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?""",
            (now, limit),
        ).fetchall()
        return [(row[0], row[1], int(row[2])) for row in rows]

    def next_delivery_at(self) -> float | None:
        row = self._db.execute(
            "SELECT min(next_attempt_at) FROM deliveries WHERE state = 'pending'"
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def delivery_done(
        self, event_id: str, endpoint_id: str, *, state: str, attempts: int, retry_at: float
    ) -> None:
        self._db.execute(
            "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ? WHERE event_id = ? AND endpoint_id = ?",
            (state, attempts, retry_at, event_id, endpoint_id),
        )

    def pending_deliveries(self, event_id: str) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM deliveries WHERE event_id = ? AND state = 'pending'", (event_id,)
        ).fetchone()
        return int(row[0])
