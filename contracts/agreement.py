"""The licence agreement as people read it: sections of labelled lines, rendered to HTML and to PDF.

Both renderings come from `agreement(...)`, so the page and the PDF cannot say different things.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec
from fpdf import FPDF

from contracts.model import LicenceStatus, LicenceTerms
from rights.terms import Money

SOURCES = {
    "round": "won in a licensing round",
    "negotiation": "agreed in a negotiation",
    "quote": "bought at a quoted price",
}
SIDES = {"master": "master recording", "publishing": "composition (publishing)"}


class Line(msgspec.Struct, frozen=True):
    label: str
    value: str


class Section(msgspec.Struct, frozen=True):
    heading: str
    lines: tuple[Line, ...]


class Agreement(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    summary: str
    sections: tuple[Section, ...]
    footer: str


def _bps(share_bps: int) -> str:
    whole, rest = divmod(share_bps, 100)
    return f"{whole}.{rest:02d} %"


def agreement(
    terms: LicenceTerms, *, status: LicenceStatus, issued_at: datetime, terms_sha256: str, verify_url: str
) -> Agreement:
    agreed = terms.agreed
    fee: Money = agreed.fee
    track = terms.track
    shares = tuple(
        Line(
            f"{s.party_name}", f"{_bps(s.share_bps)} of the fee · {SIDES.get(s.side, s.side)} · {s.territory}"
        )
        for s in agreed.shares
    )
    return Agreement(
        title=f"Sync licence: “{track.title}” by {track.artist}",
        summary=(
            f"{terms.licensor.name} (the licensor) grants {terms.licensee.name} (the licensee) a "
            f"{'exclusive' if agreed.exclusive else 'non-exclusive'} licence to synchronise the recording "
            f"below in {agreed.media.replace('_', ' ')} in {', '.join(agreed.territories)} from "
            f"{agreed.term.start} to {agreed.term.end}, for a fee of {fee.display()}."
        ),
        sections=(
            Section("Parties", (
                Line("Licensor", terms.licensor.name),
                Line("Licensee", terms.licensee.name),
            )),
            Section("Track", (
                Line("Title", track.title),
                Line("Artist", track.artist),
                Line("ISRC", track.isrc or "not registered"),
                Line("ISWC", track.iswc or "not registered"),
            )),
            Section("Use", (
                Line("Media", agreed.media.replace("_", " ")),
                Line("Territories", ", ".join(agreed.territories)),
                Line("Term", f"{agreed.term.start} to {agreed.term.end} ({agreed.term.months} months)"),
                Line("Exclusivity", "exclusive" if agreed.exclusive else "non-exclusive"),
            )),
            Section("Fee and payment", (
                Line("Fee", fee.display()),
                Line("Agreed", SOURCES.get(agreed.mechanism.source, agreed.mechanism.source)),
                Line("Payment reference", terms.payment_reference or "none recorded"),
            )),
            Section("Rights holders paid from the fee", shares or (Line("Shares", "none recorded"),)),
            Section("Licence", (
                Line("Licence", str(terms.licence_id)),
                Line("Status", "valid" if status is LicenceStatus.VALID else "revoked (refunded)"),
                Line("Issued", issued_at.strftime("%Y-%m-%d %H:%M UTC")),
                Line("Terms SHA-256", terms_sha256),
                Line("Verify at", verify_url),
            )),
        ),
        footer=(
            "The signed certificate of this licence can be checked by anyone against the marketplace's "
            "published key at the address above."
        ),
    )  # fmt: skip


def render_pdf(document: Agreement, font: Path) -> bytes:
    """The agreement as a PDF set in `font` (a Unicode TrueType font, so 'Zoë' and '€' print)."""
    pdf = FPDF(format="A4")
    pdf.set_title(document.title)
    pdf.set_creator("Cue")
    pdf.add_font("Body", "", str(font))
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    width = pdf.epw
    pdf.set_font("Body", size=16)
    pdf.multi_cell(width, 8, document.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Body", size=10)
    pdf.multi_cell(width, 5, document.summary, new_x="LMARGIN", new_y="NEXT")
    for section in document.sections:
        pdf.ln(4)
        pdf.set_font("Body", size=12)
        pdf.cell(width, 7, section.heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Body", size=9)
        for line in section.lines:
            pdf.cell(45, 5, line.label)
            pdf.multi_cell(width - 45, 5, line.value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Body", size=8)
    pdf.multi_cell(width, 4, document.footer, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
