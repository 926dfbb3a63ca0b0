"""Server-side sessions in Redis behind an opaque cookie, and signed CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import msgspec
from redis.asyncio import Redis

from rights.identity import Principal

SESSION_COOKIE = "mp_session"
CSRF_COOKIE = "mp_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
SESSION_SECONDS = 14 * 24 * 3600


def _key(session_token: str) -> str:
    # Only a hash is a key, so a Redis dump does not hand out live sessions.
    return "session:" + hashlib.sha256(session_token.encode()).hexdigest()


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
    """End every session of the user (its role changed: a session keeps the principal it started with)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.smembers(_user_key(principal))
        pipe.delete(_user_key(principal))
        keys, _ = await pipe.execute()
    if keys:
        await redis.delete(*keys)


async def session_principal(redis: Redis, token: str) -> Principal | None:
    raw = await redis.get(_key(token))
    return None if raw is None else msgspec.json.decode(raw, type=Principal)


async def close_session(redis: Redis, token: str) -> None:
    await redis.delete(_key(token))


def new_csrf_token(secret_key: str) -> str:
    nonce = secrets.token_urlsafe(24)
    signature = hmac.new(secret_key.encode(), nonce.encode(), hashlib.sha256).hexdigest()
    return f"{nonce}.{signature}"


def csrf_token_is_valid(secret_key: str, token: str | None) -> bool:
    """A token is valid when this server signed it, so a cookie planted by another site does not pass."""
    if not token or token.count(".") != 1:
        return False
    nonce, signature = token.split(".")
    expected = hmac.new(secret_key.encode(), nonce.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected)
