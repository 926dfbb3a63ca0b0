"""How a deal's payout lines become the Settlement call's payees and shares, and what the contract credits."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

WHOLE_BPS = 10_000


class SplitError(ValueError):
    """Payees or shares the Settlement contract would refuse."""


def deal_ref(deal_id: UUID) -> bytes:
    """The bytes32 a deal is known by on-chain: its UUID as a 256-bit number."""
    return deal_id.int.to_bytes(32, "big")


def deal_id_from_ref(ref: bytes) -> UUID | None:
    """The deal a bytes32 names, or None when it cannot be one of ours."""
    number = int.from_bytes(ref, "big")
    return UUID(int=number) if len(ref) == 32 and number < 1 << 128 else None


def settlement_shares(owed: Sequence[tuple[str, int]], first: str) -> list[tuple[str, int]]:
    """Basis points per address in proportion to what each is owed, summing to exactly 10,000.

    `owed` may name an address more than once (its amounts are added). `first` leads the list: the
    contract gives the remainder of its floored split to the first payee. Largest remainder, ties to
    the larger amount, then the lower address, so the result does not depend on the input order.
    """
    totals: dict[str, int] = {}
    for address, amount in owed:
        if amount < 0:
            raise SplitError(f"{address} is owed a negative amount")
        totals[address.lower()] = totals.get(address.lower(), 0) + amount
    whole = sum(totals.values())
    if whole <= 0:
        raise SplitError("nothing is owed to anyone")
    totals.setdefault(first.lower(), 0)
    bps = {address: amount * WHOLE_BPS // whole for address, amount in totals.items()}
    left = WHOLE_BPS - sum(bps.values())
    by_remainder = sorted(totals, key=lambda a: (-(totals[a] * WHOLE_BPS % whole), -totals[a], a))
    for address in by_remainder[:left]:
        bps[address] += 1
    ordered = [first.lower(), *sorted(a for a in bps if a != first.lower())]
    return [(address, bps[address]) for address in ordered if bps[address] > 0 or address == first.lower()]


def credits(amount: int, shares_bps: Sequence[int]) -> list[int]:
    """What Settlement.settle credits each payee: the floor of its share, the remainder to the first."""
    if amount <= 0 or not shares_bps or sum(shares_bps) != WHOLE_BPS:
        raise SplitError("a positive amount and shares summing to 10,000 basis points are needed")
    floors = [amount * bps // WHOLE_BPS for bps in shares_bps]
    floors[0] += amount - sum(floors)
    return floors
