"""CSV split sheets: one row per share of a recording's master or a work's publishing.

Columns (header row required, order free): `right` (master|publishing), `party`, `share` (percent,
up to two decimals), and for the subject `isrc`/`recording_title` (master) or `iswc`/`work_title`
(publishing). Optional: `ipi`, `isni`, `territories` and `exclude` (codes separated by spaces or
semicolons; WORLD by default), `start` and `end` (ISO dates), `administrator` (a party that
administers this share in the row's territories), `track_id` (the catalogue track of the recording).
A row naming both a recording and a work links them.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal, InvalidOperation
from uuid import UUID, uuid4

from rights.clearance import split_problems
from rights.imports import UNDATED_START, ImportBatch, ImportFailed
from rights.model import (
    AdministrationEdge,
    ControlEdge,
    Party,
    Period,
    Recording,
    Right,
    RightsError,
    TrackRights,
    Work,
)
from rights.territories import COUNTRIES, TerritoryError, TerritoryScope

REQUIRED = ("right", "party", "share")
KNOWN = (*REQUIRED, "isrc", "recording_title", "iswc", "work_title", "ipi", "isni", "territories",
         "exclude", "start", "end", "administrator", "track_id")  # fmt: skip
_SEPARATORS = re.compile(r"[;\s]+")


def _codes(text: str) -> tuple[str, ...]:
    return tuple(c for c in _SEPARATORS.split(text) if c)


def _share_bp(text: str) -> int:
    try:
        percent = Decimal(text.strip().rstrip("%").strip())
    except InvalidOperation:
        raise ValueError(f"share {text!r} is not a number") from None
    bp = percent * 100
    if bp != bp.to_integral_value():
        raise ValueError(f"share {text!r} has more than two decimals")
    if not 0 < bp <= 10_000:
        raise ValueError(f"share {text!r} must be a percentage above 0 and at most 100")
    return int(bp)


def _date(text: str, column: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a date like 2026-01-31") from None


class _Sheet:
    """The parties, works and recordings named so far, each found again by its identifier or title."""

    def __init__(self) -> None:
        self.parties: dict[str, Party] = {}
        self.works: dict[str, Work] = {}
        self.recordings: dict[str, Recording] = {}
        self.lines: dict[UUID, list[int]] = defaultdict(list)

    def party(self, name: str, ipi: str = "", isni: str = "") -> Party:
        key = f"ipi:{ipi}" if ipi else f"name:{name.casefold()}"
        if key not in self.parties:
            self.parties[key] = Party(id=uuid4(), name=name, ipi=ipi or None, isni=isni or None)
        return self.parties[key]

    def work(self, iswc: str, title: str) -> Work:
        key = f"iswc:{iswc}" if iswc else f"title:{title.casefold()}"
        if key not in self.works:
            self.works[key] = Work(id=uuid4(), title=title or iswc, iswc=iswc or None)
        return self.works[key]

    def recording(self, isrc: str, title: str, track_id: UUID | None, work: Work | None) -> Recording:
        key = f"isrc:{isrc}" if isrc else f"title:{title.casefold()}"
        known = self.recordings.get(key) or Recording(id=uuid4(), title=title or isrc, isrc=isrc or None)
        if track_id and known.track_id and known.track_id != track_id:
            raise ValueError(f"recording {known.title!r} is linked to two different tracks")
        if work and known.work_id and known.work_id != work.id:
            raise ValueError(f"recording {known.title!r} is linked to two different works")
        self.recordings[key] = Recording(
            id=known.id, title=known.title, isrc=known.isrc,
            work_id=work.id if work else known.work_id, track_id=track_id or known.track_id,
        )  # fmt: skip
        return self.recordings[key]


def parse_split_sheet(text: str) -> ImportBatch:
    """Parse a CSV split sheet; every bad cell is reported with its line, and nothing is returned then."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFailed([f"line 1: missing column(s) {', '.join(missing)}"])
    unknown = [h for h in header if h not in KNOWN]
    if unknown:
        raise ImportFailed(
            [f"line 1: unknown column(s) {', '.join(unknown)}; the columns are {', '.join(KNOWN)}"]
        )
    reader.fieldnames = header
    sheet = _Sheet()
    control: list[ControlEdge] = []
    administration: list[AdministrationEdge] = []
    errors: list[str] = []
    for row in reader:
        line = reader.line_num
        cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
        try:
            edge, administered = _row(sheet, cells)
        except (ValueError, RightsError, TerritoryError) as exc:
            errors.append(f"line {line}: {exc}")
            continue
        control.append(edge)
        if administered:
            administration.append(administered)
        sheet.lines[edge.subject_id].append(line)
    if not control and not errors:
        errors.append("the split sheet has no rows")
    warnings = _check_sums(sheet, control, administration, errors)
    if errors:
        raise ImportFailed(errors)
    return ImportBatch(
        parties=tuple(sheet.parties.values()),
        works=tuple(sheet.works.values()),
        recordings=tuple(sheet.recordings.values()),
        control=tuple(control),
        administration=tuple(administration),
        warnings=tuple(warnings),
    )


