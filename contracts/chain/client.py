"""The node client: deploy contracts, build and send their calls, read Settled logs.

web3's AsyncWeb3 over HTTP JSON-RPC, so nothing blocks the event loop. Transactions are signed here with
a local key (the platform's, or a demo buyer's Anvil account) and sent raw, so any EVM node works.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError

from contracts.chain.artifacts import Artifact, load
from contracts.chain.model import AnchoredHead, ChainNode, SettledLog

# Anvil's published development mnemonic: its accounts are funded on every fresh Anvil, and their keys
# are public, which is why the demo wallet is refused anywhere but on the embedded node.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
PLATFORM_ACCOUNT_INDEX = 0
TX_TIMEOUT_SECONDS = 60
Account.enable_unaudited_hdwallet_features()


class ChainUnavailable(RuntimeError):
    """The node did not answer; nothing was recorded, try again later (503)."""

    status_code = 503


class ChainReverted(ValueError):
    """A call the contract refused; the message is the contract's reason, a sentence a person can read (409)."""

    status_code = 409


def anvil_account(index: int) -> LocalAccount:
    """Anvil's development account number `index` (0 is the platform on the embedded node)."""
    account: LocalAccount = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


def _reason(error: ContractLogicError) -> str:
    message = str(error.message or error)
    reason = message.removeprefix("execution reverted: ").removeprefix("execution reverted").strip()
    return reason or "the contract refused the call without giving a reason"


