"""The SQL for live rounds: rounds, bids, reveals, negotiations, offers and each round's event log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

import asyncpg
import msgspec

from auction.live import EventPayload, MyBid, RoundEvent, StoredRound
from auction.model import (
    Bid,
    Commitment,
    Negotiation,
    NegotiationState,
    NegotiationTerms,
    Offer,
    Outcome,
    Party,
    Reveal,
    Round,
    RoundParams,
    RoundState,
)
from rights.terms import Money, Usage

_ROUND_COLUMNS = """id, track_id, seller_id, params, usage, state, opens_at, deadline, deadline_version,
                    extensions, closes_at, created_by, closed_at, outcome"""


async def server_now(conn: asyncpg.Connection) -> datetime:
    """The database's clock: the one time every process agrees on."""
    now: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return now


# ---------------------------------------------------------------- rounds


def _round(row: asyncpg.Record) -> StoredRound:
    round = Round(
        id=row["id"], track_id=row["track_id"], seller=row["seller_id"],
        usage=msgspec.convert(row["usage"], Usage), params=msgspec.convert(row["params"], RoundParams),
        opens_at=row["opens_at"], deadline=row["deadline"], deadline_version=row["deadline_version"],
        extensions=row["extensions"], state=RoundState(row["state"]),
    )  # fmt: skip
    outcome = None if row["outcome"] is None else msgspec.convert(row["outcome"], Outcome)
    return StoredRound(
        round=round, closes_at=row["closes_at"], created_by=row["created_by"], closed_at=row["closed_at"],
        outcome=outcome,
    )  # fmt: skip


