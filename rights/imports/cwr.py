"""CWR 2.1 and 2.2 work registrations (CISAC Common Works Registration), read and written.

Fixed-width records, positions as in the CISAC record layouts (1-based, inclusive). Read: NWR and REV
(works), SPU (publishers of the chain; type E original, AM administrator, SE sub-publisher), SPT
(publisher territories), SWR (controlled writers), SWT (writer territories), PWR (writer to publisher).
The publishing side of a sync licence is the synchronisation right, so each party's share is its SR
ownership share; a transaction that gives no SR share at all is read by its PR ownership shares.
An SE or AM publisher administers the original publisher of its chain (an administration edge on the
work) in the territories of its SPT records. Written: CWR 2.1 with the same records, so that a file
written here and read back changes nothing.

Pure: parse text into an `ImportBatch`, render stored works into text; the service does the rest.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID, uuid4

from rights import identifiers
from rights.identifiers import IdentifierError
from rights.imports import UNDATED_START, ImportBatch, ImportFailed
from rights.model import (
    AdministrationEdge,
    ControlEdge,
    Party,
    PartyKind,
    Period,
    Right,
    Work,
)
from rights.territories import COUNTRIES, TIS_NUMERIC, WORLD, TerritoryScope, normalise

SUPPORTED_VERSIONS = {"01.10": "2.1", "02.10": "2.1", "02.20": "2.2", "02.2": "2.2"}
ADMINISTRATOR_TYPES = frozenset({"AM", "SE", "ES"})
_NUMERIC_OF = {alpha: number for number, alpha in TIS_NUMERIC.items() if alpha != WORLD}
WORLD_TIS = "2136"


def _field(line: str, start: int, length: int) -> str:
    return line[start - 1 : start - 1 + length].strip()


def _share(text: str) -> int:
    """A CWR share (three digits and two implied decimals, 05000 = 50.00 %) in basis points."""
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"share {text!r} is not five digits")
    value = int(text)
    if value > 10_000:
        raise ValueError(f"share {text!r} is above 100 %")
    return value


@dataclasses.dataclass
class _Holder:
    """A writer or publisher of one work as the file states it."""

    party: Party
    ip_number: str  # the file's interested party number
    publisher_type: str  # "" for a writer
    chain: str  # publisher sequence number; for a writer, the chain of its PWR
    pr_bp: int
    sr_bp: int
    include: list[str] = dataclasses.field(default_factory=list)
    exclude: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Transaction:
    line: int
    work: Work
    holders: list[_Holder] = dataclasses.field(default_factory=list)


class _Reader:
    def __init__(self, sender: str) -> None:
        self.sender = sender
        self.errors: list[str] = []
        self.parties: dict[str, Party] = {}  # by interested party number
        self.by_ipi: dict[str, Party] = {}
        self.transactions: list[_Transaction] = []

    def fail(self, number: int, record: str, message: str) -> None:
        self.errors.append(f"line {number} ({record}): {message}")

    def party(self, ip_number: str, name: str, ipi: str, kind: PartyKind) -> Party:
        if ipi in self.by_ipi and ip_number not in self.parties:
            self.parties[ip_number] = self.by_ipi[ipi]  # one party under two numbers of the sender's
        if ip_number not in self.parties:
            ids = ((f"IPI:{ipi}",) if ipi else ()) + (
                (f"PROPRIETARY:{self.sender}:{ip_number}",) if ip_number else ()
            )
            self.parties[ip_number] = Party(
                id=uuid4(), name=name, kind=kind, ipi=ipi or None, identifiers=ids
            )
            if ipi:
                self.by_ipi[ipi] = self.parties[ip_number]
        return self.parties[ip_number]

    def ipi(self, number: int, record: str, text: str) -> str:
        if not text:
            return ""
        try:
            return identifiers.ipi(text)
        except IdentifierError as exc:
            self.fail(number, record, f"IPI name number: {exc}")
            return ""

    def work(self, number: int, line: str) -> None:
        title, iswc_text = _field(line, 20, 60), _field(line, 96, 11)
        if not title:
            self.fail(number, line[:3], "work title (positions 20–79) is empty")
            title = "?"
        iswc = None
        if iswc_text:
            try:
                iswc = identifiers.iswc(iswc_text)
            except IdentifierError as exc:
                self.fail(number, line[:3], f"ISWC (positions 96–106): {exc}")
        self.transactions.append(_Transaction(line=number, work=Work(id=uuid4(), title=title, iswc=iswc)))

    def publisher(self, number: int, line: str, current: _Transaction) -> None:
        ip_number, name, kind = _field(line, 22, 9), _field(line, 31, 45), _field(line, 77, 2)
        if not ip_number or not name:
            self.fail(
                number, "SPU", "interested party number (22–30) and publisher name (31–75) are required"
            )
            return
        try:
            pr, sr = _share(_field(line, 116, 5)), _share(_field(line, 132, 5))
        except ValueError as exc:
            self.fail(number, "SPU", str(exc))
            return
        party = self.party(
            ip_number, name, self.ipi(number, "SPU", _field(line, 88, 11)), PartyKind.ORGANISATION
        )
        current.holders.append(_Holder(party=party, ip_number=ip_number, publisher_type=kind or "E", chain=_field(line, 20, 2),
                                       pr_bp=pr, sr_bp=sr))  # fmt: skip

    def writer(self, number: int, line: str, current: _Transaction) -> None:
        ip_number = _field(line, 20, 9)
        name = " ".join(p for p in (_field(line, 74, 30), _field(line, 29, 45)) if p)
        if not ip_number or not name:
            self.fail(
                number, "SWR", "interested party number (20–28) and writer last name (29–73) are required"
            )
            return
        try:
            pr, sr = _share(_field(line, 130, 5)), _share(_field(line, 146, 5))
        except ValueError as exc:
            self.fail(number, "SWR", str(exc))
            return
        party = self.party(ip_number, name, self.ipi(number, "SWR", _field(line, 116, 11)), PartyKind.PERSON)
        current.holders.append(
            _Holder(party=party, ip_number=ip_number, publisher_type="", chain="", pr_bp=pr, sr_bp=sr)
        )
        current.work = Work(id=current.work.id, title=current.work.title, iswc=current.work.iswc,
                            writer_ids=(*current.work.writer_ids, party.id))  # fmt: skip

    def territory(
        self, number: int, record: str, ip_number: str, flag: str, tis: str, current: _Transaction
    ) -> None:
        holder = next((h for h in reversed(current.holders) if h.ip_number == ip_number), None)
        if holder is None:
            self.fail(number, record, f"interested party {ip_number!r} has no SPU or SWR before it")
            return
        code = normalise(tis)
        if code != WORLD and code not in COUNTRIES:
            self.fail(
                number, record, f"TIS code {tis!r} (positions of the territory) is not a country or 2136"
            )
            return
        if flag == "I":
            holder.include.append(code)
        elif flag == "E":
            holder.exclude.append(code)
        else:
            self.fail(number, record, f"inclusion/exclusion indicator must be I or E, got {flag!r}")

    def link_writer(self, number: int, line: str, current: _Transaction) -> None:
        publisher_ip, writer_ip = _field(line, 20, 9), _field(line, 102, 9)
        publisher = next(
            (h for h in current.holders if h.publisher_type and h.ip_number == publisher_ip), None
        )
        writer = next((h for h in current.holders if not h.publisher_type and h.ip_number == writer_ip), None)
        if publisher is None:
            self.fail(number, "PWR", f"publisher {publisher_ip!r} has no SPU in this work")
        elif writer is not None:
            writer.chain = publisher.chain


def _scope(holder: _Holder) -> TerritoryScope:
    return TerritoryScope(include=tuple(holder.include) or (WORLD,), exclude=tuple(holder.exclude))


def _edges(transaction: _Transaction) -> tuple[list[ControlEdge], list[AdministrationEdge]]:
    """The work's publishing shares and its sub-publishing (administration) chains."""
    by_sr = any(h.sr_bp for h in transaction.holders)
    period = Period(start=UNDATED_START)
    control = [
        ControlEdge(id=uuid4(), party_id=h.party.id, subject_id=transaction.work.id, right=Right.PUBLISHING,
                    share_bp=h.sr_bp if by_sr else h.pr_bp, territories=_scope(h), period=period)
        for h in transaction.holders if (h.sr_bp if by_sr else h.pr_bp) > 0
    ]  # fmt: skip
    originals = {h.chain: h for h in transaction.holders if h.publisher_type == "E"}
    administration = [
        AdministrationEdge(id=uuid4(), administrator_id=h.party.id, administered_id=originals[h.chain].party.id,
                           subject_id=transaction.work.id, territories=_scope(h), period=period)
        for h in transaction.holders
        if h.publisher_type in ADMINISTRATOR_TYPES and h.chain in originals
        and originals[h.chain].party.id != h.party.id
    ]  # fmt: skip
    return control, administration