class ChainClient:
    """One node: its contracts, calls, transactions and logs."""

    def __init__(self, node: ChainNode) -> None:
        self.node = node
        self.web3 = AsyncWeb3(AsyncHTTPProvider(node.rpc_url, request_kwargs={"timeout": 10}))
        self.known_chain_id: int | None = None  # a node's chain id never changes: asked once

    async def close(self) -> None:
        """Close the HTTP session the provider keeps open."""
        await self.web3.provider.disconnect()

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except ContractLogicError as error:
            raise ChainReverted(_reason(error)) from error
        except Web3RPCError as error:  # the node answered, and refused (no gas money, a bad nonce, …)
            message = error.rpc_response.get("error", {}).get("message") if error.rpc_response else None
            raise ChainReverted(f"the chain node refused the transaction: {message or error}") from error
        except (OSError, TimeoutError, Web3Exception) as error:
            raise ChainUnavailable(
                f"the chain node at {self.node.rpc_url} did not answer: {error}"
            ) from error

    async def chain_id(self) -> int:
        if self.known_chain_id is None:
            self.known_chain_id = int(await self._call(self.web3.eth.chain_id))
        return self.known_chain_id

    async def head(self) -> int:
        found: int = await self._call(self.web3.eth.block_number)
        return found

    async def block_hash(self, number: int) -> str | None:
        """The hash of block `number` now, or None when there is no such block (yet, or any more)."""
        if number < 0:
            return None
        try:
            block = await self._call(self.web3.eth.get_block(number))
        except (ChainReverted, ChainUnavailable) as missing:  # nodes word "no such block" differently
            if "not found" in str(missing).lower():
                return None
            raise
        return str(block["hash"].to_0x_hex())

    async def has_code(self, address: str) -> bool:
        code: bytes = await self._call(self.web3.eth.get_code(self.web3.to_checksum_address(address)))
        return len(code) > 0

    def contract(self, name: str, address: str) -> Any:
        return self.web3.eth.contract(address=self.web3.to_checksum_address(address), abi=load(name).abi)

    async def read(self, function: Any) -> Any:
        """The result of a view call such as `contract.functions.balanceOf(address)`."""
        return await self._call(function.call())

    async def send(self, account: LocalAccount, function: Any) -> dict[str, Any]:
        """Sign and send one contract call (or constructor) from `account`; the receipt once mined.

        Gas is estimated first, so a call the contract refuses raises ChainReverted with its reason
        and spends nothing.
        """
        nonce = await self._call(self.web3.eth.get_transaction_count(account.address, "pending"))
        transaction = await self._call(function.build_transaction({"from": account.address, "nonce": nonce}))
        return await self._sign_and_send(account, transaction)

    async def send_transaction(self, account: LocalAccount, transaction: dict[str, Any]) -> dict[str, Any]:
        """Sign and send prepared call data (`to`, `data`) from `account`; the receipt once mined."""
        prepared = {**transaction, "from": account.address, "chainId": await self.chain_id()}
        prepared["nonce"] = await self._call(self.web3.eth.get_transaction_count(account.address, "pending"))
        prepared["gas"] = await self._call(self.web3.eth.estimate_gas(prepared))  # type: ignore[arg-type]
        prepared["gasPrice"] = await self._call(self.web3.eth.gas_price)
        return await self._sign_and_send(account, prepared)

    async def _sign_and_send(self, account: LocalAccount, transaction: dict[str, Any]) -> dict[str, Any]:
        signed = account.sign_transaction(transaction)
        tx_hash = await self._call(self.web3.eth.send_raw_transaction(signed.raw_transaction))
        receipt: dict[str, Any] = dict(
            await self._call(self.web3.eth.wait_for_transaction_receipt(tx_hash, timeout=TX_TIMEOUT_SECONDS))
        )
        if receipt["status"] != 1:
            raise ChainReverted(f"the transaction {tx_hash.to_0x_hex()} was reverted")
        return receipt

    async def deploy(self, account: LocalAccount, artifact: Artifact, *arguments: Any) -> dict[str, Any]:
        factory = self.web3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        return await self.send(account, factory.constructor(*arguments))

    async def settled_logs(
        self, addresses: Sequence[str], from_block: int, to_block: int
    ) -> list[SettledLog]:
        """Every Settled event the given Settlement contracts emitted in the block range."""
        if not addresses or to_block < from_block:
            return []
        event = self.contract("Settlement", addresses[0]).events.Settled
        raw = await self._call(
            self.web3.eth.get_logs(
                {
                    "address": [self.web3.to_checksum_address(a) for a in addresses],
                    "fromBlock": from_block,
                    "toBlock": to_block,
                    "topics": [event.topic],
                }
            )
        )
        found = []
        for entry in raw:
            decoded = event.process_log(entry)
            found.append(
                SettledLog(
                    tx_hash=entry["transactionHash"].to_0x_hex(),
                    log_index=entry["logIndex"],
                    block_number=entry["blockNumber"],
                    block_hash=entry["blockHash"].to_0x_hex(),
                    settlement_address=str(entry["address"]).lower(),
                    deal_ref="0x" + decoded["args"]["deal_id"].hex(),
                    terms_hash="0x" + decoded["args"]["terms_hash"].hex(),
                    buyer=str(decoded["args"]["buyer"]).lower(),
                    amount=int(decoded["args"]["amount"]),
                )
            )
        return found

    async def anchored_heads(
        self, settlement_address: str, from_block: int, *, seq: int | None = None
    ) -> list[AnchoredHead]:
        """The Anchored events of one Settlement contract (only the one for `seq`, if given), oldest first."""
        event = self.contract("Settlement", settlement_address).events.Anchored
        topics: list[Any] = [event.topic]
        if seq is not None:
            topics.append("0x" + seq.to_bytes(32, "big").hex())
        raw = await self._call(
            self.web3.eth.get_logs(
                {
                    "address": self.web3.to_checksum_address(settlement_address),
                    "fromBlock": from_block,
                    "toBlock": "latest",
                    "topics": topics,
                }
            )
        )
        stamps: dict[int, datetime] = {}
        heads = []
        for entry in raw:
            if entry["blockNumber"] not in stamps:
                block = await self._call(self.web3.eth.get_block(entry["blockNumber"]))
                stamps[entry["blockNumber"]] = datetime.fromtimestamp(block["timestamp"], UTC)
            decoded = event.process_log(entry)
            heads.append(
                AnchoredHead(
                    seq=int(decoded["args"]["seq"]),
                    hash=bytes(decoded["args"]["head_hash"]).hex(),
                    anchored_at=stamps[entry["blockNumber"]],
                )
            )
        return heads

    async def rpc(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call (Anvil's evm_snapshot, anvil_setBalance, …)."""
        reply = await self._call(self.web3.provider.make_request(method, list(params)))
        if "error" in reply:
            raise ChainUnavailable(f"{method} failed: {reply['error']}")
        return reply["result"]
