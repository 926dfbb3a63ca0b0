"""Whether a round a rights holder opens keeps within its own licensing policy for the track."""

from __future__ import annotations

from uuid import UUID

from auction.model import ClockParams, Mechanism, NegotiationTerms, RoundParams
from rights.model import LicensingPolicy, TrackRights
from rights.model import Mechanism as PolicyMechanism
from rights.terms import Money, Usage

IN_POLICY_WORDS = {
    Mechanism.FIRST_PRICE: PolicyMechanism.SEALED_FIRST_PRICE,
    Mechanism.VICKREY: PolicyMechanism.VICKREY,
    Mechanism.CLOCK: PolicyMechanism.DESCENDING_CLOCK,
    Mechanism.NEGOTIATION: PolicyMechanism.NEGOTIATION,
}


class OutsidePolicy(ValueError):
    """The round's mechanism or prices are not what the rights holder's policy allows (400)."""


def policy_of(rights: TrackRights, seller: UUID) -> LicensingPolicy | None:
    """The seller's policy for this track, else its catalogue-wide one, else None (no limits set)."""
    own = [
        policy
        for policy in rights.policies
        if (party := rights.parties.get(policy.party_id)) is not None and party.organisation_id == seller
    ]
    own.sort(key=lambda policy: policy.track_id is None)
    return own[0] if own else None


def check_within_policy(params: RoundParams, usage: Usage, policy: LicensingPolicy) -> None:
    """Raise `OutsidePolicy` naming the first term of the round that the policy does not allow."""
    allowed = policy.mechanisms.get(usage.media, ())
    if IN_POLICY_WORDS[params.mechanism] not in allowed:
        offered = ", ".join(mechanism.value.replace("_", " ") for mechanism in allowed) or "nothing"
        raise OutsidePolicy(
            f"your licensing policy offers {offered} for {usage.media.value.replace('_', ' ')}, "
            f"not {params.mechanism.value.replace('_', ' ')}"
        )
    currency = policy.currency()
    if currency is not None and params.currency != currency:
        raise OutsidePolicy(f"your licensing policy prices in {currency}, not {params.currency}")
    lowest, highest = _price_range(params)
    if policy.floor is not None and lowest < policy.floor:
        raise OutsidePolicy(f"{lowest.display()} is under your policy's floor of {policy.floor.display()}")
    if policy.ceiling is not None and highest is not None and highest > policy.ceiling:
        raise OutsidePolicy(
            f"{highest.display()} is over your policy's ceiling of {policy.ceiling.display()}"
        )
    if (
        isinstance(params, NegotiationTerms)
        and params.response_seconds > policy.negotiation_window_hours * 3600
    ):
        raise OutsidePolicy(
            f"your policy gives buyers at most {policy.negotiation_window_hours} hours to answer an offer"
        )


def _price_range(params: RoundParams) -> tuple[Money, Money | None]:
    """The lowest price the round could sell at, and the highest it asks (None: open-ended)."""
    if isinstance(params, ClockParams):
        return params.floor, params.start
    if isinstance(params, NegotiationTerms):
        return params.floor, params.ceiling
    return params.reserve, None
