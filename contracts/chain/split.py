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
    """Basis points per address, summing to exactly 10,000, so the contract credits what each is owed.

    `owed` may name an address more than once (its amounts are added); `first` (the platform) leads
    the list and takes the contract's remainder. Every other address gets the most basis points whose
    floored credit does not exceed what it is owed: its credit is exactly what it is owed whenever
    whole basis points can express it (always for amounts up to 10,000 units) and otherwise short by
    less than amount / 10,000 units, which the first address holds. Should those shares leave the
    first address too little, shares in proportion to what is owed are used instead.
    """
    totals: dict[str, int] = {}
    for address, amount in owed:
        if amount < 0:
            raise SplitError(f"{address} is owed a negative amount")
        totals[address.lower()] = totals.get(address.lower(), 0) + amount
    whole = sum(totals.values())
    if whole <= 0:
        raise SplitError("nothing is owed to anyone")
    lead = first.lower()
    others = sorted(address for address in totals if address != lead and totals[address] > 0)
    bps = {address: (WHOLE_BPS * (totals[address] + 1) - 1) // whole for address in others}
    if sum(bps.values()) > WHOLE_BPS:
        bps = _proportional(totals, whole)
    return [
        (lead, WHOLE_BPS - sum(bps.get(a, 0) for a in others)),
        *((a, bps[a]) for a in others if bps.get(a, 0) > 0),
    ]


def _proportional(totals: dict[str, int], whole: int) -> dict[str, int]:
    """Largest remainder over 10,000 basis points; ties to the larger amount, then the lower address."""
    bps = {address: amount * WHOLE_BPS // whole for address, amount in totals.items()}
    left = WHOLE_BPS - sum(bps.values())
    for address in sorted(totals, key=lambda a: (-(totals[a] * WHOLE_BPS % whole), -totals[a], a))[:left]:
        bps[address] += 1
    return bps


def credits(amount: int, shares_bps: Sequence[int]) -> list[int]:
    """What Settlement.settle credits each payee: the floor of its share, the remainder to the first."""
    if amount <= 0 or not shares_bps or sum(shares_bps) != WHOLE_BPS:
        raise SplitError("a positive amount and shares summing to 10,000 basis points are needed")
    floors = [amount * bps // WHOLE_BPS for bps in shares_bps]
    floors[0] += amount - sum(floors)
    return floors