def _row(sheet: _Sheet, cells: dict[str, str]) -> tuple[ControlEdge, AdministrationEdge | None]:
    try:
        right = Right(cells["right"].lower())
    except ValueError:
        raise ValueError(f"right must be master or publishing, got {cells['right']!r}") from None
    if not cells["party"]:
        raise ValueError("party is empty")
    share = _share_bp(cells["share"])
    track_id = None
    if cells.get("track_id"):
        try:
            track_id = UUID(cells["track_id"])
        except ValueError:
            raise ValueError(f"track_id {cells['track_id']!r} is not a UUID") from None
    has_work = bool(cells.get("iswc") or cells.get("work_title"))
    has_recording = bool(cells.get("isrc") or cells.get("recording_title"))
    if right is Right.PUBLISHING and not has_work:
        raise ValueError("a publishing share needs iswc or work_title")
    if right is Right.MASTER and not has_recording:
        raise ValueError("a master share needs isrc or recording_title")
    work = sheet.work(cells.get("iswc", ""), cells.get("work_title", "")) if has_work else None
    recording = (
        sheet.recording(cells.get("isrc", ""), cells.get("recording_title", ""), track_id, work)
        if has_recording
        else None
    )
    subject = recording.id if right is Right.MASTER and recording else work.id if work else None
    assert subject is not None
    territories = TerritoryScope(
        include=_codes(cells.get("territories", "")) or ("WORLD",), exclude=_codes(cells.get("exclude", ""))
    )
    period = Period(
        start=_date(cells.get("start", ""), "start") or UNDATED_START, end=_date(cells.get("end", ""), "end")
    )
    owner = sheet.party(cells["party"], cells.get("ipi", ""), cells.get("isni", ""))
    edge = ControlEdge(id=uuid4(), party_id=owner.id, subject_id=subject, right=right, share_bp=share,
                       territories=territories, period=period)  # fmt: skip
    if not cells.get("administrator"):
        return edge, None
    administrator = sheet.party(cells["administrator"])
    administered = AdministrationEdge(id=uuid4(), administrator_id=administrator.id, administered_id=owner.id,
                                      subject_id=subject, territories=territories, period=period)  # fmt: skip
    return edge, administered


def _check_sums(
    sheet: _Sheet, control: list[ControlEdge], administration: list[AdministrationEdge], errors: list[str]
) -> list[str]:
    """Overlaps and broken chains are errors (the sheet contradicts itself); gaps are only warnings."""
    parties = {p.id: p for p in sheet.parties.values()}
    warnings = []
    subjects: list[tuple[str, Recording | None, Work | None]] = [
        *((f"recording {r.title!r}", r, None) for r in sheet.recordings.values()),
        *((f"work {w.title!r}", None, w) for w in sheet.works.values()),
    ]
    for label, recording, work in subjects:
        subject_id = recording.id if recording else work.id if work else None
        right = Right.MASTER if recording else Right.PUBLISHING
        edges = tuple(e for e in control if e.subject_id == subject_id)
        if not edges:
            continue
        snapshot = TrackRights(
            track_id=uuid4(), recording=recording, work=work, parties=parties, control=edges,
            administration=tuple(a for a in administration if a.subject_id == subject_id),
        )  # fmt: skip
        start = min(e.period.start for e in edges)
        lines = ", ".join(str(n) for n in sorted(set(sheet.lines[edges[0].subject_id])))
        for problem in split_problems(snapshot, Period(start=start), COUNTRIES):
            if problem.right is not right:
                continue
            if problem.kind == "gap":
                warnings.append(f"{label}: {problem.message}")
            else:
                errors.append(f"lines {lines}: {label}: {problem.message}")
    return warnings
