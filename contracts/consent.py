"""Which co-owners consent to a deal by their own policy, and which must be asked.

Pure. The seller agreed the deal (it ran the round, accepted the negotiation or listed the price),
so its own parties consent by agreement. Any other controller consents by policy when its policy
for the track already covers the deal: automated licensing for the medium, the mechanism that
priced the deal, and the price its side receives within its floor and ceiling, in its currency.
Anyone else is asked, with the reason its policy does not cover the deal.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import msgspec

from contracts.model import ConsentStatus, Payee
from rights.clearance import policy_for
from rights.model import LicensingPolicy, Mechanism, TrackRights
from rights.terms import Money, Usage


class ConsentNeed(msgspec.Struct, frozen=True, kw_only=True):
    """One controller's consent: given by policy (or agreement) or to be requested, and why."""

    party_id: UUID
    party_name: str
    organisation_id: UUID | None
    status: ConsentStatus
    reason: str


def consents_needed(
    payees: Iterable[Payee],
    rights: TrackRights,
    *,
    seller: UUID,
    usage: Usage,
    mechanism: Mechanism,
    price: Money,
) -> list[ConsentNeed]:
    """One answer per paid party, in a stable order (by name, then id)."""
    side_bps: dict[str, int] = {}
    sides_of: dict[UUID, set[str]] = {}
    first: dict[UUID, Payee] = {}
    for payee in payees:
        first.setdefault(payee.party_id, payee)
        sides_of.setdefault(payee.party_id, set()).add(payee.side)
        side_bps[payee.side] = side_bps.get(payee.side, 0) + payee.share_bps
    needs = []
    for party_id, payee in sorted(first.items(), key=lambda item: (item[1].party_name, str(item[0]))):
        if payee.organisation_id == seller:
            status, reason = ConsentStatus.BY_POLICY, "the seller agreed these terms"
        else:
            policy = policy_for(party_id, rights.track_id, rights.policies)
            side_prices = {side: price.scaled_bp(side_bps[side]) for side in sorted(sides_of[party_id])}
            refusal = _not_covered(policy, usage, mechanism, price.currency, side_prices)
            status = ConsentStatus.REQUESTED if refusal else ConsentStatus.BY_POLICY
            reason = refusal or "its licensing policy covers this deal"
        needs.append(
            ConsentNeed(party_id=party_id, party_name=payee.party_name, organisation_id=payee.organisation_id,
                        status=status, reason=reason)
        )  # fmt: skip
    return needs


def _not_covered(
    policy: LicensingPolicy | None,
    usage: Usage,
    mechanism: Mechanism,
    currency: str,
    side_prices: dict[str, Money],
) -> str | None:
    """Why the policy does not cover the deal, or None when it does."""
    media = usage.media.value.replace("_", " ")
    if policy is None:
        return "it has set no licensing policy for this track"
    if usage.media not in policy.automated_media:
        return f"its policy does not license {media} automatically"
    if mechanism not in policy.mechanisms.get(usage.media, ()):
        return f"its policy does not offer {mechanism.value.replace('_', ' ')} for {media}"
    policy_currency = policy.currency()
    if policy_currency is not None and policy_currency != currency:
        return f"its policy prices in {policy_currency}, not {currency}"
    # Policy prices are for a whole licence of one side: compare the part of the fee that side gets.
    for side, side_price in side_prices.items():
        if policy.floor is not None and side_price < policy.floor:
            return f"the {side} fee of {side_price.display()} is under its floor of {policy.floor.display()}"
        if policy.ceiling is not None and side_price > policy.ceiling:
            return (
                f"the {side} fee of {side_price.display()} is over its ceiling of {policy.ceiling.display()}"
            )
    return None
