"""Gas per Settlement.settle for 2, 8 and 64 payees, and per withdraw, on a throwaway Anvil.

Run with `python -m benchmarks.chain`. Gas is deterministic for a given compiler and payee count,
so one settlement per size is measured (first credits to each payee: the costly, cold-storage case)
and a second one to the same payees (warm storage).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
from pathlib import Path

from eth_account import Account

from contracts.chain.artifacts import compiler_version, load
from contracts.chain.client import ChainClient, anvil_account
from contracts.chain.model import ChainNode
from marketplace import anvil

SIZES = (2, 8, 64)


def shares(count: int) -> list[int]:
    base = [10_000 // count] * count
    base[0] += 10_000 - sum(base)
    return base


async def measure(url: str) -> list[tuple[str, int, int | None]]:
    client = ChainClient(ChainNode(rpc_url=url, embedded=True, confirmations=1))
    platform = anvil_account(0)
    token_address = (await client.deploy(platform, load("Stablecoin"), "Bench Euro", "bEUR"))[
        "contractAddress"
    ]
    settlement_address = (await client.deploy(platform, load("Settlement"), token_address))["contractAddress"]
    token = client.contract("Stablecoin", token_address)
    settlement = client.contract("Settlement", settlement_address)
    buyer = Account.create()
    await client.rpc("anvil_setBalance", buyer.address, hex(10**20))
    await client.send(platform, token.functions.mint(buyer.address, 10**12))
    await client.send(buyer, token.functions.approve(settlement_address, 10**12))
    rows: list[tuple[str, int, int | None]] = []
    for count in SIZES:
        payees = [Account.create() for _ in range(count)]
        addresses = [p.address for p in payees]
        gas = []
        for _ in ("cold", "warm"):
            receipt = await client.send(
                buyer,
                settlement.functions.settle(
                    secrets.token_bytes(32), bytes(32), addresses, shares(count), 1_234_567
                ),
            )
            gas.append(int(receipt["gasUsed"]))
        rows.append((f"settle, {count} payees", gas[0], gas[1]))
    payee = payees[0]
    await client.rpc("anvil_setBalance", payee.address, hex(10**18))
    receipt = await client.send(payee, settlement.functions.withdraw())
    rows.append(("withdraw", int(receipt["gasUsed"]), None))
    receipt = await client.send(platform, settlement.functions.anchor(bytes(32), 1))
    rows.append(("anchor (first)", int(receipt["gasUsed"]), None))
    return rows


def main() -> int:
    if anvil.anvil_binary() is None:
        print("Anvil is not installed: run `make` first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as data_dir:
        url = anvil.embedded_chain_url(Path(data_dir))
        try:
            rows = asyncio.run(measure(url))
        finally:
            anvil.release()
    print(f"vyper {compiler_version()}, Anvil {anvil.anvil_version()} defaults (latest hardfork)")
    print("| call | gas, payees' first credit | gas, payees already credited |")
    print("| --- | ---: | ---: |")
    for name, cold, warm in rows:
        print(f"| {name} | {cold:,} | {'' if warm is None else f'{warm:,}'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
