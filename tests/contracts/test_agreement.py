"""The agreement: the page and the PDF say the same thing, in any script a party's name uses."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from contracts.agreement import agreement, render_pdf
from contracts.licences import AGREEMENT_FONT
from contracts.model import LicenceStatus
from tests.contracts.factories import PAID_AT, paid_deal, terms_of


def _agreement(status: LicenceStatus = LicenceStatus.VALID):  # type: ignore[no-untyped-def]
    terms = terms_of(paid_deal())
    return agreement(terms, status=status, issued_at=PAID_AT, terms_sha256="ab" * 32,
                     verify_url=f"/licences/{terms.licence_id}/verify")  # fmt: skip


def _lines(status: LicenceStatus = LicenceStatus.VALID) -> dict[str, str]:
    return {line.label: line.value for s in _agreement(status).sections for line in s.lines}


def test_the_agreement_names_parties_track_codes_use_and_fee() -> None:
    lines = _lines()
    assert lines["Licensor"] == "Zoë Records" and lines["Licensee"] == "Brightside Agency"
    assert lines["ISRC"] == "GBAYE2600123" and lines["ISWC"] == "T-345.246.800-1"
    assert lines["Fee"] == "1,234.50 EUR"
    assert lines["Term"] == "2027-01-31 to 2028-01-30 (12 months)"
    assert lines["Payment reference"] == "pi_3Qabc"
    assert lines["Harbour Songs €uro"].startswith("30.00 % of the fee")


def test_a_revoked_licence_says_so() -> None:
    assert _lines(LicenceStatus.REVOKED)["Status"] == "revoked (refunded)"


@pytest.mark.skipif(
    not AGREEMENT_FONT.exists(), reason="fonts-dejavu-core is not installed (.ci/run installs it)"
)
def test_the_pdf_prints_parties_isrc_fee_and_non_latin_characters() -> None:
    pdf = render_pdf(_agreement(), AGREEMENT_FONT)
    text = " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(pdf)).pages)
    text = " ".join(text.split())
    for expected in ("Zoë Records", "Brightside Agency", "GBAYE2600123", "T-345.246.800-1", "1,234.50 EUR",
                     "Harbour Songs €uro", "pi_3Qabc"):  # fmt: skip
        assert expected in text, expected
