"""Who a deal pays: every share the usage needs, master and publishing, per territory after administration.

Pure: it reads the ownership picture clearance computes (`rights.clearance.ownership`) for the
usage's countries and term and turns it into basis points of the whole fee. The fee is split
between the master and the publishing side by `master_share_bps` (a setting, 50/50 by default);
within a side each slice of countries weighs by its number of countries and days, and each
controller (the party that licenses the share after administration chains) by its share of it.
The parts are rounded by largest remainder, so the payees of a deal always sum to 10,000.
"""

from __future__ import annotations

import math
from uuid import UUID

from contracts.model import FULL_SHARE_BPS, Payee, Side
from contracts.payouts import largest_remainder
from rights.clearance import ownership
from rights.model import Period, Right, TrackRights
from rights.terms import Usage
from rights.territories import resolve


def payees_for(
    rights: TrackRights, usage: Usage, *, master_share_bps: int, seller: UUID, seller_name: str
) -> tuple[Payee, ...]:
    """The payees of a deal for `usage`, summing to 10,000 basis points of the fee.

    A side with no recorded owner is paid to the seller, who licensed it: the deal was struck on the
    seller's word, and the seller answers to anyone who comes forward. Within a side, known holders
    share it in proportion to their shares (a gap in the splits does not leave part of a fee unpaid).
    """
    if not 0 <= master_share_bps <= FULL_SHARE_BPS:
        raise ValueError(
            f"the master's share must be between 0 and 10,000 basis points, got {master_share_bps}"
        )
    countries = resolve(usage.territories)
    term = Period.for_term(usage.start, usage.term_months)
    picture = ownership(rights, countries, term)
    side_bps = {Right.MASTER: master_share_bps, Right.PUBLISHING: FULL_SHARE_BPS - master_share_bps}
    sides: dict[Right, dict[tuple[str, str, str], int]] = {}
    names: dict[str, tuple[UUID, str, UUID | None]] = {}
    for right in Right:
        if side_bps[right] == 0:
            continue
        side: dict[tuple[str, str, str], int] = {}
        for piece in picture.slices:
            if piece.right is not right:
                continue
            days = _days(piece.period, term)
            for holding in piece.holdings:
                key = (str(holding.controller_id), right.value, piece.territory)
                side[key] = side.get(key, 0) + holding.share_bp * len(piece.countries) * days
                controller = rights.parties.get(holding.controller_id)
                names[key[0]] = (
                    holding.controller_id, holding.controller_name,
                    controller.organisation_id if controller else None,
                )  # fmt: skip
        if not side:
            side[(str(seller), right.value, "worldwide")] = 1
            names[str(seller)] = (seller, seller_name, seller)
        sides[right] = side
    # Each side's weights sum differently: bring them to one denominator so each side gets its cut.
    common = math.lcm(*(sum(side.values()) for side in sides.values()))
    weights = {
        key: weight * side_bps[right] * (common // sum(side.values()))
        for right, side in sides.items()
        for key, weight in side.items()
    }
    shares = largest_remainder(FULL_SHARE_BPS, sorted(weights.items()))
    payees = []
    for (party, side_name, territory), share in sorted(shares.items()):
        if share == 0:
            continue
        party_id, party_name, organisation_id = names[party]
        payees.append(
            Payee(organisation_id=organisation_id, party_id=party_id, party_name=party_name,
                  side=Side(side_name).value, territory=territory, share_bps=share)
        )  # fmt: skip
    return tuple(payees)


def _days(piece: Period, term: Period) -> int:
    """Days of the licence term the slice covers (the term always has an end)."""
    assert term.end is not None
    end = term.end if piece.end is None else min(piece.end, term.end)
    return (end - max(piece.start, term.start)).days + 1
