"""On-chain settlement use cases: deploy once, say what to sign, pay with the demo wallet, follow Settled logs.

Nothing here holds a database connection while it waits on the node: each use case reads what it needs,
lets the connection go, talks to the chain, then writes in a transaction of its own.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec
from eth_account.signers.local import LocalAccount

from contracts import licences
from contracts import service as deals
from contracts import store as deal_store
from contracts.chain import follow
from contracts.chain import store as chain_store
from contracts.chain.client import PLATFORM_ACCOUNT_INDEX, ChainClient, ChainUnavailable, anvil_account
from contracts.chain.model import (
    MAX_PAYEES,
    AnchoredHead,
    ChainOverview,
    ChainPayment,
    ContractCall,
    DemoPaymentReceipt,
    Deployment,
    PayoutBalance,
    SettledLog,
    Sighting,
    SightingStatus,
)
from contracts.chain.split import deal_id_from_ref, deal_ref, settlement_shares
from contracts.model import Deal, DealState
from contracts.payouts import payout_lines
from rights.audit import append_audit
from rights.identity import Principal
from rights.terms import Money

log = logging.getLogger("contracts.chain")

# The embedded node gets one test stablecoin and one Settlement contract per currency.
EMBEDDED_STABLECOINS = {"EUR": ("Cue Test Euro", "cEUR"), "USD": ("Cue Test Dollar", "cUSD")}
DEMO_FUNDING_UNITS = 10_000_000  # 100,000.00 in the demo buyer's stablecoin
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_DEPLOY_LOCK = 0x636861696E  # pg_advisory_lock key: one process deploys at a time


class ChainPaymentRefused(ValueError):
    """The deal cannot be paid on-chain as it stands; the message says why (409)."""

    status_code = 409


class DemoWalletRefused(PermissionError):
    """The demo wallet signs only on the embedded node, for an organisation that has one (403)."""


class FollowReport(msgspec.Struct, frozen=True, kw_only=True):
    head: int
    applied_to: int
    paid: list[UUID]
    flagged: list[str]
    dropped: list[str]
    seen: list[str]
    updates: list[deals.DealUpdate]  # for the parties, to publish once the step has committed
    rewound: bool = False  # the cursor went back after a re-organisation deeper than the confirmations


def platform_account() -> LocalAccount:
    """The platform's account on the embedded node: it deploys, mints, anchors and takes the fee."""
    return anvil_account(PLATFORM_ACCOUNT_INDEX)


def _hex32(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


# ---------------------------------------------------------------- deployment


async def ensure_deployed(
    conn: asyncpg.Connection, client: ChainClient, *, now: datetime
) -> list[Deployment]:
    """The contracts on this chain, deployed now (embedded node only) where missing or lost with the node's state.

    Start-up work: it holds the connection, with an advisory lock that keeps two processes from
    deploying twice, while it waits on the node.
    """
    chain_id = await client.chain_id()
    await conn.execute("SELECT pg_advisory_lock($1)", _DEPLOY_LOCK)
    try:
        recorded = {d.currency: d for d in await chain_store.deployments(conn, chain_id)}
        deployed_now = False
        for currency, (name, symbol) in EMBEDDED_STABLECOINS.items():
            existing = recorded.get(currency)
            if existing is not None and await client.has_code(existing.settlement_address):
                continue
            if not client.node.embedded:
                log.warning(
                    "no Settlement contract for %s on chain %s: record one to accept it", currency, chain_id
                )
                continue
            recorded[currency] = await _deploy(client, chain_id, currency, name, symbol, now)
            await chain_store.replace_deployment(conn, recorded[currency])
            deployed_now = True
        if recorded:
            # Follow from the first deployment; a redeployment (the node lost its state) starts over.
            first_block = min(d.deployed_block for d in recorded.values())
            await chain_store.start_cursor(conn, chain_id, first_block - 1, now, restart=deployed_now)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _DEPLOY_LOCK)
    return sorted(recorded.values(), key=lambda d: d.currency)


