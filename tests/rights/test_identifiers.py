"""ISRC, ISWC, IPI, ISNI and DDEX party ids: one canonical spelling each, and invalid ones refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rights import identifiers
from rights.identifiers import IdentifierError


def test_isrc_is_written_without_hyphens_in_capitals() -> None:
    assert identifiers.isrc("gb-ayc-17-00598") == "GBAYC1700598"


@pytest.mark.parametrize("bad", ["GBAYC170059", "1BAYC1700598", "GBAYC17005980", ""])
def test_a_malformed_isrc_is_refused(bad: str) -> None:
    with pytest.raises(IdentifierError, match="is not an ISRC"):
        identifiers.isrc(bad)


def test_iswc_check_digit_is_verified() -> None:
    assert identifiers.iswc("T-034.524.680-1") == "T0345246801"
    with pytest.raises(IdentifierError, match="its check digit should be 1"):
        identifiers.iswc("T-034.524.680-2")


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_every_iswc_with_its_own_check_digit_is_accepted_and_any_other_digit_refused(digits: str) -> None:
    check = identifiers.iswc_check_digit(digits)
    assert identifiers.iswc(f"T-{digits[:3]}.{digits[3:6]}.{digits[6:]}-{check}") == f"T{digits}{check}"
    with pytest.raises(IdentifierError):
        identifiers.iswc(f"T{digits}{(check + 1) % 10}")


def test_ipi_name_numbers_keep_their_leading_zeros() -> None:
    assert identifiers.ipi("12345678") == "00012345678"
    with pytest.raises(IdentifierError, match="is not an IPI name number"):
        identifiers.ipi("123456789012")


def test_isni_check_character_is_verified() -> None:
    assert identifiers.isni("0000 0001 2103 2683") == "0000000121032683"
    with pytest.raises(IdentifierError, match="check character"):
        identifiers.isni("0000000121032684")


def test_dpid_needs_its_prefix() -> None:
    assert identifiers.dpid("PADPIDA2013042401U") == "PADPIDA2013042401U"
    with pytest.raises(IdentifierError):
        identifiers.dpid("PADPIDAx")
