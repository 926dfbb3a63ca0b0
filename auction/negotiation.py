"""Time-bound negotiation: offer → counter → … → accepted, rejected, withdrawn or expired.

The rights holder's range answers buyers by itself, and is never stated to them: an offer under the
floor is refused without saying where the floor is (the negotiation carries on; the service limits how
often), a buyer's offer at or above the ceiling is taken at the ceiling, one at or above the auto-accept
threshold is accepted, and otherwise the rights holder's counter strategy, if set, counters for it.
The strategy's first ask is the auto-accept threshold (the ceiling would give the ceiling away);
"split the difference" then asks halfway between its last ask and the offer, "concede" gives up a fixed
share of the gap between its last ask and the floor. When a strategy's counter would not exceed the
buyer's offer, the offer is accepted instead. Every price a negotiation concludes at therefore lies
within [floor, ceiling].

Each move must come from the party whose turn it is, before the standing offer's response
deadline, and at most `max_rounds` offers and counters are made in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from auction.model import (
    AmountNotPositive,
    BidderNotAllowed,
    ConcedeTowardFloor,
    Negotiation,
    NegotiationOver,
    NegotiationState,
    NegotiationTerms,
    NoCountersLeft,
    NotDueYet,
    NotOpenYet,
    NotYourTurn,
    Offer,
    OfferAboveCeiling,
    OfferBelowFloor,
    OfferLimits,
    Party,
    ResponseDeadlinePassed,
    Round,
    RoundClosed,
    RoundState,
    WrongCurrency,
    WrongMechanism,
    require_utc,
)
from rights.terms import Money

CONCLUDED = frozenset(
    {
        NegotiationState.ACCEPTED,
        NegotiationState.REJECTED,
        NegotiationState.WITHDRAWN,
        NegotiationState.EXPIRED,
    }
)
AWAITING = {
    Party.BUYER: NegotiationState.AWAITING_BUYER,
    Party.RIGHTS_HOLDER: NegotiationState.AWAITING_RIGHTS_HOLDER,
}
OTHER = {Party.BUYER: Party.RIGHTS_HOLDER, Party.RIGHTS_HOLDER: Party.BUYER}


def make_offer(round: Round, negotiation_id: UUID, buyer: UUID, amount: Money, now: datetime) -> Negotiation:
    """A buyer's opening offer on a negotiation round, already answered by the rights holder's range."""
    require_utc(now)
    if not isinstance(round.params, NegotiationTerms):
        raise WrongMechanism(f"round {round.id} is a {round.mechanism} round, not a negotiation")
    if round.state is RoundState.CLOSED or now >= round.deadline:
        raise RoundClosed(f"this round stopped taking offers at {round.deadline.isoformat()}")
    if now < round.opens_at:
        raise NotOpenYet(f"offers are taken from {round.opens_at.isoformat()}")
    if buyer == round.seller:
        raise BidderNotAllowed("a rights holder cannot make offers on its own round")
    _check_amount(round.params, Party.BUYER, amount)
    opening = Negotiation(
        id=negotiation_id,
        round_id=round.id,
        buyer=buyer,
        terms=round.params,
        state=NegotiationState.AWAITING_RIGHTS_HOLDER,
        offers=(),
        respond_by=None,
    )
    return _answer_buyer(opening, Offer(party=Party.BUYER, amount=amount, made_at=now), now)


def counter(negotiation: Negotiation, party: Party, amount: Money, now: datetime) -> Negotiation:
    """Answer the standing offer with another price."""
    _require_turn(negotiation, party, now)
    if len(negotiation.offers) >= negotiation.terms.max_rounds:
        raise NoCountersLeft(
            f"all {negotiation.terms.max_rounds} rounds are used: accept or reject the offer"
        )
    _check_amount(negotiation.terms, party, amount)
    offer = Offer(party=party, amount=amount, made_at=now)
    if party is Party.BUYER:
        return _answer_buyer(negotiation, offer, now)
    return _await(negotiation, offer, now)


def accept(negotiation: Negotiation, party: Party, now: datetime) -> Negotiation:
    """Take the standing offer: the negotiation concludes at its price."""
    _require_turn(negotiation, party, now)
    return _conclude(
        negotiation, NegotiationState.ACCEPTED, now, f"accepted by the {_named(party)}", accepted=True
    )


def reject(negotiation: Negotiation, party: Party, now: datetime) -> Negotiation:
    """Turn the standing offer down and end the negotiation."""
    _require_turn(negotiation, party, now)
    return _conclude(negotiation, NegotiationState.REJECTED, now, f"rejected by the {_named(party)}")


def withdraw(negotiation: Negotiation, party: Party, now: datetime) -> Negotiation:
    """Take back one's own standing offer before it is answered, ending the negotiation."""
    _require_standing_offer(negotiation, now)
    if negotiation.state is AWAITING[party]:
        raise NotYourTurn(f"no offer of yours is standing: answer the {_named(OTHER[party])}'s offer instead")
    return _conclude(negotiation, NegotiationState.WITHDRAWN, now, f"withdrawn by the {_named(party)}")


