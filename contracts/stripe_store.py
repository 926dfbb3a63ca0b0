"""The SQL for card payments, Stripe side effects, received webhook events and connected accounts."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from contracts.stripe_model import (
    CardPayment,
    CardPaymentStatus,
    SideEffect,
    SideEffectKind,
    SideEffectState,
    StripeAccount,
)
from rights.terms import Money

_PAYMENT = """deal_id, idempotency_key, payment_intent_id, client_secret, amount, currency, status, charge_id,
              last_error, paid_at, payouts_due_at, payouts_settled"""
_EFFECT = "idempotency_key, deal_id, kind, organisation_id, amount, currency, stripe_id, state, failure"
_ACCOUNT = "organisation_id, account_id, charges_enabled, payouts_enabled, details_submitted"


def _payment(row: asyncpg.Record) -> CardPayment:
    return CardPayment(
        deal_id=row["deal_id"], idempotency_key=row["idempotency_key"], payment_intent_id=row["payment_intent_id"],
        client_secret=row["client_secret"], amount=Money(row["amount"], row["currency"]),
        status=CardPaymentStatus(row["status"]), charge_id=row["charge_id"], last_error=row["last_error"],
        paid_at=row["paid_at"], payouts_due_at=row["payouts_due_at"], payouts_settled=row["payouts_settled"],
    )  # fmt: skip


def _effect(row: asyncpg.Record) -> SideEffect:
    return SideEffect(
        idempotency_key=row["idempotency_key"], deal_id=row["deal_id"], kind=SideEffectKind(row["kind"]),
        organisation_id=row["organisation_id"], amount=Money(row["amount"], row["currency"]),
        stripe_id=row["stripe_id"], state=SideEffectState(row["state"]), failure=row["failure"],
    )  # fmt: skip


def _account(row: asyncpg.Record) -> StripeAccount:
    return StripeAccount(
        organisation_id=row["organisation_id"], account_id=row["account_id"],
        charges_enabled=row["charges_enabled"], payouts_enabled=row["payouts_enabled"],
        details_submitted=row["details_submitted"],
    )  # fmt: skip


# ---- card payments -----------------------------------------------------------------------------


async def claim_card_payment(
    conn: asyncpg.Connection, deal_id: UUID, idempotency_key: str, amount: Money, now: datetime
) -> CardPayment:
    """The deal's card payment, its idempotency key stored now if this is the first attempt."""
    await conn.execute(
        """INSERT INTO card_payments (deal_id, idempotency_key, amount, currency, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (deal_id) DO NOTHING""",
        deal_id, idempotency_key, amount.amount, amount.currency, now,
    )  # fmt: skip
    found = await card_payment(conn, deal_id, for_update=True)
    assert found is not None
    return found


async def card_payment(
    conn: asyncpg.Connection, deal_id: UUID, *, for_update: bool = False
) -> CardPayment | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_PAYMENT} FROM card_payments WHERE deal_id = $1{lock}", deal_id)
    return None if row is None else _payment(row)


async def card_payment_by_intent(conn: asyncpg.Connection, intent_id: str) -> CardPayment | None:
    row = await conn.fetchrow(
        f"SELECT {_PAYMENT} FROM card_payments WHERE payment_intent_id = $1 FOR UPDATE", intent_id
    )
    return None if row is None else _payment(row)


async def link_intent(
    conn: asyncpg.Connection, deal_id: UUID, intent_id: str, client_secret: str | None, now: datetime
) -> None:
    """Remember the PaymentIntent Stripe made under the deal's key (the same one on every retry)."""
    await conn.execute(
        """UPDATE card_payments
              SET payment_intent_id = $2, client_secret = $3, updated_at = $4,
                  status = CASE WHEN status = 'requested' THEN 'requires_payment_method' ELSE status END
            WHERE deal_id = $1 AND (payment_intent_id IS NULL OR payment_intent_id = $2)""",
        deal_id, intent_id, client_secret, now,
    )  # fmt: skip


async def note_payment_failure(conn: asyncpg.Connection, deal_id: UUID, error: str, now: datetime) -> None:
    """A declined card: kept for the buyer to read, never over a payment that has since succeeded."""
    await conn.execute(
        """UPDATE card_payments SET last_error = $2, updated_at = $3
            WHERE deal_id = $1 AND status IN ('requested', 'requires_payment_method')""",
        deal_id, error, now,
    )  # fmt: skip


async def mark_succeeded(
    conn: asyncpg.Connection, deal_id: UUID, charge_id: str, paid_at: datetime, payouts_due_at: datetime
) -> None:
    await conn.execute(
        """UPDATE card_payments
              SET status = 'succeeded', charge_id = $2, paid_at = $3, payouts_due_at = $4, last_error = NULL,
                  updated_at = $3
            WHERE deal_id = $1 AND status IN ('requested', 'requires_payment_method')""",
        deal_id, charge_id, paid_at, payouts_due_at,
    )  # fmt: skip


async def mark_refunded(conn: asyncpg.Connection, deal_id: UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE card_payments SET status = 'refunded', updated_at = $2 WHERE deal_id = $1 AND status = 'succeeded'",
        deal_id, now,
    )  # fmt: skip


async def mark_payouts_settled(conn: asyncpg.Connection, deal_id: UUID, now: datetime) -> None:
    await conn.execute(
        "UPDATE card_payments SET payouts_settled = true, updated_at = $2 WHERE deal_id = $1", deal_id, now
    )