async def insert_round(conn: asyncpg.Connection, stored: StoredRound) -> None:
    round = stored.round
    await conn.execute(
        """INSERT INTO rounds (id, track_id, seller_id, mechanism, params, usage, opens_at, deadline, closes_at,
                               created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        round.id, round.track_id, round.seller, round.mechanism.value, round.params, round.usage,
        round.opens_at, round.deadline, stored.closes_at, stored.created_by,
    )  # fmt: skip


async def lock_round(conn: asyncpg.Connection, round_id: UUID) -> StoredRound | None:
    """The round, row-locked until the transaction ends: every write to a round goes through here."""
    row = await conn.fetchrow(f"SELECT {_ROUND_COLUMNS} FROM rounds WHERE id = $1 FOR UPDATE", round_id)
    return None if row is None else _round(row)


async def get_round(conn: asyncpg.Connection, round_id: UUID) -> StoredRound | None:
    row = await conn.fetchrow(f"SELECT {_ROUND_COLUMNS} FROM rounds WHERE id = $1", round_id)
    return None if row is None else _round(row)


async def has_open_round(conn: asyncpg.Connection, track_id: UUID) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM rounds WHERE track_id = $1 AND state = 'open')", track_id
    )
    return found


async def rounds(
    conn: asyncpg.Connection, *, state: RoundState | None, seller: UUID | None, limit: int,
    track_ids: Sequence[UUID] | None = None,
) -> list[StoredRound]:  # fmt: skip
    """Open rounds soonest to close first, then closed ones most recent first; on `track_ids` only if given."""
    rows = await conn.fetch(
        f"""SELECT {_ROUND_COLUMNS} FROM rounds
             WHERE ($1::text IS NULL OR state = $1) AND ($2::uuid IS NULL OR seller_id = $2)
               AND ($4::uuid[] IS NULL OR track_id = ANY($4::uuid[]))
             ORDER BY state = 'closed', CASE WHEN state = 'open' THEN closes_at END,
                      closed_at DESC NULLS LAST, id
             LIMIT $3""",
        None if state is None else state.value, seller, limit, None if track_ids is None else list(track_ids),
    )  # fmt: skip
    return [_round(row) for row in rows]


async def counts(conn: asyncpg.Connection, round_ids: Sequence[UUID]) -> dict[UUID, tuple[int, int, int]]:
    """Per round: (bids, reveals, last event seq)."""
    rows = await conn.fetch(
        """SELECT r.id,
                  (SELECT count(*) FROM bids b WHERE b.round_id = r.id) AS bids,
                  (SELECT count(*) FROM bids b JOIN bid_reveals v ON v.bid_id = b.id WHERE b.round_id = r.id)
                      AS revealed,
                  (SELECT coalesce(max(seq), 0) FROM round_events e WHERE e.round_id = r.id) AS seq
             FROM unnest($1::uuid[]) AS r (id)""",
        list(round_ids),
    )
    return {row["id"]: (row["bids"], row["revealed"], row["seq"]) for row in rows}


async def move_deadline(conn: asyncpg.Connection, round: Round, closes_at: datetime) -> None:
    await conn.execute(
        """UPDATE rounds SET deadline = $2, deadline_version = $3, extensions = $4, closes_at = $5
            WHERE id = $1 AND state = 'open'""",
        round.id, round.deadline, round.deadline_version, round.extensions, closes_at,
    )  # fmt: skip


async def close_round(
    conn: asyncpg.Connection,
    round_id: UUID,
    deadline_version: int,
    outcome: Outcome | None,
    closed_at: datetime,
) -> bool:
    """The guarded close: true for the one caller that closes the round, false for any other."""
    status: str = await conn.execute(
        """UPDATE rounds SET state = 'closed', closed_at = $3, outcome = $4
            WHERE id = $1 AND state = 'open' AND deadline_version = $2""",
        round_id, deadline_version, closed_at, outcome,
    )  # fmt: skip
    return status == "UPDATE 1"


async def claim_due_round(
    conn: asyncpg.Connection, skipping: Sequence[UUID] = ()
) -> tuple[StoredRound, datetime] | None:
    """The open round due longest ago that no other transaction holds (and not among `skipping`),
    row-locked, with the database's time.

    Closers in any number of workers each take a different round (a round being bid on or closed
    elsewhere is skipped, not waited for), so the time read here follows no lock wait.
    """
    row = await conn.fetchrow(
        f"""SELECT {_ROUND_COLUMNS}, clock_timestamp() AS now FROM rounds
             WHERE state = 'open' AND closes_at <= clock_timestamp() AND id <> ALL($1::uuid[])
             ORDER BY closes_at LIMIT 1 FOR UPDATE SKIP LOCKED""",
        list(skipping),
    )
    return None if row is None else (_round(row), row["now"])


async def seconds_until_next_close(conn: asyncpg.Connection) -> float | None:
    """By the database's clock, how long until the soonest open round is due (negative when overdue)."""
    seconds: float | None = await conn.fetchval(
        """SELECT extract(epoch FROM min(closes_at) - clock_timestamp())::float8
             FROM rounds WHERE state = 'open'"""
    )
    return seconds


async def insert_award(conn: asyncpg.Connection, round_id: UUID, deal_id: UUID, awarded_at: datetime) -> None:
    """A deadline close's award, whose deal is made after the close commits (`claim_award`)."""
    await conn.execute(
        "INSERT INTO round_awards (round_id, deal_id, awarded_at) VALUES ($1, $2, $3)",
        round_id,
        deal_id,
        awarded_at,
    )


async def claim_award(
    conn: asyncpg.Connection, skipping: Sequence[UUID] = ()
) -> tuple[StoredRound, UUID] | None:
    """The oldest award whose deal is still to be made that no other transaction holds (and whose round is
    not among `skipping`), row-locked: its closed round and the deal's announced id."""
    row = await conn.fetchrow(
        f"""SELECT {_ROUND_COLUMNS}, a.deal_id
              FROM round_awards a JOIN rounds r ON r.id = a.round_id
             WHERE a.round_id <> ALL($1::uuid[])
             ORDER BY a.awarded_at LIMIT 1 FOR UPDATE OF a SKIP LOCKED""",
        list(skipping),
    )
    return None if row is None else (_round(row), row["deal_id"])


async def delete_award(conn: asyncpg.Connection, round_id: UUID) -> None:
    await conn.execute("DELETE FROM round_awards WHERE round_id = $1", round_id)


# ---------------------------------------------------------------- bids and reveals


def _bid(row: asyncpg.Record) -> Bid | Commitment:
    if row["kind"] == "commitment":
        return Commitment(
            id=row["id"], round_id=row["round_id"], bidder=row["bidder_id"], placed_by=row["placed_by"],
            digest=row["digest"], committed_at=row["committed_at"],
        )  # fmt: skip
    return Bid(
        id=row["id"], round_id=row["round_id"], bidder=row["bidder_id"], placed_by=row["placed_by"],
        amount=Money(row["amount"], row["currency"]), committed_at=row["committed_at"],
    )  # fmt: skip


_INSERT_BID = """INSERT INTO bids (id, round_id, bidder_id, placed_by, kind, amount, currency, digest, committed_at)
                 VALUES ({})"""


def _bid_values(bid: Bid | Commitment, kind: str) -> tuple[object, ...]:
    amount = bid.amount if isinstance(bid, Bid) else None
    return (
        bid.id, bid.round_id, bid.bidder, bid.placed_by, kind, amount and amount.amount,
        amount and amount.currency, bid.digest if isinstance(bid, Commitment) else None, bid.committed_at,
    )  # fmt: skip


async def insert_bid(conn: asyncpg.Connection, bid: Bid | Commitment, kind: str) -> None:
    await conn.execute(_INSERT_BID.format("$1, $2, $3, $4, $5, $6, $7, $8, $9"), *_bid_values(bid, kind))


class BidCheck(NamedTuple):
    now: datetime
    existing: list[Bid | Commitment]
    bids: int


async def lock_round_for_bids(
    conn: asyncpg.Connection, round_id: UUID, bid_ids: list[UUID], bidders: list[UUID]
) -> tuple[StoredRound, BidCheck] | None:
    """The round, row-locked until the transaction ends, and what new bids are checked against, read
    after the lock in the same round trip (migration 0099): the database's time, the bids with these
    ids (in any round) or from these bidders in this round, and how many bids the round has. None when
    there is no such round."""
    rows = await conn.fetch(
        f"""SELECT {_LOCKED_ROUND_COLUMNS}, server_now, round_bids, existing
              FROM round_locked_for_bids($1, $2, $3)""",
        round_id, bid_ids, bidders,
    )  # fmt: skip
    if not rows:
        return None
    existing = [_bid(row["existing"]) for row in rows if row["existing"] is not None]
    return _round(rows[0]), BidCheck(now=rows[0]["server_now"], existing=existing, bids=rows[0]["round_bids"])


_LOCKED_ROUND_COLUMNS = ", ".join(f"(locked).{name.strip()}" for name in _ROUND_COLUMNS.split(","))


async def bids_of(conn: asyncpg.Connection, round_id: UUID) -> list[Bid | Commitment]:
    rows = await conn.fetch("SELECT * FROM bids WHERE round_id = $1 ORDER BY committed_at, id", round_id)
    return [_bid(row) for row in rows]


async def commitment(
    conn: asyncpg.Connection, round_id: UUID, bid_id: UUID
) -> tuple[Commitment, bool] | None:
    """A commitment of this round and whether it has been revealed already."""
    row = await conn.fetchrow(
        """SELECT b.*, v.bid_id IS NOT NULL AS revealed FROM bids b LEFT JOIN bid_reveals v ON v.bid_id = b.id
            WHERE b.id = $1 AND b.round_id = $2 AND b.kind = 'commitment'""",
        bid_id, round_id,
    )  # fmt: skip
    if row is None:
        return None
    found = _bid(row)
    assert isinstance(found, Commitment)
    return found, row["revealed"]


async def insert_reveal(conn: asyncpg.Connection, reveal: Reveal) -> None:
    await conn.execute(
        "INSERT INTO bid_reveals (bid_id, amount, currency, nonce, revealed_at) VALUES ($1, $2, $3, $4, $5)",
        reveal.bid_id, reveal.amount.amount, reveal.amount.currency, reveal.nonce, reveal.revealed_at,
    )  # fmt: skip


async def reveals_of(conn: asyncpg.Connection, round_id: UUID) -> list[Reveal]:
    rows = await conn.fetch(
        """SELECT v.* FROM bid_reveals v JOIN bids b ON b.id = v.bid_id WHERE b.round_id = $1
            ORDER BY v.revealed_at, v.bid_id""",
        round_id,
    )
    return [
        Reveal(
            bid_id=row["bid_id"],
            amount=Money(row["amount"], row["currency"]),
            nonce=row["nonce"],
            revealed_at=row["revealed_at"],
        )
        for row in rows
    ]


async def bids_by(conn: asyncpg.Connection, round_id: UUID, bidder: UUID) -> list[MyBid]:
    rows = await conn.fetch(
        """SELECT b.*, v.amount AS revealed_amount, v.currency AS revealed_currency
             FROM bids b LEFT JOIN bid_reveals v ON v.bid_id = b.id
            WHERE b.round_id = $1 AND b.bidder_id = $2 ORDER BY b.committed_at""",
        round_id, bidder,
    )  # fmt: skip
    return [
        MyBid(
            bid_id=row["id"],
            round_id=row["round_id"],
            committed_at=row["committed_at"],
            amount=None if row["amount"] is None else Money(row["amount"], row["currency"]),
            digest=row["digest"],
            revealed=None
            if row["revealed_amount"] is None
            else Money(row["revealed_amount"], row["revealed_currency"]),
        )
        for row in rows
    ]


async def rounds_joined_by(conn: asyncpg.Connection, organisation_id: UUID, limit: int) -> list[UUID]:
    """Rounds the organisation bid in or negotiated on, the latest it took part in first."""
    rows = await conn.fetch(
        """SELECT round_id, max(at) AS last FROM (
               SELECT round_id, committed_at AS at FROM bids WHERE bidder_id = $1
               UNION ALL
               SELECT n.round_id, o.made_at FROM negotiations n JOIN offers o ON o.negotiation_id = n.id
                WHERE n.buyer_id = $1
           ) AS taken GROUP BY round_id ORDER BY last DESC, round_id LIMIT $2""",
        organisation_id, limit,
    )  # fmt: skip
    return [row["round_id"] for row in rows]


# ---------------------------------------------------------------- negotiations


async def insert_negotiation(conn: asyncpg.Connection, negotiation: Negotiation, started_by: UUID) -> None:
    await conn.execute(
        """INSERT INTO negotiations (id, round_id, buyer_id, started_by, state, respond_by, price_amount, currency,
                                     concluded_at, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        negotiation.id, negotiation.round_id, negotiation.buyer, started_by, *_negotiation_state(negotiation),
    )  # fmt: skip
    await _insert_offers(conn, negotiation, 0, started_by)


async def save_negotiation(
    conn: asyncpg.Connection, negotiation: Negotiation, offers_before: int, made_by: UUID | None
) -> None:
    """Store the negotiation's new state and the offers added after the first `offers_before`."""
    await conn.execute(
        """UPDATE negotiations SET state = $2, respond_by = $3, price_amount = $4, currency = $5,
                                   concluded_at = $6, reason = $7
            WHERE id = $1""",
        negotiation.id, *_negotiation_state(negotiation),
    )  # fmt: skip
    await _insert_offers(conn, negotiation, offers_before, made_by)


def _negotiation_state(negotiation: Negotiation) -> tuple[object, ...]:
    price = negotiation.price
    return (
        negotiation.state.value, negotiation.respond_by, price and price.amount, price and price.currency,
        negotiation.concluded_at, negotiation.reason,
    )  # fmt: skip


async def _insert_offers(
    conn: asyncpg.Connection, negotiation: Negotiation, after: int, made_by: UUID | None
) -> None:
    await conn.executemany(
        """INSERT INTO offers (negotiation_id, position, party, amount, currency, made_at, automatic, made_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [
            (
                negotiation.id,
                position,
                offer.party.value,
                offer.amount.amount,
                offer.amount.currency,
                offer.made_at,
                offer.automatic,
                None if offer.automatic else made_by,
            )
            for position, offer in enumerate(negotiation.offers[after:], start=after + 1)
        ],
    )


async def negotiation_round(conn: asyncpg.Connection, negotiation_id: UUID) -> UUID | None:
    round_id: UUID | None = await conn.fetchval(
        "SELECT round_id FROM negotiations WHERE id = $1", negotiation_id
    )
    return round_id


async def negotiation(
    conn: asyncpg.Connection, negotiation_id: UUID, terms: NegotiationTerms
) -> Negotiation | None:
    row = await conn.fetchrow("SELECT * FROM negotiations WHERE id = $1", negotiation_id)
    if row is None:
        return None
    offers = await conn.fetch(
        "SELECT * FROM offers WHERE negotiation_id = $1 ORDER BY position", negotiation_id
    )
    return Negotiation(
        id=row["id"],
        round_id=row["round_id"],
        buyer=row["buyer_id"],
        terms=terms,
        state=NegotiationState(row["state"]),
        offers=tuple(
            Offer(
                party=Party(offer["party"]),
                amount=Money(offer["amount"], offer["currency"]),
                made_at=offer["made_at"],
                automatic=offer["automatic"],
            )
            for offer in offers
        ),
        respond_by=row["respond_by"],
        price=None if row["price_amount"] is None else Money(row["price_amount"], row["currency"]),
        concluded_at=row["concluded_at"],
        reason=row["reason"],
    )


async def standing_negotiation(conn: asyncpg.Connection, round_id: UUID, buyer: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT id FROM negotiations WHERE round_id = $1 AND buyer_id = $2 AND respond_by IS NOT NULL",
        round_id, buyer,
    )  # fmt: skip
    return found


async def other_accepted_negotiation(
    conn: asyncpg.Connection, round_id: UUID, negotiation_id: UUID
) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT id FROM negotiations WHERE round_id = $1 AND id <> $2 AND state = 'accepted' LIMIT 1",
        round_id, negotiation_id,
    )  # fmt: skip
    return found


async def negotiations_on(conn: asyncpg.Connection, round_id: UUID, buyer: UUID | None) -> list[UUID]:
    """The round's negotiations, newest first; only `buyer`'s when given."""
    rows = await conn.fetch(
        """SELECT n.id FROM negotiations n
            WHERE n.round_id = $1 AND ($2::uuid IS NULL OR n.buyer_id = $2)
            ORDER BY (SELECT min(made_at) FROM offers o WHERE o.negotiation_id = n.id) DESC""",
        round_id, buyer,
    )  # fmt: skip
    return [row["id"] for row in rows]


async def negotiation_timers(
    conn: asyncpg.Connection, *, overdue_only: bool
) -> list[tuple[UUID, int, datetime]]:
    """Standing negotiations' (id, offers so far, when the standing offer lapses)."""
    rows = await conn.fetch(
        """SELECT n.id, n.respond_by, (SELECT count(*) FROM offers o WHERE o.negotiation_id = n.id) AS moves
             FROM negotiations n
            WHERE n.respond_by IS NOT NULL AND (NOT $1 OR n.respond_by <= clock_timestamp())
            ORDER BY n.respond_by""",
        overdue_only,
    )
    return [(row["id"], row["moves"], row["respond_by"]) for row in rows]


# ---------------------------------------------------------------- events


def _event(row: asyncpg.Record) -> RoundEvent:
    return RoundEvent(
        round_id=row["round_id"], seq=row["seq"], payload=msgspec.convert(row["payload"], EventPayload),
        at=row["occurred_at"],
    )  # fmt: skip


async def append_event(
    conn: asyncpg.Connection, round_id: UUID, payload: EventPayload, actor: UUID | None, at: datetime
) -> RoundEvent:
    """Number the event after the round's last one and chain it into the audit log, in one statement.

    The caller holds the round's row lock, so numbers are taken one at a time.
    """
    seq: int = await conn.fetchval(
        "WITH " + _APPENDED, round_id, payload.__struct_config__.tag, payload, actor, at
    )
    return RoundEvent(round_id=round_id, seq=seq, payload=payload, at=at)


async def insert_bid_and_event(
    conn: asyncpg.Connection, bid: Bid | Commitment, kind: str, payload: EventPayload, actor: UUID | None,
    at: datetime,
) -> RoundEvent:  # fmt: skip
    """`insert_bid` and `append_event` in one statement (one round trip per bid instead of two)."""
    seq: int = await conn.fetchval(
        f"WITH bid AS ({_INSERT_BID.format('$6, $1, $7, $8, $9, $10, $11, $12, $13')}), {_APPENDED}",
        bid.round_id, payload.__struct_config__.tag, payload, actor, at, bid.id, *_bid_values(bid, kind)[2:],
    )  # fmt: skip
    return RoundEvent(round_id=bid.round_id, seq=seq, payload=payload, at=at)


# The event numbered after the round's last one and chained into the audit log; parameters $1 round,
# $2 kind, $3 payload, $4 actor, $5 time. The caller holds the round's row lock, so numbers are taken
# one at a time.
_APPENDED = """appended AS (
           INSERT INTO round_events (round_id, seq, kind, payload, actor_id, occurred_at)
           VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM round_events WHERE round_id = $1), $2, $3, $4, $5)
           RETURNING seq, payload
       )
       SELECT seq FROM appended,
              LATERAL audit_append('round', $1::text, $2, jsonb_build_object('seq', seq) || payload, $4)"""


async def events_after(conn: asyncpg.Connection, round_id: UUID, after: int, limit: int) -> list[RoundEvent]:
    rows = await conn.fetch(
        """SELECT round_id, seq, payload, occurred_at FROM round_events
            WHERE round_id = $1 AND seq > $2 ORDER BY seq LIMIT $3""",
        round_id, after, limit,
    )  # fmt: skip
    return [_event(row) for row in rows]


async def insert_refused_offer(
    conn: asyncpg.Connection, round_id: UUID, buyer: UUID, negotiation_id: UUID | None, amount: Money,
    made_by: UUID | None, at: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        """INSERT INTO refused_offers (round_id, buyer_id, negotiation_id, amount, currency, made_by, refused_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        round_id, buyer, negotiation_id, amount.amount, amount.currency, made_by, at,
    )  # fmt: skip


async def refused_offers_since(
    conn: asyncpg.Connection, round_id: UUID, buyer: UUID, since: datetime
) -> list[datetime]:
    rows = await conn.fetch(
        """SELECT refused_at FROM refused_offers WHERE round_id = $1 AND buyer_id = $2 AND refused_at > $3
            ORDER BY refused_at""",
        round_id, buyer, since,
    )  # fmt: skip
    return [r["refused_at"] for r in rows]


# ---------------------------------------------------------------- audit cross-check


async def bids_disagreeing_with_audit(conn: asyncpg.Connection, limit: int) -> list[tuple[str, str]]:
    """Bids and reveals whose row is not what their round's audited event says, and audited ones with no row.

    A sealed bid or commitment is audited by its round's `bid` event, a clock acceptance by the round's
    `closed` event naming it the winner, a reveal by its `revealed` event.
    """
    rows = await conn.fetch(
        """SELECT record_id, problem FROM (
           WITH audited AS (
               SELECT stream_id AS round_id, payload->>'bid_id' AS bid_id, payload->>'bidder' AS bidder,
                      payload->'amount'->>'amount' AS amount, payload->'amount'->>'currency' AS currency,
                      payload->>'digest' AS digest
                 FROM audit_events WHERE stream = 'round' AND kind = 'bid'
               UNION ALL
               SELECT stream_id, w->>'bid_id', w->>'bidder', w->'bid'->>'amount', w->'bid'->>'currency', NULL
                 FROM audit_events, LATERAL (SELECT payload->'outcome'->'winner' AS w) winner
                WHERE stream = 'round' AND kind = 'closed' AND jsonb_typeof(w) = 'object'
                  AND EXISTS (SELECT 1 FROM bids b WHERE b.id::text = w->>'bid_id' AND b.kind = 'clock')
           ), revealed AS (
               SELECT stream_id AS round_id, payload->>'bid_id' AS bid_id,
                      payload->'amount'->>'amount' AS amount, payload->'amount'->>'currency' AS currency
                 FROM audit_events WHERE stream = 'round' AND kind = 'revealed'
           )
           SELECT b.id::text AS record_id,
                  CASE WHEN a.bid_id IS NULL THEN 'has no audited event in its round'
                       WHEN a.bidder IS DISTINCT FROM b.bidder_id::text THEN 'bidder differs from its audited event'
                       WHEN a.amount IS DISTINCT FROM b.amount::text OR a.currency IS DISTINCT FROM b.currency
                           THEN 'amount differs from its audited event'
                       WHEN a.digest IS DISTINCT FROM b.digest THEN 'commitment differs from its audited event'
                  END AS problem
             FROM bids b LEFT JOIN audited a ON a.round_id = b.round_id::text AND a.bid_id = b.id::text
           UNION ALL
           SELECT a.bid_id, 'audited bid has no row in bids (or is filed under another round)'
             FROM audited a
            WHERE a.bid_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM bids b WHERE b.id::text = a.bid_id AND b.round_id::text = a.round_id)
           UNION ALL
           SELECT r.bid_id::text,
                  CASE WHEN v.bid_id IS NULL THEN 'reveal has no audited event in its round'
                       WHEN v.amount IS DISTINCT FROM r.amount::text OR v.currency IS DISTINCT FROM r.currency
                           THEN 'revealed amount differs from its audited event'
                  END
             FROM bid_reveals r JOIN bids b ON b.id = r.bid_id
             LEFT JOIN revealed v ON v.round_id = b.round_id::text AND v.bid_id = r.bid_id::text
           ) checked WHERE problem IS NOT NULL LIMIT $1""",
        limit,
    )
    return [(row["record_id"], row["problem"]) for row in rows]


async def bids_and_reveals(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval(
        "SELECT (SELECT count(*) FROM bids) + (SELECT count(*) FROM bid_reveals)"
    )
    return count
