"""The nouns of on-chain settlement: the node, a deployment, a Settled log, a sighting and what to sign."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec

MAX_PAYEES = 64  # Settlement.vy's cap: gas grows with every payee


class ChainNode(msgspec.Struct, frozen=True, kw_only=True):
    """The EVM node the marketplace settles on; `embedded` is the Anvil it started itself."""

    rpc_url: str
    embedded: bool
    confirmations: int


class Deployment(msgspec.Struct, frozen=True, kw_only=True):
    """The Settlement contract for one currency and the stablecoin it is paid in."""

    chain_id: int
    currency: str
    settlement_address: str
    token_address: str
    platform_address: str
    deployed_block: int
    deployed_at: datetime


class SettledLog(msgspec.Struct, frozen=True, kw_only=True):
    """One `Settled(deal_id, terms_hash, buyer, amount)` event as the node reports it now."""

    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    settlement_address: str
    deal_ref: str  # the bytes32 deal id, 0x-hex
    terms_hash: str  # 0x-hex
    buyer: str
    amount: int


class SightingStatus(enum.StrEnum):
    SEEN = "seen"  # in a block that does not yet have its confirmations
    PAID = "paid"  # confirmed and recorded as the deal's payment
    FLAGGED = "flagged"  # confirmed but not matching the deal: for review, not paid
    DROPPED = "dropped"  # vanished from the chain before its confirmations (a re-organisation)


class Sighting(msgspec.Struct, frozen=True, kw_only=True):
    """What the marketplace has recorded about one Settled log."""

    log: SettledLog
    deal_id: UUID | None
    status: SightingStatus
    reason: str | None
    seen_at: datetime
    decided_at: datetime | None


class ContractCall(msgspec.Struct, frozen=True, kw_only=True):
    """One transaction for the buyer's wallet to send: `data` to `to`."""

    description: str
    to: str
    data: str


class ChainPayment(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a wallet needs to pay a deal on-chain: approve the amount, then settle."""

    deal_id: UUID
    chain_id: int
    settlement_address: str
    token_address: str
    currency: str
    amount: int  # token units = the deal's minor units
    terms_hash: str
    payees: list[str]
    shares_bps: list[int]
    calls: list[ContractCall]
    demo_wallet: str | None  # the demo buyer's account, when the server may sign for it


class DemoPaymentReceipt(msgspec.Struct, frozen=True, kw_only=True):
    deal_id: UUID
    approve_tx: str
    settle_tx: str
    block_number: int


class PayoutBalance(msgspec.Struct, frozen=True, kw_only=True):
    """What an organisation's payout address may withdraw from one Settlement contract."""

    currency: str
    settlement_address: str
    address: str
    withdrawable: int


class AnchoredHead(msgspec.Struct, frozen=True, kw_only=True):
    """The audit chain's global head as the Settlement contract recorded it (`hash` is hex, no 0x)."""

    seq: int
    hash: str
    anchored_at: datetime


class ChainOverview(msgspec.Struct, frozen=True, kw_only=True):
    """For admins: the contracts, the listener's progress and the last anchored audit head."""

    chain_id: int
    embedded: bool
    head_block: int | None
    applied_to_block: int | None
    deployments: list[Deployment]
    anchored_seq: int | None
    anchored_head: str | None  # hex, as the audit log writes hashes
    flagged: list[Sighting]