def parse_cwr(text: str) -> ImportBatch:
    """Parse a CWR 2.1/2.2 file; every problem names its line and record, and nothing is returned then.

    CPU-bound on large files: call it off the event loop.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or not lines[0].startswith("HDR"):
        raise ImportFailed(["line 1: a CWR file starts with an HDR record"])
    header = lines[0]
    version = _field(header, 60, 5)
    if version not in SUPPORTED_VERSIONS:
        raise ImportFailed([f"line 1 (HDR): EDI version {version!r} is not CWR 2.1 or 2.2"])
    reader = _Reader(sender=_field(header, 6, 9) or _field(header, 15, 45))
    current: _Transaction | None = None
    ended = False
    for number, line in enumerate(lines[1:], 2):
        record = line[:3]
        if record == "TRL":
            ended = True
            break
        if record in ("NWR", "REV"):
            reader.work(number, line)
            current = reader.transactions[-1]
        elif record in ("AGR", "ACK", "ISW", "EXC"):
            reader.fail(number, record, "only work registrations (NWR, REV) are imported")
            current = None
        elif current is None:
            continue  # group headers and trailers, and records of a refused transaction
        elif record == "SPU":
            reader.publisher(number, line, current)
        elif record == "SPT":
            reader.territory(
                number, "SPT", _field(line, 20, 9), _field(line, 50, 1), _field(line, 51, 4), current
            )
        elif record == "SWR":
            reader.writer(number, line, current)
        elif record == "SWT":
            reader.territory(
                number, "SWT", _field(line, 20, 9), _field(line, 44, 1), _field(line, 45, 4), current
            )
        elif record == "PWR":
            reader.link_writer(number, line, current)
    if not ended:
        reader.errors.append("the file has no TRL record: it is truncated")
    seen: dict[str, int] = {}
    for transaction in reader.transactions:
        if transaction.work.iswc and transaction.work.iswc in seen:
            reader.fail(transaction.line, "NWR", f"ISWC {transaction.work.iswc} is also the work of line "
                                                 f"{seen[transaction.work.iswc]}")  # fmt: skip
        elif transaction.work.iswc:
            seen[transaction.work.iswc] = transaction.line
    if reader.errors:
        raise ImportFailed(reader.errors)
    control: list[ControlEdge] = []
    administration: list[AdministrationEdge] = []
    for transaction in reader.transactions:
        shares, chains = _edges(transaction)
        control.extend(shares)
        administration.extend(chains)
    return ImportBatch(parties=tuple({p.id: p for p in reader.parties.values()}.values()), works=tuple(t.work for t in reader.transactions),
                       control=tuple(control), administration=tuple(administration))  # fmt: skip


# Writing


def _pad(value: str, length: int) -> str:
    return value[:length].ljust(length)


def _number(value: int, length: int) -> str:
    return str(value).zfill(length)[:length]


def _tis(scope: TerritoryScope) -> list[tuple[str, str]]:
    """(I or E, TIS code) for a scope: 2136 for the world, ISO numeric codes for countries."""
    codes = [("I", WORLD_TIS if normalise(c) == WORLD else _NUMERIC_OF[normalise(c)]) for c in scope.include
             if normalise(c) == WORLD or normalise(c) in _NUMERIC_OF]  # fmt: skip
    if len(codes) != len(scope.include):  # a region: write its countries
        codes = [("I", _NUMERIC_OF[c]) for c in sorted(scope.countries())]
        return codes
    return codes + [("E", _NUMERIC_OF[c]) for c in sorted(scope.countries() ^ _included(scope))]


def _included(scope: TerritoryScope) -> frozenset[str]:
    return TerritoryScope(include=scope.include).countries()


def _ip_number(party: Party) -> str:
    return party.id.hex[:9].upper()


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.transaction = 0
        self.record = 0

    def add(self, record: str, body: str) -> None:
        self.lines.append(f"{record}{_number(self.transaction, 8)}{_number(self.record, 8)}{body}")
        self.record += 1


def render_cwr(
    *, sender_name: str, sender_id: str, works: Sequence[Work], parties: Mapping[UUID, Party],
    control: Sequence[ControlEdge], administration: Sequence[AdministrationEdge], now: datetime,
) -> str:  # fmt: skip
    """Works as a CWR 2.1 registration file (NWR), each with its publishers' chains and writers."""
    stamp = now.strftime("%Y%m%d")
    header = (f"HDRPB{_pad(sender_id, 9)}{_pad(sender_name, 45)}01.10{stamp}{now.strftime('%H%M%S')}"
              f"{stamp}")  # fmt: skip
    out = _Writer()
    shares_of: dict[UUID, list[ControlEdge]] = defaultdict(list)
    for edge in control:
        shares_of[edge.subject_id].append(edge)
    chains_of: dict[tuple[UUID | None, UUID], list[AdministrationEdge]] = defaultdict(list)
    for administered in administration:
        chains_of[administered.subject_id, administered.administered_id].append(administered)
    for work in works:
        out.record = 0
        shares = shares_of[work.id]
        writers = [e for e in shares if e.party_id in work.writer_ids]
        publishers = [e for e in shares if e.party_id not in work.writer_ids]
        out.add("NWR", f"{_pad(work.title, 60)}  {work.id.hex[:14].upper()}{_pad(work.iswc or '', 11)}"
                       + " " * 20 + "POP")  # fmt: skip
        for chain, edge in enumerate(publishers, 1):
            party = parties[edge.party_id]
            out.add("SPU", _spu(chain, party, "E", edge.share_bp))
            for flag, code in _tis(edge.territories):
                out.add("SPT", _territory_body(party, edge.share_bp, flag, code, spt=True))
            for admin in chains_of[work.id, party.id]:
                administrator = parties[admin.administrator_id]
                out.add("SPU", _spu(chain, administrator, "SE", 0))
                for flag, code in _tis(admin.territories):
                    out.add("SPT", _territory_body(administrator, 0, flag, code, spt=True))
        for edge in writers:
            party = parties[edge.party_id]
            first, _, last = party.name.rpartition(" ")
            out.add("SWR", f"{_pad(_ip_number(party), 9)}{_pad(last, 45)}{_pad(first, 30)} CA{' ' * 9}"
                           f"{_pad(party.ipi or '', 11)}   {_number(edge.share_bp, 5)}   00000   "
                           f"{_number(edge.share_bp, 5)}")  # fmt: skip
            for flag, code in _tis(edge.territories):
                out.add("SWT", _territory_body(party, edge.share_bp, flag, code, spt=False))
        out.transaction += 1
    records = len(out.lines)
    group = [f"GRHNWR0000102.10{' ' * 10}", *out.lines,
             f"GRT00001{_number(len(works), 8)}{_number(records + 2, 8)}"]  # fmt: skip
    return "\n".join([header, *group, f"TRL00001{_number(len(works), 8)}{_number(records + 4, 8)}"]) + "\n"


def _spu(chain: int, party: Party, kind: str, share_bp: int) -> str:
    return (f"{_number(chain, 2)}{_pad(_ip_number(party), 9)}{_pad(party.name, 45)} {_pad(kind, 2)}{' ' * 9}"
            f"{_pad(party.ipi or '', 11)}{' ' * 14}   {_number(share_bp, 5)}   00000   {_number(share_bp, 5)}")  # fmt: skip


def _territory_body(party: Party, share_bp: int, flag: str, code: str, *, spt: bool) -> str:
    shares = f"{_number(share_bp, 5)}00000{_number(share_bp, 5)}"
    constant = " " * 6 if spt else ""
    return f"{_pad(_ip_number(party), 9)}{constant}{shares}{flag}{code.zfill(4)}N001"
