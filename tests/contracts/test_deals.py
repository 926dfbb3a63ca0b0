"""The deal lifecycle: every (state, event) pair either follows the table or is refused."""

from __future__ import annotations

import itertools

import pytest

from contracts.deals import FINAL_STATES, DealTransitionRefused, transition
from contracts.model import DealEvent, DealState

S, E = DealState, DealEvent

ALLOWED = {
    (S.AWAITING_CONSENT, E.CONSENTED): S.AWAITING_PAYMENT,
    (S.AWAITING_CONSENT, E.DECLINED): S.CANCELLED,
    (S.AWAITING_CONSENT, E.CONSENT_TIMED_OUT): S.CANCELLED,
    (S.AWAITING_PAYMENT, E.PAYMENT_RECEIVED): S.PAID,
    (S.AWAITING_PAYMENT, E.PAYMENT_TIMED_OUT): S.EXPIRED,
    (S.PAID, E.LICENCE_ISSUED): S.LICENSED,
    (S.PAID, E.REFUNDED): S.REFUNDED,
    (S.LICENSED, E.REFUNDED): S.REFUNDED,
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(DealState, DealEvent)))
def test_every_state_and_event_pair_follows_the_table_or_is_refused(
    state: DealState, event: DealEvent
) -> None:
    if (state, event) in ALLOWED:
        assert transition(state, event) is ALLOWED[(state, event)]
    else:
        with pytest.raises(DealTransitionRefused, match="cannot be"):
            transition(state, event)


def test_a_deal_is_paid_then_licensed_only_after_every_consent() -> None:
    state = S.AWAITING_CONSENT
    for event in (E.CONSENTED, E.PAYMENT_RECEIVED, E.LICENCE_ISSUED):
        state = transition(state, event)
    assert state is S.LICENSED


def test_paying_an_expired_or_cancelled_deal_is_refused_with_a_sentence() -> None:
    with pytest.raises(DealTransitionRefused, match="a deal that is expired cannot be paid"):
        transition(S.EXPIRED, E.PAYMENT_RECEIVED)
    with pytest.raises(DealTransitionRefused, match="a deal that is cancelled cannot be paid"):
        transition(S.CANCELLED, E.PAYMENT_RECEIVED)


def test_paying_twice_is_refused() -> None:
    with pytest.raises(DealTransitionRefused):
        transition(S.PAID, E.PAYMENT_RECEIVED)


def test_final_states_have_no_way_out() -> None:
    for state, event in itertools.product(FINAL_STATES, DealEvent):
        with pytest.raises(DealTransitionRefused):
            transition(state, event)


def test_a_refused_transition_is_a_value_error_so_the_api_answers_4xx() -> None:
    assert issubclass(DealTransitionRefused, ValueError)
