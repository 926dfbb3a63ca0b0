"""Settings read once from the environment; a wrong value stops start-up with one clear line."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import msgspec

from contracts.model import FULL_SHARE_BPS, SettlementTerms
from marketplace.addresses import Network, parse_networks


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
    login_failures_per_account: int
    login_failure_window_seconds: int
    trusted_proxies: tuple[Network, ...]
    presessions_per_address_per_hour: int
    bids_per_second: int
    invitations_per_hour: int
    licence_checks_per_minute: int
    below_floor_offers: int
    below_floor_window_seconds: int
    # Audio uploads: a track of at most so many bytes and seconds (one source of truth for both);
    # a snippet to identify or search by its own, smaller pair.
    upload_limit_bytes: int
    track_max_seconds: float
    snippet_limit_bytes: int
    snippet_max_seconds: float
    upload_timeout_seconds: float
    json_limit_bytes: int
    import_limit_bytes: int
    body_read_timeout_seconds: float
    body_timeout_seconds: float
    database_pool_size: int
    database_acquire_timeout_seconds: float
    stripe_api_key: str | None
    stripe_api_base: str | None
    stripe_webhook_secret: str | None
    stripe_hold_days: int
    chain_rpc_url: str | None
    chain_confirmations: int
    demo_tracks: int = 40  # how many of the synthetic catalogue's tracks the demo loads
    # The embedded PostgreSQL's shared_buffers; None: sized from the machine's memory (marketplace.embedded).
    embedded_postgres_shared_buffers_mb: int | None = None
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


def _optional_positive_int(env: Mapping[str, str], name: str) -> int | None:
    return _positive_int(env, name, 0) or None


def _positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < 86_400:
        raise ConfigError(f"{name} must be more than 0 and less than a day in seconds, got {raw!r}")
    return value


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    try:
        return parse_networks(env.get(name, ""))
    except ValueError as exc:
        raise ConfigError(f"{name} must be comma-separated IP addresses or CIDR blocks: {exc}") from None


def _whole_days(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > 365:
        raise ConfigError(f"{name} must be a whole number of days from 0 to 365, got {raw!r}")
    return int(raw)


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

    stripe_api_key = env.get("STRIPE_API_KEY", "").strip() or None
    stripe_webhook_secret = env.get("STRIPE_WEBHOOK_SECRET", "").strip() or None
    if stripe_api_key is not None and stripe_webhook_secret is None:
        raise ConfigError(
            "STRIPE_API_KEY needs STRIPE_WEBHOOK_SECRET (whsec_…, the signing secret of the webhook endpoint "
            "pointing at /api/stripe/webhook)"
        )

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
        login_failures_per_account=_positive_int(env, "LOGIN_FAILURES_PER_ACCOUNT", 5),
        login_failure_window_seconds=_positive_int(env, "LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60),
        trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
        # New anonymous pre-sessions (sign-in and registration forms) one address may open in an hour.
        presessions_per_address_per_hour=_positive_int(env, "PRESESSIONS_PER_ADDRESS_PER_HOUR", 100),
        bids_per_second=_positive_int(env, "BIDS_PER_SECOND", 5),
        invitations_per_hour=_positive_int(env, "INVITATIONS_PER_HOUR", 20),
        licence_checks_per_minute=_positive_int(env, "LICENCE_CHECKS_PER_MINUTE", 60),
        below_floor_offers=_positive_int(env, "BELOW_FLOOR_OFFERS", 3),
        below_floor_window_seconds=_positive_int(env, "BELOW_FLOOR_WINDOW_SECONDS", 600),
        # 20 minutes of 24-bit 96 kHz stereo is 691 MB.
        upload_limit_bytes=_positive_int(env, "UPLOAD_LIMIT_BYTES", 800 * 1024 * 1024),
        track_max_seconds=_positive_seconds(env, "TRACK_MAX_SECONDS", 20 * 60),
        snippet_limit_bytes=_positive_int(env, "SNIPPET_LIMIT_BYTES", 64 * 1024 * 1024),
        snippet_max_seconds=_positive_seconds(env, "SNIPPET_MAX_SECONDS", 60),
        # A whole upload may take this long (each read still has BODY_READ_TIMEOUT_SECONDS).
        upload_timeout_seconds=_positive_seconds(env, "UPLOAD_TIMEOUT_SECONDS", 3600),
        json_limit_bytes=_positive_int(env, "JSON_LIMIT_BYTES", 1024 * 1024),
        import_limit_bytes=_positive_int(env, "IMPORT_LIMIT_BYTES", 4 * 1024 * 1024),
        body_read_timeout_seconds=_positive_seconds(env, "BODY_READ_TIMEOUT_SECONDS", 10),
        body_timeout_seconds=_positive_seconds(env, "BODY_TIMEOUT_SECONDS", 120),
        database_pool_size=_positive_int(env, "DATABASE_POOL_SIZE", 10),
        database_acquire_timeout_seconds=_positive_seconds(env, "DATABASE_ACQUIRE_TIMEOUT_SECONDS", 5),
        stripe_api_key=stripe_api_key,
        stripe_api_base=_url(env, "STRIPE_API_BASE", {"http", "https"}),
        stripe_webhook_secret=stripe_webhook_secret,
        stripe_hold_days=_whole_days(env, "STRIPE_HOLD_DAYS", 7),
        chain_rpc_url=_url(env, "CHAIN_RPC_URL", {"http", "https"}),
        # A Settled event counts once this many blocks include it (its own block is the first).
        chain_confirmations=_positive_int(env, "CHAIN_CONFIRMATIONS", 1),
        demo_tracks=_positive_int(env, "DEMO_TRACKS", 40),
        embedded_postgres_shared_buffers_mb=_optional_positive_int(
            env, "EMBEDDED_POSTGRES_SHARED_BUFFERS_MB"
        ),
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
