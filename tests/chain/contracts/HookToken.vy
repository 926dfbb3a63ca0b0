# pragma version 0.4.3
"""
@title A stablecoin that calls the receiver of every transfer (as ERC-777 style tokens do)
@notice Only for tests: it gives a malicious payee the chance to re-enter Settlement.withdraw.
"""

interface Receiver:
    def on_token_received(amount: uint256): nonpayable

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@external
def mint(receiver: address, amount: uint256):
    self.balanceOf[receiver] += amount


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    return True


@internal
def _move(sender: address, receiver: address, amount: uint256):
    assert self.balanceOf[sender] >= amount, "insufficient stablecoin balance"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._move(msg.sender, receiver, amount)
    if receiver.is_contract:
        extcall Receiver(receiver).on_token_received(amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    assert self.allowance[sender][msg.sender] >= amount, "insufficient stablecoin allowance"
    self.allowance[sender][msg.sender] -= amount
    self._move(sender, receiver, amount)
    return True
