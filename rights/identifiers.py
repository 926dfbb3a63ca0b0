"""Music industry identifiers, checked and written one way: ISRC, ISWC, IPI, ISNI and DDEX party ids.

Pure functions. Each returns the canonical spelling or raises `IdentifierError` saying what a valid one
looks like; callers prefix the element path or line. Canonical forms: ISRC `GBAYC1700598`, ISWC
`T1234567894` (the compact form CWR uses), IPI name number with 11 digits, ISNI with 16 characters.
"""

from __future__ import annotations

import re


class IdentifierError(ValueError):
    """An identifier that is not valid; the message quotes it and says the expected form."""


_ISRC = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")
_ISWC = re.compile(r"T([0-9]{9})([0-9])")
_ISNI = re.compile(r"[0-9]{15}[0-9X]")
_DPID = re.compile(r"PADPIDA[0-9A-Z]{1,20}")


def _compact(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value).upper()


def isrc(value: str) -> str:
    """`gb-ayc-17-00598` → `GBAYC1700598`."""
    compact = _compact(value)
    if not _ISRC.fullmatch(compact):
        raise IdentifierError(
            f"{value!r} is not an ISRC (two letters, three letters or digits, seven digits)"
        )
    return compact


def iswc_check_digit(nine_digits: str) -> int:
    """The ISWC check digit: 1 for the T plus each digit times its position, to the next multiple of 10."""
    total = 1 + sum(position * int(digit) for position, digit in enumerate(nine_digits, 1))
    return (10 - total % 10) % 10


def iswc(value: str) -> str:
    """`T-034.524.680-1` → `T0345246801`, refused when the check digit does not match."""
    compact = _compact(value)
    found = _ISWC.fullmatch(compact)
    if not found:
        raise IdentifierError(f"{value!r} is not an ISWC (T, nine digits and a check digit)")
    expected = iswc_check_digit(found.group(1))
    if int(found.group(2)) != expected:
        raise IdentifierError(f"{value!r} is not a valid ISWC: its check digit should be {expected}")
    return compact


def ipi(value: str) -> str:
    """An IPI name number, up to 11 digits, written with its leading zeros (`12345678` → `00012345678`)."""
    compact = _compact(value)
    if not compact.isdigit() or not 1 <= len(compact) <= 11 or not compact.isascii():
        raise IdentifierError(f"{value!r} is not an IPI name number (up to 11 digits)")
    return compact.zfill(11)


def isni_check_character(fifteen_digits: str) -> str:
    """ISO 7064 MOD 11-2, as ISNI uses it."""
    total = 0
    for digit in fifteen_digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def isni(value: str) -> str:
    """`0000 0001 2103 2683` → `0000000121032683`, refused when the check character does not match."""
    compact = _compact(value)
    if not _ISNI.fullmatch(compact):
        raise IdentifierError(f"{value!r} is not an ISNI (16 digits, the last may be X)")
    if isni_check_character(compact[:15]) != compact[15]:
        raise IdentifierError(f"{value!r} is not a valid ISNI: its check character does not match")
    return compact


def dpid(value: str) -> str:
    """A DDEX party id: PADPIDA and up to 20 capital letters or digits."""
    compact = value.strip()
    if not _DPID.fullmatch(compact):
        raise IdentifierError(f"{value!r} is not a DDEX party id (PADPIDA and capital letters or digits)")
    return compact