async def _deploy(
    client: ChainClient, chain_id: int, currency: str, name: str, symbol: str, now: datetime
) -> Deployment:
    from contracts.chain.artifacts import load

    platform = platform_account()
    token = await client.deploy(platform, load("Stablecoin"), name, symbol)
    settlement = await client.deploy(platform, load("Settlement"), token["contractAddress"])
    log.info("deployed the %s Settlement contract at %s", currency, settlement["contractAddress"])
    return Deployment(
        chain_id=chain_id, currency=currency, settlement_address=str(settlement["contractAddress"]).lower(),
        token_address=str(token["contractAddress"]).lower(), platform_address=platform.address.lower(),
        deployed_block=int(token["blockNumber"]), deployed_at=now,
    )  # fmt: skip


async def _deployment_for(conn: asyncpg.Connection, client: ChainClient, currency: str) -> Deployment:
    for deployment in await chain_store.deployments(conn, _known_chain_id(client)):
        if deployment.currency == currency:
            return deployment
    raise ChainPaymentRefused(
        f"{currency} cannot be paid on-chain here: there is no stablecoin contract for it"
    )


def _known_chain_id(client: ChainClient) -> int:
    """The node's chain id as learnt at start-up, so code holding a connection never waits on the node."""
    if client.known_chain_id is None:
        raise ChainUnavailable("the chain node has not answered since this server started; try again shortly")
    return client.known_chain_id


# ---------------------------------------------------------------- payout addresses and demo wallets


def checked_address(address: str) -> str:
    """A 0x address in lower case; anything else is refused naming the field."""
    if not _ADDRESS.match(address.strip()):
        raise ValueError("address must be 0x followed by 40 hexadecimal digits")
    if int(address, 16) == 0:
        raise ValueError("address must not be the zero address")
    return address.strip().lower()


async def set_payout_address(
    conn: asyncpg.Connection, caller: Principal, address: str, *, now: datetime
) -> str:
    """Where the caller's organisation is paid on-chain from now on."""
    address = checked_address(address)
    async with conn.transaction():
        await chain_store.set_payout_address(conn, caller.organisation_id, address, now)
        await append_audit(
            conn,
            "organisation",
            caller.organisation_id,
            "chain_payout_address_set",
            {"address": address},
            caller.user_id,
        )
    return address


async def give_demo_wallet(
    conn: asyncpg.Connection, organisation_id: UUID, account_index: int, *, now: datetime
) -> str:
    """Demo seeding: an organisation signs with Anvil account `account_index`, which is also its payout address."""
    address = anvil_account(account_index).address.lower()
    async with conn.transaction():
        await chain_store.set_demo_wallet(conn, organisation_id, account_index)
        await chain_store.set_payout_address(conn, organisation_id, address, now)
    return address


async def anvil_address(index: int) -> str:
    return anvil_account(index).address.lower()


async def fund_demo_wallet(client: ChainClient, deployments: list[Deployment], address: str) -> None:
    """Top the demo wallet up to DEMO_FUNDING_UNITS of every stablecoin (Anvil accounts already hold ether)."""
    for deployment in deployments:
        token = client.contract("Stablecoin", deployment.token_address)
        held: int = await client.read(token.functions.balanceOf(client.web3.to_checksum_address(address)))
        if held < DEMO_FUNDING_UNITS:
            minted = token.functions.mint(client.web3.to_checksum_address(address), DEMO_FUNDING_UNITS - held)
            await client.send(platform_account(), minted)


async def _demo_account(conn: asyncpg.Connection, client: ChainClient, caller: Principal) -> LocalAccount:
    if not client.node.embedded:
        raise DemoWalletRefused(
            "the demo wallet exists only on the embedded Anvil node; pay with your own wallet"
        )
    index = await chain_store.demo_wallet_index(conn, caller.organisation_id)
    if index is None:
        raise DemoWalletRefused("your organisation has no demo wallet; pay with your own wallet")
    return anvil_account(index)


