"""Demo rounds: a Vickrey round, a descending clock and a negotiation on the label's first clearable tracks.

Safe to run again: a track that already has an open round is left alone, and with no demo tracks
yet there is nothing to do. The worker schedules each round's deadline when it starts.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import UUID

import asyncpg

from auction import service
from auction.live import NewRound
from auction.model import (
    ClockParams,
    NegotiationTerms,
    RoundParams,
    SoftClose,
    SplitTheDifference,
    VickreyParams,
)
from rights import service as rights
from rights.terms import Media, Money, Usage

DAY = 24 * 3600


def _eur(amount: int) -> Money:
    return Money(amount, "EUR")


DEMO_ROUNDS: list[tuple[RoundParams, int]] = [
    (
        VickreyParams(
            reserve=_eur(60_000),
            soft_close=SoftClose(window_seconds=120, extension_seconds=120, max_extensions=10),
        ),
        3 * DAY,
    ),
    (ClockParams(start=_eur(400_000), floor=_eur(100_000), step=_eur(10_000), step_seconds=1_800), 2 * DAY),
    (
        NegotiationTerms(
            floor=_eur(80_000),
            ceiling=_eur(300_000),
            auto_accept_at=_eur(250_000),
            max_rounds=6,
            response_seconds=DAY,
            counter=SplitTheDifference(),
        ),
        5 * DAY,
    ),
]
# North America: worldwide, the demo's European sub-publishers have set no policy, so nothing clears there.
USAGE = Usage(media=Media.ONLINE_ADS, territories=("NORTH_AMERICA",), term_months=12, start=date(2027, 1, 1))


async def seed(conn: asyncpg.Connection, organisations: dict[str, UUID], data_dir: Path) -> None:
    """Rounds only on tracks whose clearance allows the demo usage (a round on any other is refused)."""
    tracks = await rights.list_tracks(conn, owner_organisation_id=organisations["label"], limit=1_000)
    clearable = await rights.clearable_track_ids(conn, USAGE, among=[track.id for track in tracks])
    tracks = [track for track in tracks if track.id in clearable]
    for track, (params, seconds) in zip(tracks, DEMO_ROUNDS, strict=False):
        if not await service.has_open_round(conn, track.id):
            request = NewRound(track_id=track.id, usage=USAGE, params=params, duration_seconds=seconds)
            await service.start_round(conn, request, created_by=None)
