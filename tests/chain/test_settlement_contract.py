"""Settlement.vy on the session's Anvil: exact splits, refusals, pull payments, re-entrancy, anchoring."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.chain.artifacts import compile_source
from contracts.chain.client import ChainClient, ChainReverted, anvil_account
from contracts.chain.split import credits
from tests.chain.helpers import Deployed, deploy, funded_account, node, platform, random_address, settle

TEST_CONTRACTS = Path(__file__).parent / "contracts"


@pytest.fixture(scope="module")
async def client(chain: ChainClient) -> ChainClient:
    return chain


@pytest.fixture(scope="module")
async def deployed(client: ChainClient) -> Deployed:
    return await deploy(client)


def deal() -> bytes:
    return secrets.token_bytes(32)


async def balance(client: ChainClient, deployed: Deployed, address: str) -> int:
    contract = client.contract("Settlement", deployed.settlement)
    found: int = await contract.functions.balanceOf(client.web3.to_checksum_address(address)).call()
    return found


@st.composite
def shares(draw: st.DrawFn) -> list[int]:
    """Between 1 and 64 shares of basis points summing to exactly 10,000."""
    count = draw(st.integers(1, 64))
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, 10_000]
    return [bounds[i + 1] - bounds[i] for i in range(count)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(split=shares(), amount=st.integers(1, 10**15))
def test_credits_sum_exactly_to_the_amount_and_match_the_floor_rule(
    chain_rpc_url: str, split: list[int], amount: int
) -> None:
    async def run() -> None:
        client = ChainClient(node(chain_rpc_url))
        try:
            deployed = await deploy(client)
            buyer = await funded_account(client, deployed.token, amount)
            payees = [random_address() for _ in split]
            await settle(client, deployed, buyer, deal=deal(), payees=payees, shares=split, amount=amount)
            credited = [await balance(client, deployed, payee) for payee in payees]
        finally:
            await client.close()
        assert sum(credited) == amount
        assert credited == credits(amount, split)

    asyncio.run(run())


async def test_a_deal_settles_only_once(client: ChainClient, deployed: Deployed) -> None:
    buyer = await funded_account(client, deployed.token, 2_000)
    deal_id, payee = deal(), random_address()
    await settle(client, deployed, buyer, deal=deal_id, payees=[payee], shares=[10_000], amount=1_000)
    with pytest.raises(ChainReverted, match="already settled"):
        await settle(client, deployed, buyer, deal=deal_id, payees=[payee], shares=[10_000], amount=1_000)
    assert await balance(client, deployed, payee) == 1_000


@pytest.mark.parametrize("split", [[5_000, 4_999], [5_000, 5_001], [10_001], [0, 0]])
async def test_shares_not_summing_to_10000_are_refused(
    client: ChainClient, deployed: Deployed, split: list[int]
) -> None:
    buyer = await funded_account(client, deployed.token, 1_000)
    payees = [random_address() for _ in split]
    with pytest.raises(ChainReverted, match="sum to 10000"):
        await settle(client, deployed, buyer, deal=deal(), payees=payees, shares=split, amount=1_000)


async def test_more_than_64_payees_are_refused(client: ChainClient, deployed: Deployed) -> None:
    buyer = await funded_account(client, deployed.token, 1_000)
    split = [10_000 // 65] * 64 + [10_000 - 64 * (10_000 // 65)]
    with pytest.raises(ChainReverted):
        await settle(
            client,
            deployed,
            buyer,
            deal=deal(),
            payees=[random_address() for _ in split],
            shares=split,
            amount=1_000,
        )


async def test_a_zero_amount_is_refused(client: ChainClient, deployed: Deployed) -> None:
    buyer = await funded_account(client, deployed.token)
    with pytest.raises(ChainReverted, match="more than zero"):
        await settle(
            client, deployed, buyer, deal=deal(), payees=[random_address()], shares=[10_000], amount=0
        )


async def test_insufficient_allowance_and_balance_read_as_sentences(
    client: ChainClient, deployed: Deployed
) -> None:
    poor = await funded_account(client, deployed.token, 10)
    with pytest.raises(ChainReverted, match=r"^insufficient stablecoin balance$"):
        await settle(
            client, deployed, poor, deal=deal(), payees=[random_address()], shares=[10_000], amount=500
        )
    stingy = await funded_account(client, deployed.token, 1_000)
    with pytest.raises(ChainReverted, match=r"^insufficient stablecoin allowance$"):
        await settle(
            client,
            deployed,
            stingy,
            deal=deal(),
            payees=[random_address()],
            shares=[10_000],
            amount=500,
            approve=499,
        )


async def test_withdraw_pays_the_balance_and_zeroes_it(client: ChainClient, deployed: Deployed) -> None:
    buyer = await funded_account(client, deployed.token, 999)
    payee = await funded_account(client, deployed.token)
    await settle(client, deployed, buyer, deal=deal(), payees=[payee.address], shares=[10_000], amount=999)
    await client.send(payee, client.contract("Settlement", deployed.settlement).functions.withdraw())
    token = client.contract("Stablecoin", deployed.token)
    assert await token.functions.balanceOf(payee.address).call() == 999
    assert await balance(client, deployed, payee.address) == 0
    with pytest.raises(ChainReverted, match="nothing to withdraw"):
        await client.send(payee, client.contract("Settlement", deployed.settlement).functions.withdraw())


async def test_a_payee_re_entering_withdraw_gets_nothing_extra(client: ChainClient) -> None:
    hook_token = compile_source("HookToken", (TEST_CONTRACTS / "HookToken.vy").read_text())
    attacker_code = compile_source("ReentrantPayee", (TEST_CONTRACTS / "ReentrantPayee.vy").read_text())
    from contracts.chain.artifacts import load

    token_address = (await client.deploy(platform(), hook_token))["contractAddress"]
    settlement_address = (await client.deploy(platform(), load("Settlement"), token_address))[
        "contractAddress"
    ]
    attacker_address = (await client.deploy(platform(), attacker_code, settlement_address))["contractAddress"]
    token = client.web3.eth.contract(address=token_address, abi=hook_token.abi)
    attacker = client.web3.eth.contract(address=attacker_address, abi=attacker_code.abi)
    settlement = client.contract("Settlement", settlement_address)

    buyer = await funded_account(client, token_address)
    await client.send(platform(), token.functions.mint(buyer.address, 3_000))
    await client.send(buyer, token.functions.approve(settlement_address, 3_000))
    honest = random_address()
    for share_of_attacker in (1_000, 2_000):  # two deals: other payees' money sits in the contract too
        await client.send(
            buyer,
            settlement.functions.settle(
                deal(), b"\x00" * 32, [attacker_address, client.web3.to_checksum_address(honest)],
                [10_000, 0] if share_of_attacker == 1_000 else [0, 10_000], share_of_attacker,
            ),
        )  # fmt: skip

    await client.send(platform(), attacker.functions.pull())

    assert await attacker.functions.reentry_attempts().call() == 1
    assert await attacker.functions.reentry_succeeded().call() == 0
    assert await token.functions.balanceOf(attacker_address).call() == 1_000
    assert await settlement.functions.balanceOf(attacker_address).call() == 0
    assert await token.functions.balanceOf(settlement_address).call() == 2_000


async def test_only_the_platform_anchors_and_anchors_move_forward(
    client: ChainClient, deployed: Deployed
) -> None:
    settlement = client.contract("Settlement", deployed.settlement)
    seq = await settlement.functions.anchored_seq().call() + 1
    with pytest.raises(ChainReverted, match="only the platform"):
        await client.send(anvil_account(7), settlement.functions.anchor(b"\x01" * 32, seq))
    await client.send(platform(), settlement.functions.anchor(b"\x02" * 32, seq))
    assert await settlement.functions.anchored_head().call() == b"\x02" * 32
    with pytest.raises(ChainReverted, match="forward"):
        await client.send(platform(), settlement.functions.anchor(b"\x03" * 32, seq))
