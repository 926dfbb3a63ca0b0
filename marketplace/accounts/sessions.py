"""Server-side sessions and pre-sessions in Redis behind opaque cookies, and the CSRF token bound to each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref
from collections.abc import Callable, Mapping
from uuid import UUID

import msgspec
from redis.asyncio import Redis

from rights.identity import Principal

SESSION_COOKIE = "mp_session"
PRESESSION_COOKIE = "mp_presession"
CSRF_COOKIE = "mp_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
SESSION_SECONDS = 14 * 24 * 3600
PRESESSION_SECONDS = 2 * 3600
HOST_PREFIX = "__Host-"


def cookie_name(name: str, *, secure: bool) -> str:
    """Over HTTPS (COOKIE_SECURE) the session, pre-session and CSRF cookies carry the `__Host-` prefix:
    browsers then keep them only when Secure, for Path=/ and without a Domain, so a sibling subdomain
    cannot plant them. Plain http (local use) keeps the plain names, which browsers accept there."""
    return HOST_PREFIX + name if secure else name


def our_cookies(cookies: Mapping[str, str], *, secure: bool) -> dict[str, str]:
    """The session, pre-session and CSRF cookies a request carries, by their plain names; over HTTPS only
    their `__Host-` forms count (a plain one may have been planted by a sibling subdomain)."""
    names = {
        cookie_name(name, secure=secure): name for name in (SESSION_COOKIE, PRESESSION_COOKIE, CSRF_COOKIE)
    }
    return {names[name]: value for name, value in cookies.items() if name in names}


def credential_id(secret: str) -> str:
    """What a session or API token is known by in Redis keys and revocation channels: its hash,
    so a Redis dump or a channel listener never sees a live credential."""
    return hashlib.sha256(secret.encode()).hexdigest()


REVOKED_PREFIX = "credential-revoked:"
USER_CHANGED_PREFIX = "user-changed:"
# What a process subscribes to in order to hear of every revocation (`marketplace.principals`).
REVOCATION_PATTERNS = (REVOKED_PREFIX + "*", USER_CHANGED_PREFIX + "*")


def revocation_channel(credential: str) -> str:
    """Where the end of the session or token with this `credential_id` is told to the sockets it opened."""
    return REVOKED_PREFIX + credential


# The announcing process hears its own announcement first: what it remembers is forgotten before the
# announcement goes out, so its very next request is refused, not only once Redis delivers it back.
_heard_here: weakref.WeakKeyDictionary[Redis, Callable[[str], None]] = weakref.WeakKeyDictionary()


def hear_own_announcements(redis: Redis, hear: Callable[[str], None]) -> None:
    """Call `hear(channel)` with every announcement made through this Redis client, as it is made."""
    _heard_here[redis] = hear


async def _announce(redis: Redis, channel: str) -> None:
    if (hear := _heard_here.get(redis)) is not None:
        hear(channel)
    await redis.publish(channel, b"announced")


async def announce_revocation(redis: Redis, credential: str) -> None:
    await _announce(redis, revocation_channel(credential))


def user_changed_channel(user_id: UUID) -> str:
    """Where a change to the user (its role) is told to every process that remembers its sign-ins."""
    return f"{USER_CHANGED_PREFIX}{user_id}"


def revoked_credential(channel: str) -> str | None:
    """The credential id a revocation channel names, or None for another channel."""
    return channel.removeprefix(REVOKED_PREFIX) if channel.startswith(REVOKED_PREFIX) else None


def user_changed(channel: str) -> UUID | None:
    """The user a user-changed channel names, or None for another channel."""
    if not channel.startswith(USER_CHANGED_PREFIX):
        return None
    try:
        return UUID(channel.removeprefix(USER_CHANGED_PREFIX))
    except ValueError:
        return None


def _key(session_token: str) -> str:
    return "session:" + credential_id(session_token)


def _presession_key(presession_token: str) -> str:
    return "presession:" + credential_id(presession_token)


def _user_key(principal: Principal) -> str:
    return f"user_sessions:{principal.user_id}"


async def open_session(redis: Redis, principal: Principal) -> str:
    token = secrets.token_urlsafe(32)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(_key(token), msgspec.json.encode(principal), ex=SESSION_SECONDS)
        pipe.sadd(_user_key(principal), _key(token))
        pipe.expire(_user_key(principal), SESSION_SECONDS)
        await pipe.execute()
    return token


async def close_user_sessions(redis: Redis, principal: Principal) -> None:
    """End every session of the user (its role changed: a session keeps the principal it started with),
    and tell every process to forget the principals it remembers for the user's API tokens."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.smembers(_user_key(principal))
        pipe.delete(_user_key(principal))
        keys, _ = await pipe.execute()
    if keys:
        await redis.delete(*keys)
    for key in keys:
        await announce_revocation(
            redis, (key.decode() if isinstance(key, bytes) else key).removeprefix("session:")
        )
    await _announce(redis, user_changed_channel(principal.user_id))


async def session_principal(redis: Redis, token: str) -> Principal | None:
    raw = await redis.get(_key(token))
    return None if raw is None else msgspec.json.decode(raw, type=Principal)


async def close_session(redis: Redis, token: str) -> None:
    await redis.delete(_key(token))
    await announce_revocation(redis, credential_id(token))


async def open_presession(redis: Redis) -> str:
    """An anonymous visitor's pre-session: what the sign-in and registration forms' CSRF token is bound to."""
    token = secrets.token_urlsafe(32)
    await redis.set(_presession_key(token), b"1", ex=PRESESSION_SECONDS)
    return token


async def presession_exists(redis: Redis, token: str) -> bool:
    return bool(await redis.exists(_presession_key(token)))


async def close_presession(redis: Redis, token: str) -> None:
    await redis.delete(_presession_key(token))


def csrf_token(secret_key: str, *, session: str | None = None, presession: str | None = None) -> str:
    """The CSRF token of one session (or pre-session): a token from another session never matches."""
    if session is None and presession is None:
        raise ValueError("a CSRF token is bound to a session or a pre-session")
    subject = f"session:{session}" if session is not None else f"presession:{presession}"
    return hmac.new(secret_key.encode(), subject.encode(), hashlib.sha256).hexdigest()


def csrf_token_matches(expected: str | None, supplied: str | None) -> bool:
    return expected is not None and supplied is not None and hmac.compare_digest(expected, supplied)
