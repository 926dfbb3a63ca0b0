"""Deploying the contracts on the session's Anvil and funding fresh accounts, for the chain tests."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from eth_account import Account
from eth_account.signers.local import LocalAccount

from contracts.chain.artifacts import load
from contracts.chain.client import PLATFORM_ACCOUNT_INDEX, ChainClient, anvil_account
from contracts.chain.model import ChainNode

ONE_ETHER = 10**18


class Deployed(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    settlement: str


def node(rpc_url: str, confirmations: int = 1) -> ChainNode:
    return ChainNode(rpc_url=rpc_url, embedded=True, confirmations=confirmations)


def platform() -> LocalAccount:
    return anvil_account(PLATFORM_ACCOUNT_INDEX)


async def deploy(client: ChainClient) -> Deployed:
    token = await client.deploy(platform(), load("Stablecoin"), "Test Euro", "tEUR")
    settlement = await client.deploy(platform(), load("Settlement"), token["contractAddress"])
    return Deployed(token=token["contractAddress"], settlement=settlement["contractAddress"])


async def funded_account(client: ChainClient, token: str, units: int = 0) -> LocalAccount:
    """A fresh account with gas money and `units` of the stablecoin."""
    account: LocalAccount = Account.create()
    await client.rpc("anvil_setBalance", account.address, hex(ONE_ETHER))
    if units:
        await client.send(
            platform(), client.contract("Stablecoin", token).functions.mint(account.address, units)
        )
    return account


def random_address() -> str:
    return "0x" + secrets.token_hex(20)


async def settle(
    client: ChainClient,
    deployed: Deployed,
    buyer: LocalAccount,
    *,
    deal: bytes,
    payees: list[str],
    shares: list[int],
    amount: int,
    approve: int | None = None,
) -> dict[str, Any]:
    token = client.contract("Stablecoin", deployed.token)
    await client.send(
        buyer, token.functions.approve(deployed.settlement, amount if approve is None else approve)
    )
    settlement = client.contract("Settlement", deployed.settlement)
    checksummed = [client.web3.to_checksum_address(p) for p in payees]
    return await client.send(
        buyer, settlement.functions.settle(deal, b"\x11" * 32, checksummed, shares, amount)
    )
