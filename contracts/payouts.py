"""How a deal's fee is split: the platform's fee, then each payee's share, by largest remainder.

Every split sums exactly to what is split. Remainders go to the largest fractional parts; ties go
to the larger weight, then to the smaller key, so the result never depends on the order of payees.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from contracts.model import FULL_SHARE_BPS, Payee, PayoutLine
from rights.terms import Money

K = TypeVar("K", bound=Hashable)


class PayoutError(ValueError):
    """Shares or fees that cannot be split; the message says what is wrong."""


def largest_remainder(total: int, weights: Sequence[tuple[K, int]]) -> dict[K, int]:
    """`total` split in proportion to `weights`, in whole units summing exactly to `total`.

    Each part is the floor of its exact share, plus one for the parts with the largest fractional
    remainders until the total is reached. Keys must be distinct and orderable among equals
    (UUIDs, strings, tuples of them).
    """
    keys = [k for k, _ in weights]
    return dict(zip(keys, _parts(total, keys, [w for _, w in weights]), strict=True))


def _parts(total: int, keys: Sequence[Any], weights: Sequence[int]) -> list[int]:
    """`largest_remainder` over parallel lists (no dictionary look-ups in the hot path)."""
    if total < 0:
        raise PayoutError(f"cannot split a negative amount ({total})")
    if any(w < 0 for w in weights):
        raise PayoutError("weights cannot be negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise PayoutError("cannot split by weights that sum to zero")
    if len(set(keys)) != len(keys):
        raise PayoutError("each key may appear once among the weights")
    parts = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    left = total - sum(parts)
    if left:
        order = sorted(range(len(parts)), key=lambda i: (-remainders[i], -weights[i], _sortable(keys[i])))
        for i in order[:left]:
            parts[i] += 1
    return parts


def _sortable(key: Any) -> Any:
    """A key for the final tie-break: the key itself where keys compare, its text otherwise."""
    return key if isinstance(key, str | int | tuple | UUID) else str(key)


# Stands in for "no organisation" where keys must compare (it sorts before every real id).
NO_ORGANISATION = UUID(int=0)


def payee_key(payee: Payee) -> tuple[UUID, str, str, UUID]:
    """What makes a payee distinct within a deal: its party, side and territory (and organisation)."""
    return (payee.party_id, payee.side, payee.territory, payee.organisation_id or NO_ORGANISATION)


class PayeeSplit(msgspec.Struct, frozen=True, kw_only=True):
    """One payee's part of a fee: `gross` of the whole price, `net` of what is left after the platform's fee."""

    payee: Payee
    gross: int
    net: int


def split_fee(price: Money, payees: Sequence[Payee], platform_fee_bps: int) -> tuple[int, list[PayeeSplit]]:
    """The platform's fee and each payee's gross and net part, in the payees' order.

    The fee is `platform_fee_bps` of the price, rounded half up. Gross parts split the whole price
    and net parts what remains after the fee, each by the payees' basis points and largest
    remainder, so the gross parts sum to the price and the net parts to the price less the fee.
    """
    if not 0 <= platform_fee_bps <= FULL_SHARE_BPS:
        raise PayoutError(
            f"the platform fee must be between 0 and 10,000 basis points, got {platform_fee_bps}"
        )
    if price.amount <= 0:
        raise PayoutError("only a positive price can be paid out")
    if not payees or sum(p.share_bps for p in payees) != FULL_SHARE_BPS:
        raise PayoutError("a deal's payees must share exactly 10,000 basis points of the fee")
    fee = price.scaled_bp(platform_fee_bps).amount
    keys, weights = [payee_key(p) for p in payees], [p.share_bps for p in payees]
    gross, net = _parts(price.amount, keys, weights), _parts(price.amount - fee, keys, weights)
    return fee, [PayeeSplit(payee=p, gross=g, net=n) for p, g, n in zip(payees, gross, net, strict=True)]


def payout_lines(price: Money, payees: Sequence[Payee], platform_fee_bps: int) -> list[PayoutLine]:
    """The platform's fee first, then one line per payee party (with its organisation), summing to `price`.

    Payees of one party (several territories or sides) are added up into one line.
    """
    fee, splits = split_fee(price, payees, platform_fee_bps)
    owed: dict[tuple[UUID, UUID], int] = {}
    for split in splits:
        line_key = (split.payee.organisation_id or NO_ORGANISATION, split.payee.party_id)
        owed[line_key] = owed.get(line_key, 0) + split.net
    lines = [PayoutLine(organisation_id=None, party_id=None, amount=fee)]
    for (organisation, party), amount in sorted(owed.items()):
        lines.append(
            PayoutLine(organisation_id=None if organisation == NO_ORGANISATION else organisation, party_id=party,
                       amount=amount)
        )  # fmt: skip
    return lines
