# pragma version 0.4.3
"""
@title Deal settlement
@notice Pulls a deal's price in one stablecoin from the buyer, credits each payee by its share
        (floored, the remainder to the first payee so credits sum exactly to the price) and lets
        payees withdraw their balance. The platform also anchors the audit chain's head here.
"""

from ethereum.ercs import IERC20

MAX_PAYEES: constant(uint256) = 64
WHOLE_BPS: constant(uint256) = 10000

event Settled:
    deal_id: indexed(bytes32)
    terms_hash: bytes32
    buyer: indexed(address)
    amount: uint256

event Withdrawn:
    payee: indexed(address)
    amount: uint256

event Anchored:
    head_hash: bytes32
    seq: indexed(uint256)

token: public(immutable(IERC20))
platform: public(immutable(address))

settled: public(HashMap[bytes32, bool])
balanceOf: public(HashMap[address, uint256])
anchored_head: public(bytes32)
anchored_seq: public(uint256)


@deploy
def __init__(stablecoin: IERC20):
    token = stablecoin
    platform = msg.sender


@external
@nonreentrant
def settle(
    deal_id: bytes32,
    terms_hash: bytes32,
    payees: DynArray[address, MAX_PAYEES],
    shares_bps: DynArray[uint256, MAX_PAYEES],
    amount: uint256,
):
    assert amount > 0, "the amount must be more than zero"
    assert not self.settled[deal_id], "this deal is already settled"
    assert len(payees) > 0, "a settlement needs at least one payee"
    assert len(payees) == len(shares_bps), "every payee needs exactly one share"

    # Effects first: record the deal and credit every payee, then pull the money.
    self.settled[deal_id] = True
    total_bps: uint256 = 0
    credited: uint256 = 0
    for i: uint256 in range(len(payees), bound=MAX_PAYEES):
        assert payees[i] != empty(address), "a payee is the zero address"
        total_bps += shares_bps[i]
        credit: uint256 = amount * shares_bps[i] // WHOLE_BPS
        self.balanceOf[payees[i]] += credit
        credited += credit
    assert total_bps == WHOLE_BPS, "the shares must sum to 10000 basis points"
    self.balanceOf[payees[0]] += amount - credited

    assert extcall token.transferFrom(msg.sender, self, amount, default_return_value=True), "the stablecoin transfer failed"
    log Settled(deal_id=deal_id, terms_hash=terms_hash, buyer=msg.sender, amount=amount)


@external
@nonreentrant
def withdraw():
    amount: uint256 = self.balanceOf[msg.sender]
    assert amount > 0, "there is nothing to withdraw"
    self.balanceOf[msg.sender] = 0
    assert extcall token.transfer(msg.sender, amount, default_return_value=True), "the stablecoin transfer failed"
    log Withdrawn(payee=msg.sender, amount=amount)


@external
def anchor(head_hash: bytes32, seq: uint256):
    assert msg.sender == platform, "only the platform anchors the audit chain"
    assert seq > self.anchored_seq, "an anchor must move the audit chain forward"
    self.anchored_head = head_hash
    self.anchored_seq = seq
    log Anchored(head_hash=head_hash, seq=seq)
