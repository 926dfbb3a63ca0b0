"""What the listener does with the Settled logs it fetched: decide the confirmed, note the rest, drop the vanished.

Pure: the caller fetches the head and the logs from the node, and the recorded sightings from PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from contracts.chain.model import SettledLog

MAX_BLOCKS_PER_STEP = 2_000  # bounds one eth_getLogs request; a long outage is caught up in steps
REWIND_BLOCKS = 64  # how far back to read again after a re-organisation deeper than the confirmations


class FollowStep(msgspec.Struct, frozen=True, kw_only=True):
    """The blocks one step reads: logs from `from_block` to `to_block` inclusive (none when to < from)."""

    @property
    def empty(self) -> bool:
        return self.to_block < self.from_block

    from_block: int
    to_block: int


class FollowPlan(msgspec.Struct, frozen=True, kw_only=True):
    confirm: list[SettledLog]  # enough confirmations: pay the deal or flag it, once
    sight: list[SettledLog]  # seen, not yet confirmed
    drop: list[SettledLog]  # recorded as seen but no longer on the chain
    applied_to: int  # every log up to this block has now been decided


def next_step(applied_to: int, head: int) -> FollowStep:
    """The blocks to read after `applied_to`: none while the head has not moved past it (only drops follow)."""
    return FollowStep(from_block=applied_to + 1, to_block=min(head, applied_to + MAX_BLOCKS_PER_STEP))


def confirmed_to(applied_to: int, head: int, confirmations: int, step: FollowStep) -> int:
    """The block the cursor reaches after this step: the highest one read with enough confirmations."""
    if confirmations < 1:
        raise ValueError("confirmations must be at least 1")
    return max(applied_to, min(head - confirmations + 1, step.to_block))


def rewind(
    *, applied_to: int, head: int, hash_then: str | None, hash_now: str | None, floor: int
) -> int | None:
    """Where to read again from when the block under the cursor changed (None: it stands).

    The cursor's block vanished or changed hash only in a re-organisation deeper than the
    confirmations. Decided logs are keyed by transaction and log index, so reading blocks again
    decides nothing twice; it only finds logs re-mined into block numbers already passed.
    """
    if hash_then is None or (head >= applied_to and hash_now == hash_then):
        return None
    return max(floor, min(head, applied_to) - REWIND_BLOCKS)


def plan(
    *,
    applied_to: int,
    head: int,
    confirmations: int,
    step: FollowStep,
    logs: Sequence[SettledLog],
    seen: Sequence[SettledLog],
) -> FollowPlan:
    """Decide one step.

    A log in block b has head − b + 1 confirmations. Logs with enough are confirmed and the cursor
    moves to the highest confirmed block read; logs above it are sightings. A sighting recorded
    earlier (always above the cursor) that is not among the logs now read — same transaction, log
    index and block hash — vanished in a re-organisation and is dropped.
    """
    reached = confirmed_to(applied_to, head, confirmations, step)
    ordered = sorted(logs, key=lambda log: (log.block_number, log.log_index))
    present = {(log.tx_hash, log.log_index, log.block_hash) for log in ordered}
    drop = [
        old
        for old in seen
        if old.block_number <= step.to_block or head < old.block_number
        if (old.tx_hash, old.log_index, old.block_hash) not in present
    ]
    return FollowPlan(
        confirm=[log for log in ordered if log.block_number <= reached],
        sight=[log for log in ordered if log.block_number > reached],
        drop=drop,
        applied_to=reached,
    )
