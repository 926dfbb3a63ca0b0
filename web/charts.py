"""Shapes for the small SVG charts the pages draw: who owns how much of each side of a track (pure)."""

from __future__ import annotations

import msgspec

from rights.clearance import Ownership, percent
from rights.model import FULL_SHARE_BP

PALETTE = ("#3b4fd8", "#17805a", "#a86206", "#8e44ad", "#c0392b", "#16a085", "#2c3e50", "#d35400")


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    share: str  # '50 %'
    x: float  # percent of the bar's width
    width: float
    colour: str


class OwnershipBar(msgspec.Struct, frozen=True, kw_only=True):
    """One side (master or publishing) in one set of territories: its owners side by side, then what nobody owns."""

    label: str
    segments: tuple[Segment, ...]
    unowned: str  # '' when the shares reach 100 %
    unowned_x: float


def ownership_bars(ownership: Ownership) -> list[OwnershipBar]:
    """A bar per slice of the ownership picture; one colour per party across all bars."""
    colours: dict[str, str] = {}
    bars = []
    for piece in ownership.slices:
        x = 0.0
        segments = []
        for holding in sorted(piece.holdings, key=lambda h: (-h.share_bp, h.party_name)):
            colour = colours.setdefault(holding.party_name, PALETTE[len(colours) % len(PALETTE)])
            width = holding.share_bp / 100
            segments.append(Segment(name=holding.party_name, share=percent(holding.share_bp), x=x, width=width,
                                    colour=colour))  # fmt: skip
            x += width
        missing = FULL_SHARE_BP - piece.total_bp
        bars.append(OwnershipBar(
            label=f"{piece.right.value.capitalize()} · {piece.territory}", segments=tuple(segments),
            unowned=percent(missing) if missing > 0 else "", unowned_x=min(x, 100.0),
        ))  # fmt: skip
    return bars
