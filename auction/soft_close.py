"""Anti-sniping: whether an accepted bid pushes a round's deadline back, and to when."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from auction.model import Round, SoftClose


def extended(round: Round, soft_close: SoftClose | None, now: datetime) -> Round:
    """The round after a bid accepted at `now`: its deadline moved by the extension when the bid
    came within the closing window and extensions remain, otherwise unchanged.

    Only accepted bids call this, so a refused bid never extends a round.
    """
    if soft_close is None or round.extensions >= soft_close.max_extensions:
        return round
    if round.deadline - now > timedelta(seconds=soft_close.window_seconds):
        return round
    return msgspec.structs.replace(
        round,
        deadline=round.deadline + timedelta(seconds=soft_close.extension_seconds),
        deadline_version=round.deadline_version + 1,
        extensions=round.extensions + 1,
    )
