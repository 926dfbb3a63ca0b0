"""Who a token or session signs in, remembered per server process for a few seconds and forgotten the
moment it is revoked.

A bearer token costs a pooled connection and a query per request, a session a Redis read. Each server
process remembers the answer for at most `REMEMBER_SECONDS`, and only while it is subscribed to the
announcements every sign-out, token revocation and role change makes (`marketplace.accounts.sessions`):
each announcement empties the entries it concerns, in every process. While the subscription is down, or
has not been heard from lately, nothing is remembered or trusted (fail safe: every request reads the
store again), and whatever was remembered before is dropped, since announcements made meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from uuid import UUID

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from marketplace.accounts.sessions import REVOCATION_PATTERNS, revoked_credential, user_changed
from rights.identity import Principal

log = logging.getLogger("marketplace.principals")

REMEMBER_SECONDS = 30.0
MAX_PRINCIPALS = 10_000
# The subscription is pinged this often; a ping unanswered for `SILENT_AFTER_SECONDS` counts it as down.
PING_SECONDS = 2.0
SILENT_AFTER_SECONDS = 5.0
RETRY_SECONDS = 1.0
LISTENER_NAME = "principal-revocations"
UNHEARD = (
    "revocation announcements are not reaching this process: "
    "principals are read from the stores on every request until they do"
)


class Via(enum.Enum):
    TOKEN = "token"  # noqa: S105 - how a caller signed in, not a secret
    SESSION = "session"


class PrincipalCache:
    """Principals by (how they signed in, credential id), each for at most `ttl` seconds, `size` at most.

    `now` is a monotonic clock reading passed in. A lookup that started before something was forgotten
    may have read the old answer: `remember` stores only when nothing was forgotten since its `ticket`.
    """

    def __init__(self, ttl: float = REMEMBER_SECONDS, size: int = MAX_PRINCIPALS) -> None:
        self.ttl = ttl
        self.size = size
        self.live = False
        self._entries: OrderedDict[tuple[Via, str], tuple[Principal, float]] = OrderedDict()
        self._forgotten = 0  # counts every forgetting: a ticket from before one is stale

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, via: Via, credential: str, now: float) -> Principal | None:
        if not self.live:
            return None
        found = self._entries.get((via, credential))
        if found is None:
            return None
        principal, expires = found
        if now >= expires:
            del self._entries[(via, credential)]
            return None
        return principal

    def ticket(self) -> int:
        """Taken before reading the store; `remember` refuses the answer if anything was forgotten since."""
        return self._forgotten

    def remember(self, via: Via, credential: str, principal: Principal, now: float, ticket: int) -> None:
        if not self.live or ticket != self._forgotten:
            return
        self._entries[(via, credential)] = (principal, now + self.ttl)
        self._entries.move_to_end((via, credential))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget_credential(self, credential: str) -> None:
        self._forgotten += 1
        for via in Via:
            self._entries.pop((via, credential), None)

    def forget_user(self, user_id: UUID) -> None:
        self._forgotten += 1
        for key in [key for key, (principal, _) in self._entries.items() if principal.user_id == user_id]:
            del self._entries[key]

    def go_live(self) -> None:
        """Subscribed and heard from: start remembering, from empty."""
        self.forget_everything()
        self.live = True

    def go_dark(self) -> None:
        """Announcements may be getting lost: trust nothing remembered, remember nothing new."""
        self.live = False
        self.forget_everything()

    def forget_everything(self) -> None:
        self._forgotten += 1
        self._entries.clear()

    def apply(self, channel: str) -> None:
        """Forget what one announcement, named by its channel, ends."""
        if (credential := revoked_credential(channel)) is not None:
            self.forget_credential(credential)
        elif (user_id := user_changed(channel)) is not None:
            self.forget_user(user_id)


async def remembered(
    cache: PrincipalCache, via: Via, credential: str, look_up: Callable[[], Awaitable[Principal | None]]
) -> Principal | None:
    """The principal `credential` signs in, from the cache or else from `look_up` (then remembered).

    Unknown credentials are not remembered: each costs its lookup, as before the cache.
    """
    principal = cache.lookup(via, credential, time.monotonic())
    if principal is not None:
        return principal
    ticket = cache.ticket()
    principal = await look_up()
    if principal is not None:
        cache.remember(via, credential, principal, time.monotonic(), ticket)
    return principal


async def listen_for_revocations(
    redis_url: str, cache: PrincipalCache, *, retry_seconds: float = RETRY_SECONDS,
    ping_seconds: float = PING_SECONDS, silent_after_seconds: float = SILENT_AFTER_SECONDS,
) -> None:  # fmt: skip
    """Keep `cache` emptied by every revocation announcement, for as long as this task runs.

    The cache is live only between a confirmed subscription and the first sign of trouble: an error,
    or a ping unanswered for `silent_after_seconds` (a connection that died without a word).
    """
    while True:
        redis = Redis.from_url(redis_url, client_name=LISTENER_NAME)
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.psubscribe(*REVOCATION_PATTERNS)
                await _listen(pubsub, cache, ping_seconds, silent_after_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if cache.live:
                log.warning(UNHEARD, extra={"error": repr(exc)})
        finally:
            cache.go_dark()
            await redis.aclose()
        await asyncio.sleep(retry_seconds)


async def _listen(
    pubsub: PubSub, cache: PrincipalCache, ping_seconds: float, silent_after_seconds: float
) -> None:
    confirmed: set[str] = set()
    pinged_at = time.monotonic()
    unanswered_since: float | None = None  # when the oldest ping still without an answer was sent
    while True:
        message = await pubsub.get_message(timeout=ping_seconds / 2)
        now = time.monotonic()
        if message is not None:
            unanswered_since = None  # anything from Redis shows the connection is alive
            kind = message["type"]
            if kind == "psubscribe":
                confirmed.add(_text(message["channel"]))
                if confirmed == set(REVOCATION_PATTERNS):  # again after a reconnect: start from empty
                    cache.go_live()
            elif kind == "pmessage":
                cache.apply(_text(message["channel"]))
        elif unanswered_since is not None and now - unanswered_since > silent_after_seconds:
            raise TimeoutError(f"Redis left a ping unanswered for {silent_after_seconds} s")
        if now - pinged_at >= ping_seconds:
            await pubsub.ping()
            pinged_at = now
            unanswered_since = unanswered_since or now


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
