"""Chart shapes: the ownership bar lays owners side by side and shows what nobody owns; waveform peaks."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from discovery.waveform import peaks
from rights.clearance import Holding, Ownership, OwnershipSlice
from rights.model import Period, Right
from web.charts import ownership_bars


def _holding(name: str, share_bp: int) -> Holding:
    party = uuid4()
    return Holding(party_id=party, party_name=name, share_bp=share_bp, administrators=(), controller_id=party,
                   controller_name=name)  # fmt: skip


def test_owners_sit_side_by_side_largest_first_and_the_gap_is_unowned() -> None:
    piece = OwnershipSlice(
        right=Right.PUBLISHING, countries=("DE",), territory="DE", period=Period(start=date(2026, 1, 1)),
        holdings=(_holding("Harbour Songs", 2_500), _holding("Northern Lights", 5_000)), total_bp=7_500,
    )  # fmt: skip
    [bar] = ownership_bars(Ownership(slices=(piece,), problems=()))
    assert bar.label == "Publishing · DE"
    assert [(s.name, s.share, s.x, s.width) for s in bar.segments] == [
        ("Northern Lights", "50 %", 0.0, 50.0), ("Harbour Songs", "25 %", 50.0, 25.0),
    ]  # fmt: skip
    assert (bar.unowned, bar.unowned_x) == ("25 %", 75.0)


@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=2_000), st.integers(1, 300))
def test_peaks_are_one_per_slice_between_zero_and_one_with_the_loudest_at_one(
    samples: list[float], bars: int
) -> None:
    audio = np.asarray(samples, dtype=np.float32)
    found = peaks(audio, bars)
    assert len(found) == min(bars, len(samples))
    assert all(0 <= p <= 1 for p in found)
    assert max(found) == 1 or not audio.any()