async def has_demo_wallet(conn: asyncpg.Connection, client: ChainClient, caller: Principal) -> bool:
    return (
        client.node.embedded and await chain_store.demo_wallet_index(conn, caller.organisation_id) is not None
    )


# ---------------------------------------------------------------- paying a deal


async def _buyers_deal(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> Deal:
    """The one authorisation rule for paying: the caller acts for the deal's buyer."""
    found = await deal_store.deal(conn, deal_id)
    if found is None or not caller.acts_for(found.buyer):
        raise deals.DealNotFound(f"no deal {deal_id}")
    return found


async def payment_for(
    conn: asyncpg.Connection, client: ChainClient, caller: Principal, deal_id: UUID
) -> ChainPayment:
    """What the buyer's wallet signs to pay the deal: approve the amount, then settle with these payees."""
    deal = await _buyers_deal(conn, caller, deal_id)
    if deal.state is not DealState.AWAITING_PAYMENT:
        raise ChainPaymentRefused(f"this deal is {deal.state.value.replace('_', ' ')}, not awaiting payment")
    deployment = await _deployment_for(conn, client, deal.price.currency)
    lines = payout_lines(deal.price, deal.payees, deals.settlement_terms().platform_fee_bps)
    members = [line.organisation_id for line in lines if line.organisation_id is not None]
    addresses = await chain_store.payout_addresses(conn, members)
    missing = sorted(
        {p.party_name for p in deal.payees if p.organisation_id in set(members) - set(addresses)}
    )
    if missing:
        raise ChainPaymentRefused(
            f"{', '.join(missing)} cannot be paid on-chain yet: no payout address is registered"
        )
    # The platform's line is its fee; a party that is not a member has its share held by the platform.
    owed = [(addresses.get(line.organisation_id, deployment.platform_address) if line.organisation_id else deployment.platform_address, line.amount) for line in lines]  # fmt: skip
    shares = settlement_shares(owed, first=deployment.platform_address)
    if len(shares) > MAX_PAYEES:
        raise ChainPaymentRefused(f"this deal has more than {MAX_PAYEES} payout addresses: pay it by card")
    terms = "0x" + licences.terms_hash(deal)
    token = client.contract("Stablecoin", deployment.token_address)
    settlement = client.contract("Settlement", deployment.settlement_address)
    checksummed = [client.web3.to_checksum_address(address) for address, _ in shares]
    bps = [share for _, share in shares]
    approve = token.encode_abi("approve", args=[settlement.address, deal.price.amount])
    settle = settlement.encode_abi(
        "settle", args=[deal_ref(deal.id), _hex32(terms), checksummed, bps, deal.price.amount]
    )
    demo = None
    if client.node.embedded:
        index = await chain_store.demo_wallet_index(conn, caller.organisation_id)
        demo = None if index is None else anvil_account(index).address
    return ChainPayment(
        deal_id=deal.id, chain_id=deployment.chain_id, settlement_address=deployment.settlement_address,
        token_address=deployment.token_address, currency=deal.price.currency, amount=deal.price.amount,
        terms_hash=terms, payees=[address for address, _ in shares], shares_bps=bps,
        calls=[
            ContractCall(description=f"Allow the Settlement contract to take {deal.price.display()}", to=deployment.token_address, data=approve),
            ContractCall(description="Settle the deal: pay and split it among the payees", to=deployment.settlement_address, data=settle),
        ],
        demo_wallet=demo,
    )  # fmt: skip


async def pay_with_demo_wallet(
    pool: asyncpg.Pool, client: ChainClient, caller: Principal, deal_id: UUID
) -> DemoPaymentReceipt:
    """Demo only: the server signs approve + settle with the buyer's Anvil account.

    The deal is marked paid by the listener once the Settled log has its confirmations, exactly as
    for a browser wallet. A refusal by the contract (balance, allowance) raises ChainReverted.
    """
    async with pool.acquire() as conn:
        account = await _demo_account(conn, client, caller)
        payment = await payment_for(conn, client, caller, deal_id)
    sent = []
    for call in payment.calls:
        transaction = {"to": client.web3.to_checksum_address(call.to), "data": call.data}
        sent.append(await client.send_transaction(account, transaction))
    return DemoPaymentReceipt(
        deal_id=deal_id, approve_tx=sent[0]["transactionHash"].to_0x_hex(),
        settle_tx=sent[1]["transactionHash"].to_0x_hex(), block_number=int(sent[1]["blockNumber"]),
    )  # fmt: skip


# ---------------------------------------------------------------- payouts


async def payout_balances(pool: asyncpg.Pool, client: ChainClient, caller: Principal) -> list[PayoutBalance]:
    """What the caller's payout address can withdraw from each Settlement contract."""
    chain_id = await client.chain_id()
    async with pool.acquire() as conn:
        address = (await chain_store.payout_addresses(conn, [caller.organisation_id])).get(
            caller.organisation_id
        )
        recorded = await chain_store.deployments(conn, chain_id)
    if address is None:
        return []
    balances = []
    for deployment in recorded:
        contract = client.contract("Settlement", deployment.settlement_address)
        held: int = await client.read(contract.functions.balanceOf(client.web3.to_checksum_address(address)))
        balances.append(PayoutBalance(currency=deployment.currency, settlement_address=deployment.settlement_address, address=address, withdrawable=held))  # fmt: skip
    return balances


async def withdraw_with_demo_wallet(
    pool: asyncpg.Pool, client: ChainClient, caller: Principal
) -> list[PayoutBalance]:
    """Demo only: withdraw the caller's balance from every Settlement contract with its Anvil account."""
    async with pool.acquire() as conn:
        account = await _demo_account(conn, client, caller)
    withdrawn = []
    for balance in await payout_balances(pool, client, caller):
        if balance.withdrawable > 0 and balance.address == account.address.lower():
            await client.send(
                account, client.contract("Settlement", balance.settlement_address).functions.withdraw()
            )
            withdrawn.append(balance)
    return withdrawn


# ---------------------------------------------------------------- the listener


async def follow_settlements(
    pool: asyncpg.Pool, client: ChainClient, *, now: datetime
) -> FollowReport | None:
    """One step of the listener: read new Settled logs, pay or flag the confirmed, drop the vanished.

    Safe to run concurrently and repeatedly: the cursor row is locked and re-checked before writing,
    and every log is keyed by its transaction hash and log index. None before any deployment, or
    when another worker moved the cursor first.
    """
    chain_id = await client.chain_id()
    async with pool.acquire() as conn:
        recorded = await chain_store.deployments(conn, chain_id)
        position = await chain_store.cursor(conn, chain_id)
        seen = [s.log for s in await chain_store.open_sightings(conn, chain_id)]
    if not recorded or position is None:
        return None
    applied_to, hash_then = position
    head = await client.head()
    back = follow.rewind(
        applied_to=applied_to, head=head, hash_then=hash_then,
        hash_now=await client.block_hash(applied_to) if hash_then is not None and head >= applied_to else None,
        floor=min(d.deployed_block for d in recorded) - 1,
    )  # fmt: skip
    if back is not None:
        log.warning("re-organisation deeper than the confirmations: reading again from block %s", back + 1)
        back_hash = await client.block_hash(back)
        async with pool.acquire() as conn, conn.transaction():
            if await chain_store.cursor(conn, chain_id, lock=True) != position:
                return None  # another worker got there first
            await chain_store.move_cursor(conn, chain_id, back, back_hash, now)
        applied_to, hash_then = back, back_hash
        position = (applied_to, hash_then)
    step = follow.next_step(applied_to, head)
    reaching = follow.confirmed_to(applied_to, head, client.node.confirmations, step)
    reached_hash = hash_then if reaching == applied_to else await client.block_hash(reaching)
    logs = await client.settled_logs([d.settlement_address for d in recorded], step.from_block, step.to_block)
    plan = follow.plan(
        applied_to=applied_to,
        head=head,
        confirmations=client.node.confirmations,
        step=step,
        logs=logs,
        seen=seen,
    )
    currency_of = {d.settlement_address: d.currency for d in recorded}
    report = FollowReport(
        head=head, applied_to=plan.applied_to, paid=[], flagged=[], dropped=[], seen=[], updates=[],
        rewound=back is not None,
    )  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        if await chain_store.cursor(conn, chain_id, lock=True) != position:
            return report  # another worker moved the cursor meanwhile; the next step starts from there
        for vanished in plan.drop:
            await chain_store.drop_sighting(conn, vanished)
            report.dropped.append(f"{vanished.tx_hash}:{vanished.log_index}")
        for sighted in plan.sight:
            deal_id = deal_id_from_ref(_hex32(sighted.deal_ref))
            known = deal_id if deal_id and await deal_store.deal(conn, deal_id) else None
            await chain_store.save_sighting(conn, chain_id, sighted, deal_id=known, status=SightingStatus.SEEN, reason=None, now=now)  # fmt: skip
            report.seen.append(f"{sighted.tx_hash}:{sighted.log_index}")
        for confirmed in plan.confirm:
            decided, paid = await _decide(
                conn, chain_id, confirmed, currency_of[confirmed.settlement_address], now
            )
            if paid is not None:
                report.paid.append(paid.id)
                seq, kind, at = await chain_store.latest_deal_event(conn, paid.id)
                report.updates.append(deals.DealUpdate(deal_id=paid.id, seq=seq, kind=kind, at=at, deal=paid))
            elif decided is SightingStatus.FLAGGED:
                report.flagged.append(f"{confirmed.tx_hash}:{confirmed.log_index}")
        await chain_store.move_cursor(conn, chain_id, plan.applied_to, reached_hash, now)
    return report


def _mismatch(deal: Deal | None, log_: SettledLog, currency: str) -> str | None:
    """Why a confirmed Settled log cannot pay its deal, or None when it can."""
    if deal is None:
        return "no deal has this id"
    if deal.state is not DealState.AWAITING_PAYMENT:
        return f"the deal is {deal.state.value.replace('_', ' ')}, not awaiting payment"
    if currency != deal.price.currency:
        return f"paid in {currency} but the deal is priced in {deal.price.currency}"
    if log_.amount != deal.price.amount:
        return f"paid {Money(log_.amount, currency).display()} but the deal costs {deal.price.display()}"
    if log_.terms_hash.removeprefix("0x") != licences.terms_hash(deal):
        return "the terms hash does not match the deal's terms"
    return None


async def _decide(
    conn: asyncpg.Connection, chain_id: int, confirmed: SettledLog, currency: str, now: datetime
) -> tuple[SightingStatus | None, Deal | None]:
    """Pay the deal with a confirmed log, or flag the log for review; once per log.

    What was decided now (None: decided before) and the deal as paid, if it was paid now.
    """
    earlier = await chain_store.sighting(conn, confirmed.tx_hash, confirmed.log_index, lock=True)
    if earlier is not None and earlier.status in {SightingStatus.PAID, SightingStatus.FLAGGED}:
        return None, None
    deal_id = deal_id_from_ref(_hex32(confirmed.deal_ref))
    deal = await deal_store.deal(conn, deal_id) if deal_id else None
    reason = _mismatch(deal, confirmed, currency)
    if deal is not None and reason is None:
        try:
            async with conn.transaction():  # a savepoint: a refused payment is flagged, the step goes on
                deal = await deals.record_payment(
                    conn, deal.id, method="chain", reference=f"{confirmed.tx_hash}:{confirmed.log_index}",
                    amount=Money(confirmed.amount, currency), now=now,
                )  # fmt: skip
        except (ValueError, LookupError) as refused:
            reason = f"the deal refused the payment: {refused}"
    status = SightingStatus.PAID if reason is None else SightingStatus.FLAGGED
    await chain_store.save_sighting(conn, chain_id, confirmed, deal_id=deal.id if deal else None, status=status, reason=reason, now=now)  # fmt: skip
    if reason is not None:
        log.warning("Settled log flagged for review", extra={"tx": confirmed.tx_hash, "reason": reason})
        if deal is not None:
            await append_audit(
                conn, "deal", deal.id, "chain_payment_flagged",
                {"tx_hash": confirmed.tx_hash, "log_index": confirmed.log_index, "reason": reason}, None,
            )  # fmt: skip
        return status, None
    return status, deal


async def deal_sightings(conn: asyncpg.Connection, caller: Principal, deal_id: UUID) -> list[Sighting]:
    """The Settled logs seen for a deal the caller is party to (buyer, seller or payee)."""
    found = await deal_store.deal(conn, deal_id)
    if found is None or not any(caller.acts_for(org) for org in found.organisations()):
        raise deals.DealNotFound(f"no deal {deal_id}")
    return await chain_store.deal_sightings(conn, deal_id)


# ---------------------------------------------------------------- audit anchoring and the admin's view


async def _anchor_contract(pool: asyncpg.Pool, client: ChainClient) -> Deployment | None:
    """The audit chain is anchored on one Settlement contract: the first currency's."""
    chain_id = await client.chain_id()
    async with pool.acquire() as conn:
        recorded = await chain_store.deployments(conn, chain_id)
    return recorded[0] if recorded else None


async def anchor_head(pool: asyncpg.Pool, client: ChainClient, head_hash: bytes, seq: int) -> str:
    """Record the audit chain's head on-chain; the transaction hash.

    Signed with the platform account; the contract refuses an anchor that does not move forward.
    """
    deployment = await _anchor_contract(pool, client)
    if deployment is None:
        raise ChainUnavailable("no Settlement contract is deployed to anchor on")
    contract = client.contract("Settlement", deployment.settlement_address)
    receipt = await client.send(platform_account(), contract.functions.anchor(head_hash, seq))
    tx_hash: str = receipt["transactionHash"].to_0x_hex()
    return tx_hash


async def anchored_heads(pool: asyncpg.Pool, client: ChainClient) -> list[AnchoredHead]:
    """Every audit head anchored on-chain, oldest first, with the time of the block that holds it."""
    deployment = await _anchor_contract(pool, client)
    if deployment is None:
        return []
    return await client.anchored_heads(deployment.settlement_address, deployment.deployed_block)


async def newest_anchored_head(pool: asyncpg.Pool, client: ChainClient) -> AnchoredHead | None:
    """The last head anchored: read from the contract's storage, timed by its one Anchored event."""
    deployment = await _anchor_contract(pool, client)
    if deployment is None:
        return None
    contract = client.contract("Settlement", deployment.settlement_address)
    seq = int(await client.read(contract.functions.anchored_seq()))
    if seq == 0:
        return None
    found = await client.anchored_heads(deployment.settlement_address, deployment.deployed_block, seq=seq)
    return found[-1] if found else None


async def overview(pool: asyncpg.Pool, client: ChainClient) -> ChainOverview:
    chain_id = await client.chain_id()
    async with pool.acquire() as conn:
        recorded = await chain_store.deployments(conn, chain_id)
        applied_to = await chain_store.applied_to(conn, chain_id)
        flagged = await chain_store.flagged(conn, chain_id)
    head = anchored_seq = anchored_head = None
    if recorded:
        head = await client.head()
        contract = client.contract("Settlement", recorded[0].settlement_address)
        anchored_seq = int(await client.read(contract.functions.anchored_seq())) or None
        if anchored_seq:
            anchored_head = bytes(await client.read(contract.functions.anchored_head())).hex()
    return ChainOverview(
        chain_id=chain_id, embedded=client.node.embedded, head_block=head, applied_to_block=applied_to,
        deployments=recorded, anchored_seq=anchored_seq, anchored_head=anchored_head, flagged=flagged,
    )  # fmt: skip
