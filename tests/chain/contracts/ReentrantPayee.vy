# pragma version 0.4.3
"""
@title A payee that tries to withdraw again while its withdrawal is being paid
"""

settlement: public(address)
reentry_attempts: public(uint256)
reentry_succeeded: public(uint256)


@deploy
def __init__(target: address):
    self.settlement = target


@external
def pull():
    raw_call(self.settlement, method_id("withdraw()"))


@external
def on_token_received(amount: uint256):
    if self.reentry_attempts > 0:
        return
    self.reentry_attempts += 1
    if raw_call(self.settlement, method_id("withdraw()"), revert_on_failure=False):
        self.reentry_succeeded += 1
