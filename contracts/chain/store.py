"""The SQL of on-chain settlement: deployments, payout addresses, demo wallets, sightings and the cursor."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from contracts.chain.model import Deployment, SettledLog, Sighting, SightingStatus

_DEPLOYMENT = (
    "chain_id, currency, settlement_address, token_address, platform_address, deployed_block, deployed_at"
)
_SIGHTING = (
    "tx_hash, log_index, block_number, block_hash, settlement_address, deal_ref, terms_hash, buyer_address, "
    "amount, deal_id, status, reason, seen_at, decided_at"
)


def _deployment(row: asyncpg.Record) -> Deployment:
    return Deployment(**dict(row))


def _sighting(row: asyncpg.Record) -> Sighting:
    return Sighting(
        log=SettledLog(
            tx_hash=row["tx_hash"], log_index=row["log_index"], block_number=row["block_number"],
            block_hash=row["block_hash"], settlement_address=row["settlement_address"], deal_ref=row["deal_ref"],
            terms_hash=row["terms_hash"], buyer=row["buyer_address"], amount=int(row["amount"]),
        ),
        deal_id=row["deal_id"], status=SightingStatus(row["status"]), reason=row["reason"],
        seen_at=row["seen_at"], decided_at=row["decided_at"],
    )  # fmt: skip


async def deployments(conn: asyncpg.Connection, chain_id: int) -> list[Deployment]:
    rows = await conn.fetch(
        f"SELECT {_DEPLOYMENT} FROM chain_deployments WHERE chain_id = $1 ORDER BY currency", chain_id
    )
    return [_deployment(row) for row in rows]


async def replace_deployment(conn: asyncpg.Connection, deployment: Deployment) -> None:
    """Record a deployment; a redeployment (the node's state was lost) replaces the old addresses."""
    await conn.execute(
        f"""INSERT INTO chain_deployments ({_DEPLOYMENT}) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (chain_id, currency) DO UPDATE SET settlement_address = EXCLUDED.settlement_address,
                token_address = EXCLUDED.token_address, platform_address = EXCLUDED.platform_address,
                deployed_block = EXCLUDED.deployed_block, deployed_at = EXCLUDED.deployed_at""",
        deployment.chain_id, deployment.currency, deployment.settlement_address, deployment.token_address,
        deployment.platform_address, deployment.deployed_block, deployment.deployed_at,
    )  # fmt: skip


async def payout_addresses(conn: asyncpg.Connection, organisation_ids: list[UUID]) -> dict[UUID, str]:
    rows = await conn.fetch(
        "SELECT organisation_id, address FROM organisation_chain_addresses WHERE organisation_id = ANY($1)",
        organisation_ids,
    )
    return {row["organisation_id"]: row["address"] for row in rows}


async def set_payout_address(
    conn: asyncpg.Connection, organisation_id: UUID, address: str, now: datetime
) -> None:
    await conn.execute(
        """INSERT INTO organisation_chain_addresses (organisation_id, address, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (organisation_id) DO UPDATE SET address = EXCLUDED.address, updated_at = EXCLUDED.updated_at""",
        organisation_id, address, now,
    )  # fmt: skip


async def demo_wallet_index(conn: asyncpg.Connection, organisation_id: UUID) -> int | None:
    found: int | None = await conn.fetchval(
        "SELECT account_index FROM demo_chain_wallets WHERE organisation_id = $1", organisation_id
    )
    return found


async def set_demo_wallet(conn: asyncpg.Connection, organisation_id: UUID, account_index: int) -> None:
    await conn.execute(
        """INSERT INTO demo_chain_wallets (organisation_id, account_index) VALUES ($1, $2)
           ON CONFLICT (organisation_id) DO NOTHING""",
        organisation_id, account_index,
    )  # fmt: skip


async def applied_to(conn: asyncpg.Connection, chain_id: int) -> int | None:
    found: int | None = await conn.fetchval(
        "SELECT applied_to FROM chain_cursors WHERE chain_id = $1", chain_id
    )
    return found


async def cursor(
    conn: asyncpg.Connection, chain_id: int, *, lock: bool = False
) -> tuple[int, str | None] | None:
    """The last block whose logs are all decided, and its hash then."""
    row = await conn.fetchrow(
        f"SELECT applied_to, block_hash FROM chain_cursors WHERE chain_id = $1{' FOR UPDATE' if lock else ''}",
        chain_id,
    )
    return None if row is None else (row["applied_to"], row["block_hash"])


async def start_cursor(
    conn: asyncpg.Connection, chain_id: int, applied_to: int, now: datetime, *, restart: bool
) -> None:
    """Follow from `applied_to + 1`: a new cursor, or (`restart`) an existing one moved there."""
    await conn.execute(
        f"""INSERT INTO chain_cursors (chain_id, applied_to, updated_at) VALUES ($1, $2, $3)
            ON CONFLICT (chain_id) DO {'UPDATE SET applied_to = EXCLUDED.applied_to, block_hash = NULL, updated_at = EXCLUDED.updated_at' if restart else 'NOTHING'}""",
        chain_id, applied_to, now,
    )  # fmt: skip


async def move_cursor(
    conn: asyncpg.Connection, chain_id: int, applied_to: int, block_hash: str | None, now: datetime
) -> None:
    await conn.execute(
        "UPDATE chain_cursors SET applied_to = $2, block_hash = $3, updated_at = $4 WHERE chain_id = $1",
        chain_id, applied_to, block_hash, now,
    )  # fmt: skip


async def open_sightings(conn: asyncpg.Connection, chain_id: int) -> list[Sighting]:
    """Logs seen but not yet decided, the ones a re-organisation may still take away."""
    rows = await conn.fetch(
        f"SELECT {_SIGHTING} FROM chain_settlements WHERE chain_id = $1 AND status = 'seen'", chain_id
    )
    return [_sighting(row) for row in rows]


async def sighting(
    conn: asyncpg.Connection, tx_hash: str, log_index: int, *, lock: bool = False
) -> Sighting | None:
    row = await conn.fetchrow(
        f"SELECT {_SIGHTING} FROM chain_settlements WHERE tx_hash = $1 AND log_index = $2{' FOR UPDATE' if lock else ''}",
        tx_hash, log_index,
    )  # fmt: skip
    return None if row is None else _sighting(row)


async def save_sighting(
    conn: asyncpg.Connection,
    chain_id: int,
    log: SettledLog,
    *,
    deal_id: UUID | None,
    status: SightingStatus,
    reason: str | None,
    now: datetime,
) -> None:
    """Insert or update one log's record; its block (hash) is the one it is in now."""
    decided_at = now if status in {SightingStatus.PAID, SightingStatus.FLAGGED} else None
    await conn.execute(
        f"""INSERT INTO chain_settlements (chain_id, {_SIGHTING})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            ON CONFLICT (tx_hash, log_index) DO UPDATE SET block_number = EXCLUDED.block_number,
                block_hash = EXCLUDED.block_hash, status = EXCLUDED.status, reason = EXCLUDED.reason,
                decided_at = EXCLUDED.decided_at""",
        chain_id, log.tx_hash, log.log_index, log.block_number, log.block_hash, log.settlement_address,
        log.deal_ref, log.terms_hash, log.buyer, log.amount, deal_id, status.value, reason, now, decided_at,
    )  # fmt: skip


async def drop_sighting(conn: asyncpg.Connection, log: SettledLog) -> None:
    await conn.execute(
        """UPDATE chain_settlements SET status = 'dropped'
           WHERE tx_hash = $1 AND log_index = $2 AND block_hash = $3 AND status = 'seen'""",
        log.tx_hash, log.log_index, log.block_hash,
    )  # fmt: skip


async def flagged(conn: asyncpg.Connection, chain_id: int, limit: int = 50) -> list[Sighting]:
    rows = await conn.fetch(
        f"""SELECT {_SIGHTING} FROM chain_settlements WHERE chain_id = $1 AND status = 'flagged'
            ORDER BY seen_at DESC LIMIT $2""",
        chain_id, limit,
    )  # fmt: skip
    return [_sighting(row) for row in rows]


async def deal_sightings(conn: asyncpg.Connection, deal_id: UUID) -> list[Sighting]:
    rows = await conn.fetch(
        f"SELECT {_SIGHTING} FROM chain_settlements WHERE deal_id = $1 ORDER BY seen_at", deal_id
    )
    return [_sighting(row) for row in rows]


async def latest_deal_event(conn: asyncpg.Connection, deal_id: UUID) -> tuple[int, str, datetime]:
    """The deal's newest numbered event (seq, kind, at), to tell the parties after the commit."""
    row = await conn.fetchrow(
        "SELECT seq, kind, at FROM deal_events WHERE deal_id = $1 ORDER BY seq DESC LIMIT 1", deal_id
    )
    assert row is not None, "a paid deal has events"
    return row["seq"], row["kind"], row["at"]