async def payouts_due(conn: asyncpg.Connection, now: datetime, limit: int = 100) -> list[UUID]:
    """Paid deals whose hold window is over and whose payees are not all paid yet."""
    rows = await conn.fetch(
        """SELECT deal_id FROM card_payments
            WHERE status = 'succeeded' AND NOT payouts_settled AND payouts_due_at <= $1
            ORDER BY payouts_due_at LIMIT $2""",
        now, limit,
    )  # fmt: skip
    return [row["deal_id"] for row in rows]


async def unsettled_payments(conn: asyncpg.Connection, limit: int = 200) -> list[CardPayment]:
    rows = await conn.fetch(
        f"""SELECT {_PAYMENT} FROM card_payments WHERE status = 'succeeded' AND NOT payouts_settled
            ORDER BY paid_at LIMIT $1""",
        limit,
    )  # fmt: skip
    return [_payment(row) for row in rows]


async def latest_deal_event(conn: asyncpg.Connection, deal_id: UUID) -> tuple[int, str, datetime]:
    """The deal's newest numbered event (its number lets a client that missed one resynchronise)."""
    row = await conn.fetchrow(
        "SELECT seq, kind, at FROM deal_events WHERE deal_id = $1 ORDER BY seq DESC LIMIT 1", deal_id
    )
    assert row is not None, "a paid or refunded deal has events"
    return row["seq"], row["kind"], row["at"]


# ---- side effects ------------------------------------------------------------------------------


async def claim_side_effect(
    conn: asyncpg.Connection, *, idempotency_key: str, deal_id: UUID, kind: SideEffectKind,
    organisation_id: UUID | None, amount: Money, now: datetime,
) -> SideEffect:  # fmt: skip
    """The side effect under `idempotency_key`, stored now if it is new (a retry finds the first one)."""
    await conn.execute(
        f"""INSERT INTO stripe_side_effects ({_EFFECT}, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, NULL, 'requested', NULL, $7, $7)
            ON CONFLICT (idempotency_key) DO NOTHING""",
        idempotency_key, deal_id, kind.value, organisation_id, amount.amount, amount.currency, now,
    )  # fmt: skip
    row = await conn.fetchrow(
        f"SELECT {_EFFECT} FROM stripe_side_effects WHERE idempotency_key = $1 FOR UPDATE", idempotency_key
    )
    assert row is not None
    return _effect(row)


async def side_effect_done(
    conn: asyncpg.Connection, idempotency_key: str, stripe_id: str, now: datetime
) -> bool:
    """Record Stripe's id for the effect; False when it was already recorded (a repeat)."""
    status = await conn.execute(
        """UPDATE stripe_side_effects SET state = 'done', stripe_id = $2, failure = NULL, updated_at = $3
            WHERE idempotency_key = $1 AND state <> 'done'""",
        idempotency_key, stripe_id, now,
    )  # fmt: skip
    return str(status).endswith(" 1")


async def side_effect_failed(
    conn: asyncpg.Connection, idempotency_key: str, failure: str, now: datetime
) -> None:
    await conn.execute(
        """UPDATE stripe_side_effects SET state = 'failed', failure = $2, updated_at = $3
            WHERE idempotency_key = $1 AND state <> 'done'""",
        idempotency_key, failure, now,
    )  # fmt: skip


async def side_effects(conn: asyncpg.Connection, deal_id: UUID, kind: SideEffectKind) -> list[SideEffect]:
    rows = await conn.fetch(
        f"SELECT {_EFFECT} FROM stripe_side_effects WHERE deal_id = $1 AND kind = $2 ORDER BY created_at",
        deal_id, kind.value,
    )  # fmt: skip
    return [_effect(row) for row in rows]


# ---- webhook events ----------------------------------------------------------------------------


async def remember_event(
    conn: asyncpg.Connection, event_id: str, kind: str, deal_id: UUID | None, now: datetime
) -> bool:
    """Store a webhook event's id with the change it causes; False when it was seen before."""
    status = await conn.execute(
        """INSERT INTO stripe_events (event_id, kind, deal_id, received_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (event_id) DO NOTHING""",
        event_id, kind, deal_id, now,
    )  # fmt: skip
    return str(status).endswith(" 1")


# ---- connected accounts ------------------------------------------------------------------------


async def account_of(conn: asyncpg.Connection, organisation_id: UUID) -> StripeAccount | None:
    row = await conn.fetchrow(
        f"SELECT {_ACCOUNT} FROM stripe_accounts WHERE organisation_id = $1", organisation_id
    )
    return None if row is None else _account(row)


async def accounts_of(conn: asyncpg.Connection, organisation_ids: list[UUID]) -> dict[UUID, StripeAccount]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT} FROM stripe_accounts WHERE organisation_id = ANY($1::uuid[])", organisation_ids
    )
    return {row["organisation_id"]: _account(row) for row in rows}


async def organisation_of_account(conn: asyncpg.Connection, account_id: str) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT organisation_id FROM stripe_accounts WHERE account_id = $1", account_id
    )
    return found


async def save_account(conn: asyncpg.Connection, account: StripeAccount, now: datetime) -> StripeAccount:
    """Store the organisation's account (its first one stays: a racing second creation is not kept)."""
    row = await conn.fetchrow(
        f"""INSERT INTO stripe_accounts ({_ACCOUNT}, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (organisation_id) DO UPDATE
               SET charges_enabled = excluded.charges_enabled, payouts_enabled = excluded.payouts_enabled,
                   details_submitted = excluded.details_submitted, updated_at = excluded.updated_at
             WHERE stripe_accounts.account_id = excluded.account_id
            RETURNING {_ACCOUNT}""",
        account.organisation_id, account.account_id, account.charges_enabled, account.payouts_enabled,
        account.details_submitted, now,
    )  # fmt: skip
    if row is None:  # another account was stored first
        kept = await account_of(conn, account.organisation_id)
        assert kept is not None
        return kept
    return _account(row)