def expire(negotiation: Negotiation, now: datetime) -> Negotiation:
    """End a negotiation whose standing offer was not answered by its response deadline."""
    require_utc(now)
    if negotiation.state in CONCLUDED or negotiation.respond_by is None:
        raise NegotiationOver(f"the negotiation is already {negotiation.state}")
    if now < negotiation.respond_by:
        raise NotDueYet(f"the standing offer can be answered until {negotiation.respond_by.isoformat()}")
    waiting_for = Party.BUYER if negotiation.state is NegotiationState.AWAITING_BUYER else Party.RIGHTS_HOLDER
    return _conclude(
        negotiation, NegotiationState.EXPIRED, now, f"the {_named(waiting_for)} did not answer in time"
    )


def _check_amount(terms: NegotiationTerms, party: Party, amount: Money) -> None:
    if amount.amount <= 0:
        raise AmountNotPositive(f"an offer must be more than zero, got {amount.display()}")
    if amount.currency != terms.currency:
        raise WrongCurrency(f"this negotiation is in {terms.currency}, not {amount.currency}")
    if amount < terms.floor:
        # The buyer is not told the floor itself: it is the rights holder's private limit.
        shown = (
            "the rights holder's floor" if party is Party.BUYER else f"your floor of {terms.floor.display()}"
        )
        raise OfferBelowFloor(f"{amount.display()} is under {shown}")
    if amount > terms.ceiling and party is Party.RIGHTS_HOLDER:
        raise OfferAboveCeiling(f"{amount.display()} is over your ceiling of {terms.ceiling.display()}")


def _require_turn(negotiation: Negotiation, party: Party, now: datetime) -> None:
    _require_standing_offer(negotiation, now)
    if negotiation.state is not AWAITING[party]:
        raise NotYourTurn(f"the negotiation is waiting for the {_named(OTHER[party])}")


def _require_standing_offer(negotiation: Negotiation, now: datetime) -> None:
    require_utc(now)
    if negotiation.state in CONCLUDED or negotiation.respond_by is None:
        raise NegotiationOver(f"the negotiation is already {negotiation.state}")
    if now >= negotiation.respond_by:
        raise ResponseDeadlinePassed(f"the standing offer lapsed at {negotiation.respond_by.isoformat()}")


def _answer_buyer(negotiation: Negotiation, offer: Offer, now: datetime) -> Negotiation:
    """The rights holder's automatic answer to a buyer's offer, or the offer left standing for it."""
    terms = negotiation.terms
    if offer.amount > terms.ceiling:  # taken at the ceiling, which is at or above the auto-accept threshold
        offer = msgspec.structs.replace(offer, amount=terms.ceiling)
    with_offer = msgspec.structs.replace(negotiation, offers=(*negotiation.offers, offer))
    if offer.amount >= terms.auto_accept_at:
        return _conclude(with_offer, NegotiationState.ACCEPTED, now, "accepted automatically", accepted=True)
    if terms.counter is None or len(with_offer.offers) >= terms.max_rounds:
        return _await(negotiation, offer, now)
    ask = _automatic_ask(with_offer)
    if ask <= offer.amount:
        return _conclude(with_offer, NegotiationState.ACCEPTED, now, "accepted automatically", accepted=True)
    return _await(with_offer, Offer(party=Party.RIGHTS_HOLDER, amount=ask, made_at=now, automatic=True), now)


def _automatic_ask(negotiation: Negotiation) -> Money:
    terms = negotiation.terms
    offered = negotiation.offers[-1].amount
    asks = [offer.amount for offer in negotiation.offers if offer.party is Party.RIGHTS_HOLDER]
    last_ask = asks[-1] if asks else terms.auto_accept_at
    if isinstance(terms.counter, ConcedeTowardFloor):
        return last_ask - (last_ask - terms.floor).scaled_bp(terms.counter.percent_bp)
    return Money((last_ask.amount + offered.amount + 1) // 2, terms.currency)  # halfway, rounded up


def _await(negotiation: Negotiation, offer: Offer, now: datetime) -> Negotiation:
    """Put `offer` on the table for the other party to answer within the response time."""
    return msgspec.structs.replace(
        negotiation,
        offers=(*negotiation.offers, offer),
        state=AWAITING[OTHER[offer.party]],
        respond_by=now + timedelta(seconds=negotiation.terms.response_seconds),
    )


def _conclude(
    negotiation: Negotiation, state: NegotiationState, now: datetime, reason: str, accepted: bool = False
) -> Negotiation:
    return msgspec.structs.replace(
        negotiation,
        state=state,
        respond_by=None,
        price=negotiation.offers[-1].amount if accepted else None,
        concluded_at=now,
        reason=reason,
    )


def _named(party: Party) -> str:
    return party.value.replace("_", " ")


def below_floor_wait(refused_at: Sequence[datetime], now: datetime, limits: OfferLimits) -> float:
    """Seconds a buyer must wait before its next offer, given when its offers under the floor were refused
    (0: it may offer now). After `limits.below_floor_offers` refusals within the window, the next offer
    waits until the oldest of them leaves the window, so the floor cannot be searched for quickly."""
    require_utc(now)
    window = timedelta(seconds=limits.window_seconds)
    recent = sorted(moment for moment in refused_at if moment > now - window)
    if len(recent) < limits.below_floor_offers:
        return 0.0
    return max((recent[-limits.below_floor_offers] + window - now).total_seconds(), 0.0)
