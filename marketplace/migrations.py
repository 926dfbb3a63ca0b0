"""Run alembic migrations: SQL scripts executed verbatim by asyncpg, `upgrade heads` across package branches."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from alembic.config import Config
from sqlalchemy.util import await_only

from alembic import command, op

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_sql(script: str) -> None:
    """Execute a migration's SQL as written (several statements, `$$` bodies, colons and all).

    `op.execute` would pass the text through SQLAlchemy's bind-parameter parser; asyncpg's simple
    query protocol runs it exactly as a person would in psql.
    """
    driver_connection: Any = op.get_bind().connection.dbapi_connection.driver_connection  # type: ignore[union-attr]
    await_only(driver_connection.execute(script))


def _alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    _scheme, netloc, path, query, fragment = urlsplit(database_url)
    sqlalchemy_url = urlunsplit(("postgresql+asyncpg", netloc, path, query, fragment))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, target: str = "heads") -> None:
    command.upgrade(_alembic_config(database_url), target)


def downgrade(database_url: str, target: str) -> None:
    command.downgrade(_alembic_config(database_url), target)


async def upgrade_async(database_url: str, target: str = "heads") -> None:
    """Upgrade from inside a running event loop (alembic's env starts a loop of its own)."""
    await asyncio.to_thread(upgrade, database_url, target)


async def downgrade_async(database_url: str, target: str) -> None:
    await asyncio.to_thread(downgrade, database_url, target)
