"""Settings read once from the environment; a wrong value stops start-up with one clear line."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import msgspec

from contracts.model import FULL_SHARE_BPS, SettlementTerms


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and what is expected."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path
    database_url: str | None
    redis_url: str | None
    arango_url: str | None
    rights_backend: str
    secret_key: str
    secret_key_is_generated: bool
    cookie_secure: bool
    login_attempts_per_minute: int
    bids_per_second: int
    invitations_per_hour: int
    below_floor_offers: int
    below_floor_window_seconds: int
    upload_limit_bytes: int
    stripe_api_key: str | None
    stripe_api_base: str | None
    chain_rpc_url: str | None
    chain_confirmations: int
    settlement: SettlementTerms = msgspec.field(default_factory=SettlementTerms)

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None


def _url(env: Mapping[str, str], name: str, schemes: set[str]) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        expected = " or ".join(f"{scheme}://…" for scheme in sorted(schemes))
        raise ConfigError(f"{name} must be a URL of the form {expected}, got {value!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a positive whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be a positive whole number, got {raw!r}")
    return value


def _basis_points(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > FULL_SHARE_BPS:
        raise ConfigError(f"{name} must be basis points from 0 to 10000 (1500 = 15 %), got {raw!r}")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `env` (the process environment by default)."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("MARKETPLACE_DATA_DIR", "").strip() or ".data").resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"MARKETPLACE_DATA_DIR must be a directory, but {data_dir} is a file")

    secret_key = env.get("SECRET_KEY", "").strip()
    generated = not secret_key
    if generated:
        secret_key = _stored_secret(data_dir)
    elif len(secret_key) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters long")

    rights_backend = env.get("RIGHTS_BACKEND", "").strip() or "postgres"
    if rights_backend not in {"postgres", "arango"}:
        raise ConfigError(f"RIGHTS_BACKEND must be postgres or arango, got {rights_backend!r}")
    arango_url = _url(env, "ARANGO_URL", {"http", "https"})
    if rights_backend == "arango" and arango_url is None:
        raise ConfigError("RIGHTS_BACKEND=arango needs ARANGO_URL (http://host:8529)")

    return Settings(
        data_dir=data_dir,
        database_url=_url(env, "DATABASE_URL", {"postgres", "postgresql"}),
        redis_url=_url(env, "REDIS_URL", {"redis", "rediss", "unix"}),
        arango_url=arango_url,
        rights_backend=rights_backend,
        secret_key=secret_key,
        secret_key_is_generated=generated,
        cookie_secure=_flag(env, "COOKIE_SECURE", False),
        login_attempts_per_minute=_positive_int(env, "LOGIN_ATTEMPTS_PER_MINUTE", 10),
        bids_per_second=_positive_int(env, "BIDS_PER_SECOND", 5),
        invitations_per_hour=_positive_int(env, "INVITATIONS_PER_HOUR", 20),
        below_floor_offers=_positive_int(env, "BELOW_FLOOR_OFFERS", 3),
        below_floor_window_seconds=_positive_int(env, "BELOW_FLOOR_WINDOW_SECONDS", 600),
        upload_limit_bytes=_positive_int(env, "UPLOAD_LIMIT_BYTES", 50 * 1024 * 1024),
        stripe_api_key=env.get("STRIPE_API_KEY", "").strip() or None,
        stripe_api_base=_url(env, "STRIPE_API_BASE", {"http", "https"}),
        chain_rpc_url=_url(env, "CHAIN_RPC_URL", {"http", "https"}),
        # A Settled event counts once this many blocks include it (its own block is the first).
        chain_confirmations=_positive_int(env, "CHAIN_CONFIRMATIONS", 1),
        settlement=SettlementTerms(
            platform_fee_bps=_basis_points(env, "PLATFORM_FEE_BPS", 1_500),
            master_share_bps=_basis_points(env, "MASTER_SHARE_BPS", 5_000),
            consent_hours=_positive_int(env, "CONSENT_HOURS", 48),
            payment_hours=_positive_int(env, "PAYMENT_HOURS", 72),
        ),
    )


def _stored_secret(data_dir: Path) -> str:
    """A per-installation secret kept in the data dir, so sessions survive restarts without setup."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process on this data dir wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret
