"""Deal use cases on PostgreSQL: payees snapshot, consent, deadlines, payment, ledger, refunds, transfers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import asyncpg
import msgspec
import pytest

from contracts import service, store
from contracts.model import ConsentStatus, DealState
from rights.identity import Principal, Role
from rights.store import open_store
from rights.terms import Money
from tests.contracts.world import NOW, USAGE, Recorded, borrowed, member, round_deal, world

EUR = "EUR"


async def test_a_round_deal_snapshots_its_payees_and_waits_for_payment_when_every_policy_covers_it(
    db: asyncpg.Connection,
) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    assert deal.state is DealState.AWAITING_PAYMENT
    assert deal.payment_due_at == NOW + timedelta(hours=72)
    shares = {(p.party_name, p.side): p.share_bps for p in deal.payees}
    assert shares == {
        ("Northern Lights Records", "master"): 5_000,
        ("Northern Lights Records", "publishing"): 2_500,
        ("Harbour Songs", "publishing"): 2_500,
    }
    consents = await store.consents_of(db, deal.id)
    assert {c.party_name: c.status for c in consents} == {
        "Northern Lights Records": ConsentStatus.BY_POLICY,
        "Harbour Songs": ConsentStatus.BY_POLICY,
    }


async def test_a_later_change_of_shares_does_not_alter_a_deals_payees(db: asyncpg.Connection) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    edges = (await open_store(db).track_rights(w.track_id)).control  # type: ignore[union-attr]
    publishing = next(e for e in edges if e.party_id == w.publisher_party.id)
    await open_store(db).remove_control(publishing.id)
    await open_store(db).add_control(msgspec.structs.replace(publishing, id=uuid4(), share_bp=1_000))
    assert (await service.get_deal(db, deal.id)).payees == deal.payees


async def test_the_same_round_makes_one_deal_however_often_its_close_runs(db: asyncpg.Connection) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    again = await service.create_deal(
        db, source=deal.source, source_id=deal.source_id, track_id=w.track_id, seller=deal.seller,
        buyer=deal.buyer, price=deal.price, usage=deal.usage, mechanism=service.Mechanism.VICKREY,
        agreed_at=NOW, actor=None,
    )  # fmt: skip
    assert again.id == deal.id


async def test_a_co_owner_without_a_covering_policy_is_asked_and_its_approval_opens_payment(
    db: asyncpg.Connection,
) -> None:
    w = await world(db, publisher_policy=False)
    deal = await round_deal(db, w)
    assert deal.state is DealState.AWAITING_CONSENT and deal.consent_due_at == NOW + timedelta(hours=48)
    asked = [c for c in await store.consents_of(db, deal.id) if c.status is ConsentStatus.REQUESTED]
    assert [(c.party_name, c.reason) for c in asked] == [
        ("Harbour Songs", "it has set no licensing policy for this track")
    ]
    recorded = Recorded()
    view = await service.answer_consent(
        borrowed(db), recorded.notifier(), w.publisher, deal.id, approve=True, now=NOW + timedelta(hours=1)
    )
    assert view.deal.state is DealState.AWAITING_PAYMENT
    assert view.deal.payment_due_at == NOW + timedelta(hours=73)
    assert {c.party_name: c.status for c in view.consents}["Harbour Songs"] is ConsentStatus.APPROVED
    channels = {channel for channel, _ in recorded.published}
    assert f"deals:{deal.id}" in channels
    assert f"organisations:{w.buyer.organisation_id}:deals" in channels
    assert f"organisations:{w.publisher.organisation_id}:deals" in channels


async def test_a_co_owners_decline_cancels_the_deal(db: asyncpg.Connection) -> None:
    w = await world(db, publisher_policy=False)
    deal = await round_deal(db, w)
    view = await service.answer_consent(
        borrowed(db), Recorded().notifier(), w.publisher, deal.id, approve=False, now=NOW
    )
    assert view.deal.state is DealState.CANCELLED
    with pytest.raises(service.DealConflict, match="cancelled"):
        await service.answer_consent(
            borrowed(db), Recorded().notifier(), w.publisher, deal.id, approve=True, now=NOW
        )


async def test_only_the_asked_co_owners_organisation_may_answer(db: asyncpg.Connection) -> None:
    w = await world(db, publisher_policy=False)
    deal = await round_deal(db, w)
    with pytest.raises(service.NotYourConsent):
        await service.answer_consent(
            borrowed(db), Recorded().notifier(), w.buyer, deal.id, approve=True, now=NOW
        )
    with pytest.raises(service.NotYourConsent):
        await service.answer_consent(
            borrowed(db), Recorded().notifier(), w.label, deal.id, approve=True, now=NOW
        )
    stranger = await member(db, "Someone Else", Role.RIGHTS_HOLDER)
    with pytest.raises(service.DealNotFound):
        await service.answer_consent(
            borrowed(db), Recorded().notifier(), stranger, deal.id, approve=True, now=NOW
        )


async def test_consent_not_given_before_the_deadline_cancels_the_deal(db: asyncpg.Connection) -> None:
    w = await world(db, publisher_policy=False)
    deal = await round_deal(db, w)
    recorded = Recorded()
    assert await service.sweep(borrowed(db), recorded.notifier(), NOW + timedelta(hours=47)) == 0
    assert await service.sweep(borrowed(db), recorded.notifier(), NOW + timedelta(hours=48)) >= 1
    assert (await service.get_deal(db, deal.id)).state is DealState.CANCELLED
    timed_out = {c.party_name: c.status for c in await store.consents_of(db, deal.id)}
    assert timed_out["Harbour Songs"] is ConsentStatus.TIMED_OUT


async def test_an_unpaid_deal_expires_after_its_payment_deadline_and_cannot_be_paid(
    db: asyncpg.Connection,
) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    assert await service.enforce_deadline(db, deal.id, NOW + timedelta(hours=71)) is None
    update = await service.enforce_deadline(db, deal.id, NOW + timedelta(hours=72))
    assert update is not None and update.deal.state is DealState.EXPIRED
    with pytest.raises(service.DealConflict, match="expired cannot be paid"):
        await service.record_payment(
            db, deal.id, method="card", reference="pi_late", amount=deal.price, now=NOW
        )


async def _ledger_totals(db: asyncpg.Connection, deal_id: object) -> dict[str, int]:
    rows = await db.fetch(
        """SELECT a.kind, -sum(e.amount) AS credited FROM ledger_entries e
             JOIN ledger_transactions t ON t.id = e.transaction_id JOIN ledger_accounts a ON a.id = e.account_id
            WHERE t.deal_id = $1 GROUP BY a.kind""",
        deal_id,
    )
    return {row["kind"]: row["credited"] for row in rows}


async def test_payment_licenses_the_deal_and_posts_a_balanced_ledger_to_the_cent(
    db: asyncpg.Connection,
) -> None:
    w = await world(db)
    deal = await round_deal(db, w, price=100_001)
    paid = await service.record_payment(
        db, deal.id, method="card", reference="pi_1", amount=Money(100_001, EUR), now=NOW
    )
    assert paid.state is DealState.LICENSED and paid.payment_reference == "pi_1"
    assert await _ledger_totals(db, deal.id) == {
        "receipts": -100_001,
        "platform_fees": 15_000,
        "payee": 85_001,
    }
    payable = await service.payable_payees(db, deal.id)
    assert sum(line.amount for line in payable) == 85_001
    by_org = {line.organisation_id: line.amount for line in payable}
    assert (
        by_org[w.publisher.organisation_id] == 21_250
    )  # a quarter of 850.01 EUR, the remainder went to the label
    assert (await service.verify_ledger(db)).balanced


async def test_paying_twice_with_one_reference_records_one_payment(db: asyncpg.Connection) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    first = await service.record_payment(
        db, deal.id, method="card", reference="pi_2", amount=deal.price, now=NOW
    )
    again = await service.record_payment(
        db, deal.id, method="card", reference="pi_2", amount=deal.price, now=NOW
    )
    assert again == first
    assert await _ledger_totals(db, deal.id) == {
        "receipts": -200_000,
        "platform_fees": 30_000,
        "payee": 170_000,
    }
    with pytest.raises(service.DealConflict, match="licensed cannot be paid"):
        await service.record_payment(
            db, deal.id, method="chain", reference="0xabc:0", amount=deal.price, now=NOW
        )


async def test_a_wrong_amount_or_currency_is_refused(db: asyncpg.Connection) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    with pytest.raises(service.DealConflict, match=r"costs 2,000\.00 EUR, not 1,999\.99 EUR"):
        await service.record_payment(
            db, deal.id, method="card", reference="pi_3", amount=Money(199_999, EUR), now=NOW
        )
    with pytest.raises(service.DealConflict):
        await service.record_payment(
            db, deal.id, method="card", reference="pi_3", amount=Money(200_000, "USD"), now=NOW
        )
    assert (await service.get_deal(db, deal.id)).state is DealState.AWAITING_PAYMENT


async def test_a_refund_reverses_the_ledger_and_revokes_the_licence(db: asyncpg.Connection) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    await service.record_payment(db, deal.id, method="card", reference="pi_4", amount=deal.price, now=NOW)
    refunded = await service.record_refund(db, deal.id, reference="re_4", now=NOW)
    assert refunded.state is DealState.REFUNDED
    assert await _ledger_totals(db, deal.id) == {"receipts": 0, "platform_fees": 0, "payee": 0}
    assert await service.payable_payees(db, deal.id) == []
    licence = await store.licence_of_deal(db, deal.id)
    assert licence is not None and licence.revoked_at is not None
    assert await service.record_refund(db, deal.id, reference="re_4", now=NOW) == refunded


async def test_a_transfer_pays_out_the_held_share_and_a_refund_needs_it_reversed_first(
    db: asyncpg.Connection,
) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    await service.record_payment(db, deal.id, method="card", reference="pi_5", amount=deal.price, now=NOW)
    publisher = w.publisher.organisation_id
    share = Money(42_500, EUR)
    await service.record_transfer(
        db, deal.id, organisation_id=publisher, amount=share, reference="tr_5", now=NOW
    )
    await service.record_transfer(
        db, deal.id, organisation_id=publisher, amount=share, reference="tr_5", now=NOW
    )
    assert publisher not in {line.organisation_id for line in await service.payable_payees(db, deal.id)}
    with pytest.raises(service.DealConflict, match=r"only 0\.00 EUR of this deal is held"):
        await service.record_transfer(
            db, deal.id, organisation_id=publisher, amount=share, reference="tr_6", now=NOW
        )
    with pytest.raises(service.DealConflict, match="reverse the transfers first"):
        await service.record_refund(db, deal.id, reference="re_5", now=NOW)
    await service.record_transfer(
        db, deal.id, organisation_id=publisher, amount=share, reference="trr_5", now=NOW, reversal=True
    )
    assert (await service.record_refund(db, deal.id, reference="re_5", now=NOW)).state is DealState.REFUNDED
    assert (await service.verify_ledger(db)).balanced


async def test_the_database_refuses_a_ledger_transaction_that_does_not_balance(pg_pool: asyncpg.Pool) -> None:
    async with pg_pool.acquire() as conn:
        w = await world(conn)
        deal = await round_deal(conn, w)
        receipts = await store.account(conn, "receipts", EUR)
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            async with conn.transaction():
                await store.post_transaction(
                    conn, "payment", deal.id, f"pi_unbalanced_{uuid4()}", EUR, NOW,
                    [store.Entry(account_id=receipts, amount=100, purpose="receipt")],
                )  # fmt: skip


async def test_the_database_refuses_a_payee_balance_below_zero(db: asyncpg.Connection) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    receipts = await store.account(db, "receipts", EUR)
    payee = await store.account(db, "payee", EUR, party_id=uuid4())
    with pytest.raises(asyncpg.CheckViolationError):
        await store.post_transaction(
            db, "transfer", deal.id, "tr_nothing_held", EUR, NOW,
            [store.Entry(account_id=payee, amount=100, purpose="transfer"),
             store.Entry(account_id=receipts, amount=-100, purpose="transfer")],
        )  # fmt: skip


async def test_ledger_entries_cannot_be_changed(db: asyncpg.Connection) -> None:
    w = await world(db)
    deal = await round_deal(db, w)
    await service.record_payment(db, deal.id, method="card", reference="pi_7", amount=deal.price, now=NOW)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("UPDATE ledger_entries SET amount = amount + 1")


async def test_earnings_add_up_to_the_fees_less_the_platforms_to_the_cent(db: asyncpg.Connection) -> None:
    w = await world(db)
    prices = [100_001, 33_333, 99_999]
    for i, price in enumerate(prices):
        deal = await round_deal(db, w, price=price)
        await service.record_payment(
            db, deal.id, method="card", reference=f"pi_e{i}", amount=deal.price, now=NOW
        )
    fees = sum(Money(p, EUR).scaled_bp(1_500).amount for p in prices)
    net = 0
    for holder in (w.label, w.publisher):
        lines = await service.statement(db, holder)
        assert {line.isrc for line in lines} == {w.isrc}
        assert all(line.gross - line.platform_fee == line.net for line in lines)
        net += sum(line.net for line in lines)
        by_track = await service.earnings(db, holder, "track")
        assert [(e.deals, e.net) for e in by_track] == [(3, sum(line.net for line in lines))]
    assert net == sum(prices) - fees


async def test_earnings_refuse_an_unknown_grouping(db: asyncpg.Connection) -> None:
    caller = Principal(user_id=uuid4(), organisation_id=uuid4(), role=Role.RIGHTS_HOLDER, email="a@b.c",
                       display_name="A")  # fmt: skip
    with pytest.raises(ValueError, match="group_by must be one of track, territory, month"):
        await service.earnings(db, caller, "artist")


async def test_a_quote_follows_demand_where_the_sellers_policy_asks_for_a_dynamic_price(
    db: asyncpg.Connection,
) -> None:
    w = await world(db, dynamic=True)
    first = await service.request_quote(db, w.buyer, w.track_id, USAGE, NOW)
    assert first.dynamic and first.price == Money(200_000, EUR)
    assert first.breakdown[-1].label == "Demand: 0 recent requests, 0 watching, 0 licences"
    other_buyer = await member(db, "Other Agency", Role.BUYER, "agency")
    second = await service.request_quote(db, other_buyer, w.track_id, USAGE, NOW)
    assert second.price == Money(203_000, EUR)  # +1 % for a recent request, +0.5 % for an interested buyer


async def test_a_list_price_quote_stands_for_fifteen_minutes_and_names_each_holders_price(
    db: asyncpg.Connection,
) -> None:
    w = await world(db)
    quote = await service.request_quote(db, w.buyer, w.track_id, USAGE, NOW)
    assert not quote.dynamic and quote.expires_at == NOW + timedelta(minutes=15)
    assert [line.label for line in quote.breakdown] == [
        "List price of Harbour Songs for this use",
        "List price of Northern Lights Records for this use",
        "List price: each rights holder's price times its share",
    ]
    with pytest.raises(service.QuoteRefused, match="your own track"):
        await service.request_quote(db, w.label, w.track_id, USAGE, NOW)


async def test_an_exclusive_deal_holds_its_usage_until_it_expires_unpaid(db: asyncpg.Connection) -> None:
    w = await world(db)
    exclusive = msgspec.structs.replace(USAGE, exclusive=True)
    deal = await service.create_deal(
        db, source=service.DealSource.NEGOTIATION, source_id=uuid4(), track_id=w.track_id,
        seller=w.label.organisation_id, buyer=w.buyer.organisation_id, price=Money(300_000, EUR), usage=exclusive,
        mechanism=service.Mechanism.VICKREY, agreed_at=NOW, actor=None,
    )  # fmt: skip
    with pytest.raises(service.UsageUnavailable, match="already agreed in deal"):
        await service.hold_usage(db, w.track_id, USAGE, service.HoldSource.SALE, uuid4(), NOW)
    await service.enforce_deadline(db, deal.id, NOW + timedelta(hours=72))
    held = await service.hold_usage(db, w.track_id, USAGE, service.HoldSource.SALE, uuid4(), NOW)
    assert held.usage == USAGE


async def test_two_racing_records_of_one_payment_settle_it_once(pg_pool: asyncpg.Pool) -> None:
    async with pg_pool.acquire() as conn:
        w = await world(conn)
        deal = await round_deal(conn, w)
    reference = f"pi_race_{uuid4().hex}"

    async def record() -> DealState:
        async with pg_pool.acquire() as conn, conn.transaction():
            paid = await service.record_payment(
                conn, deal.id, method="card", reference=reference, amount=deal.price, now=NOW
            )
            return paid.state

    assert await asyncio.gather(record(), record()) == [DealState.LICENSED, DealState.LICENSED]
    async with pg_pool.acquire() as conn:
        assert await _ledger_totals(conn, deal.id) == {
            "receipts": -200_000,
            "platform_fees": 30_000,
            "payee": 170_000,
        }
        assert await conn.fetchval("SELECT count(*) FROM licences WHERE deal_id = $1", deal.id) == 1
