"""The deal's lifecycle: one pure transition function over (state, event) that refuses anything else."""

from __future__ import annotations

from contracts.model import DealEvent, DealState


class DealTransitionRefused(ValueError):
    """The event cannot happen to a deal in its current state; the message says why."""


S, E = DealState, DealEvent

TRANSITIONS: dict[tuple[DealState, DealEvent], DealState] = {
    (S.AWAITING_CONSENT, E.CONSENTED): S.AWAITING_PAYMENT,
    (S.AWAITING_CONSENT, E.DECLINED): S.CANCELLED,
    (S.AWAITING_CONSENT, E.CONSENT_TIMED_OUT): S.CANCELLED,
    (S.AWAITING_PAYMENT, E.PAYMENT_RECEIVED): S.PAID,
    (S.AWAITING_PAYMENT, E.PAYMENT_TIMED_OUT): S.EXPIRED,
    (S.PAID, E.LICENCE_ISSUED): S.LICENSED,
    (S.PAID, E.REFUNDED): S.REFUNDED,
    (S.LICENSED, E.REFUNDED): S.REFUNDED,
}

FINAL_STATES = frozenset({S.CANCELLED, S.EXPIRED, S.REFUNDED})


def transition(state: DealState, event: DealEvent) -> DealState:
    """The state a deal in `state` moves to when `event` happens, or DealTransitionRefused."""
    following = TRANSITIONS.get((state, event))
    if following is None:
        words = state.value.replace("_", " ")
        raise DealTransitionRefused(f"a deal that is {words} cannot be {_past(event)}")
    return following


def _past(event: DealEvent) -> str:
    return {
        E.CONSENTED: "consented to",
        E.DECLINED: "declined",
        E.CONSENT_TIMED_OUT: "timed out waiting for consent",
        E.PAYMENT_RECEIVED: "paid",
        E.PAYMENT_TIMED_OUT: "expired for want of payment",
        E.LICENCE_ISSUED: "licensed",
        E.REFUNDED: "refunded",
    }[event]
