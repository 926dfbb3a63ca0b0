"""The listener's decisions: confirmations, the cursor, and logs that vanish in a re-organisation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contracts.chain.follow import MAX_BLOCKS_PER_STEP, REWIND_BLOCKS, FollowStep, next_step, plan, rewind
from contracts.chain.model import SettledLog


def settled(block: int, index: int = 0, block_hash: str | None = None, tx: str | None = None) -> SettledLog:
    return SettledLog(
        tx_hash=tx or f"0x{block:064x}", log_index=index, block_number=block,
        block_hash=block_hash or f"0xb{block:063x}", settlement_address="0x" + "11" * 20,
        deal_ref="0x" + "00" * 32, terms_hash="0x" + "22" * 32, buyer="0x" + "33" * 20, amount=100,
    )  # fmt: skip


def test_a_log_in_the_head_block_has_one_confirmation() -> None:
    step = next_step(applied_to=9, head=10)
    decided = plan(applied_to=9, head=10, confirmations=1, step=step, logs=[settled(10)], seen=[])
    assert decided.confirm == [settled(10)]
    assert decided.applied_to == 10


def test_a_log_waits_for_its_confirmations_and_holds_the_cursor_below_it() -> None:
    step = next_step(applied_to=9, head=11)
    decided = plan(applied_to=9, head=11, confirmations=3, step=step, logs=[settled(10)], seen=[])
    assert decided.confirm == []
    assert decided.sight == [settled(10)]
    assert decided.applied_to == 9


def test_a_seen_log_that_vanished_is_dropped() -> None:
    step = next_step(applied_to=9, head=12)
    decided = plan(applied_to=9, head=12, confirmations=3, step=step, logs=[], seen=[settled(10)])
    assert decided.drop == [settled(10)]
    assert decided.applied_to == 10


def test_a_seen_log_moved_to_another_block_is_dropped_there_and_seen_anew() -> None:
    moved = settled(11, block_hash="0xnew", tx=settled(10).tx_hash)
    step = next_step(applied_to=9, head=11)
    decided = plan(applied_to=9, head=11, confirmations=3, step=step, logs=[moved], seen=[settled(10)])
    assert decided.drop == [settled(10)]
    assert decided.sight == [moved]


def test_a_chain_rewound_below_the_cursor_drops_every_sighting_and_keeps_the_cursor() -> None:
    step = next_step(applied_to=20, head=15)
    assert step.empty
    decided = plan(
        applied_to=20, head=15, confirmations=3, step=step, logs=[], seen=[settled(21), settled(22)]
    )
    assert decided.drop == [settled(21), settled(22)]
    assert decided.applied_to == 20


def test_a_long_outage_is_caught_up_in_bounded_steps() -> None:
    step = next_step(applied_to=0, head=10 * MAX_BLOCKS_PER_STEP)
    assert step == FollowStep(from_block=1, to_block=MAX_BLOCKS_PER_STEP)
    decided = plan(applied_to=0, head=10 * MAX_BLOCKS_PER_STEP, confirmations=1, step=step, logs=[], seen=[])
    assert decided.applied_to == MAX_BLOCKS_PER_STEP


@given(
    applied_to=st.integers(0, 100),
    ahead=st.integers(0, 50),
    confirmations=st.integers(1, 12),
    blocks=st.lists(st.integers(1, 50), max_size=10),
)
def test_every_log_read_is_confirmed_or_sighted_never_both_and_the_cursor_never_passes_a_sighting(
    applied_to: int, ahead: int, confirmations: int, blocks: list[int]
) -> None:
    head = applied_to + ahead
    step = next_step(applied_to, head)
    logs = [settled(applied_to + b, i) for i, b in enumerate(blocks) if applied_to + b <= step.to_block]
    decided = plan(
        applied_to=applied_to, head=head, confirmations=confirmations, step=step, logs=logs, seen=[]
    )
    assert sorted(decided.confirm + decided.sight, key=lambda log: log.log_index) == sorted(
        logs, key=lambda log: log.log_index
    )
    assert all(log.block_number <= decided.applied_to for log in decided.confirm)
    assert all(log.block_number > decided.applied_to for log in decided.sight)
    assert all(head - log.block_number + 1 >= confirmations for log in decided.confirm)
    assert decided.applied_to >= applied_to


def test_the_cursor_stands_while_its_block_is_unchanged() -> None:
    assert rewind(applied_to=50, head=60, hash_then="0xa", hash_now="0xa", floor=9) is None
    assert rewind(applied_to=50, head=60, hash_then=None, hash_now=None, floor=9) is None


def test_a_changed_or_vanished_cursor_block_reads_again_from_further_back_but_not_before_the_deployment() -> (
    None
):
    assert rewind(applied_to=500, head=600, hash_then="0xa", hash_now="0xb", floor=9) == 500 - REWIND_BLOCKS
    assert rewind(applied_to=500, head=480, hash_then="0xa", hash_now=None, floor=9) == 480 - REWIND_BLOCKS
    assert rewind(applied_to=30, head=20, hash_then="0xa", hash_now=None, floor=9) == 9
