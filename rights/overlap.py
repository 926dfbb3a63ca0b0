"""When two usages of one track collide: the same medium, a country in common and terms that share a day.

Two sales may run side by side unless they collide and one of them is exclusive: an exclusive licence
promises the licensee that nobody else uses the track that way, there and then.
"""

from __future__ import annotations

from rights.model import Period
from rights.terms import Usage
from rights.territories import describe, resolve


def term_of(usage: Usage) -> Period:
    return Period.for_term(usage.start, usage.term_months)


def overlap(a: Usage, b: Usage) -> bool:
    """True when both usages cover the same medium in some country on some day."""
    return (
        a.media == b.media
        and not resolve(a.territories).isdisjoint(resolve(b.territories))
        and term_of(a).overlaps(term_of(b))
    )


def exclusive_conflict(a: Usage, b: Usage) -> bool:
    """True when the usages overlap and either is exclusive, so they cannot both be sold."""
    return (a.exclusive or b.exclusive) and overlap(a, b)


def describe_usage(usage: Usage) -> str:
    """'an exclusive online ads licence in the US from 2027-01-01 to 2027-12-31'."""
    term = term_of(usage)
    kind = "an exclusive" if usage.exclusive else "a non-exclusive"
    return f"{kind} {usage.media.value.replace('_', ' ')} licence {_where(usage)} from {term.start} to {term.end}"


def _where(usage: Usage) -> str:
    text = describe(resolve(usage.territories))
    return text if text.startswith("worldwide") else f"in {text}"
