"""Rights data from files: what an import produces, and how a bad file is reported."""

from __future__ import annotations

from datetime import date

import msgspec

from rights.model import AdministrationEdge, ControlEdge, Party, Recording, Release, UnknownShare, Work

# Split sheets and DDEX messages rarely date a share; an undated share counts as held since then.
UNDATED_START = date(1900, 1, 1)


class ImportFailed(ValueError):
    """A file that cannot be imported; `errors` name the line or element and what is wrong with it."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = "; ".join(errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        super().__init__(f"the file cannot be imported: {shown}{more}")


class ImportBatch(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one file describes. Ids are fresh; the service matches parties to known ones by IPI/ISNI."""

    parties: tuple[Party, ...] = ()
    works: tuple[Work, ...] = ()
    recordings: tuple[Recording, ...] = ()
    control: tuple[ControlEdge, ...] = ()
    administration: tuple[AdministrationEdge, ...] = ()
    unknown_shares: tuple[UnknownShare, ...] = ()
    releases: tuple[Release, ...] = ()
    warnings: tuple[str, ...] = ()
