"""Which passwords are refused: too short, or among the commonly used ones attackers try first."""

from __future__ import annotations

import re
from functools import cache

from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 12
_SEPARATORS = re.compile(r"[\s\-_.]+")


@cache
def _common() -> frozenset[str]:
    # zxcvbn ships the 30,000 most used passwords of the leaked-password corpora, lower-cased.
    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str) -> str | None:
    """Why `password` is refused, as a sentence for the person choosing it, or None when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"the password must be at least {MIN_LENGTH} characters long"
    lowered = password.lower()
    if lowered in _common() or _SEPARATORS.sub("", lowered) in _common():
        return "this password is on the list of commonly used passwords attackers try first: choose another"
    return None
