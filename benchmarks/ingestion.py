"""Catalogue ingestion: a 1,000-recording DDEX ERN and a 10,000-work CWR file, parsed and imported in one
transaction each, then delivered again (every record matched, every share replaced).

`python -m benchmarks.ingestion [--quick]` starts an embedded PostgreSQL in a temporary directory. The
ERN has one release with a track release per recording, a deal in two territories, a writer and a
label controller per recording; the CWR has a writer, an original publisher and a sub-publisher per
work. Targets: ERN under 5 s, CWR under 30 s (parse and import together).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg

from marketplace.config import load_settings
from marketplace.db import create_pool
from marketplace.embedded import release, store_urls
from marketplace.migrations import upgrade_async
from rights import service
from rights.identifiers import iswc_check_digit
from rights.identity import Principal, Role
from rights.imports import UNDATED_START
from rights.imports.cwr import parse_cwr, render_cwr
from rights.imports.ddex import parse_ern
from rights.model import AdministrationEdge, ControlEdge, Party, PartyKind, Period, Right, Work
from rights.territories import TerritoryScope


def ern_message(recordings: int, tag: int) -> bytes:
    parties = ['<Party><PartyReference>PLabel</PartyReference><PartyId>PADPIDA2026112801L</PartyId>'
               '<PartyName><FullName>Bench Label</FullName></PartyName></Party>']  # fmt: skip
    resources, tracks, items = [], [], []
    for n in range(recordings):
        parties.append(f"<Party><PartyReference>PW{n}</PartyReference><PartyId><IpiNameNumber>{tag:04d}{n:07d}"
                       f"</IpiNameNumber></PartyId><PartyName><FullName>Writer {n}</FullName></PartyName></Party>")  # fmt: skip
        resources.append(
            f"<SoundRecording><ResourceReference>A{n}</ResourceReference><SoundRecordingEdition><ResourceId>"
            f"<ISRC>ZZB{tag:02d}{n:07d}</ISRC></ResourceId></SoundRecordingEdition>"
            f"<DisplayTitleText>Bench song {n}</DisplayTitleText><DisplayArtistName>Bench Artist</DisplayArtistName>"
            f"<Duration>PT3M{n % 60}S</Duration>"
            f"<Contributor><ContributorPartyReference>PW{n}</ContributorPartyReference><Role>Composer</Role></Contributor>"
            "<ResourceRightsController><RightsControllerPartyReference>PLabel</RightsControllerPartyReference>"
            "<RightsControlType>RightsController</RightsControlType><RightSharePercentage>100</RightSharePercentage>"
            "</ResourceRightsController></SoundRecording>"
        )  # fmt: skip
        tracks.append(f"<TrackRelease><ReleaseReference>R{n + 1}</ReleaseReference><ReleaseId><ProprietaryId "
                      f'Namespace="PADPIDA2026112801L">B{tag}-{n}</ProprietaryId></ReleaseId>'
                      f"<ReleaseResourceReference>A{n}</ReleaseResourceReference></TrackRelease>")  # fmt: skip
        items.append(f"<ResourceGroupContentItem><ReleaseResourceReference>A{n}</ReleaseResourceReference>"
                     "</ResourceGroupContentItem>")  # fmt: skip
    deals = "".join(f"<DealReleaseReference>R{n}</DealReleaseReference>" for n in range(recordings + 1))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43">'
        f"<PartyList>{''.join(parties)}</PartyList><ResourceList>{''.join(resources)}</ResourceList>"
        f"<ReleaseList><Release><ReleaseReference>R0</ReleaseReference><ReleaseId><ICPN>{tag:013d}</ICPN>"
        f"</ReleaseId><DisplayTitleText>Bench album</DisplayTitleText><ResourceGroup>{''.join(items)}"
        f"</ResourceGroup></Release>{''.join(tracks)}</ReleaseList><DealList><ReleaseDeal>{deals}<Deal><DealTerms>"
        "<TerritoryCode>DE</TerritoryCode><TerritoryCode>840</TerritoryCode><ValidityPeriod><StartDate>2026-01-01"
        "</StartDate></ValidityPeriod></DealTerms></Deal></ReleaseDeal></DealList></ern:NewReleaseMessage>"
    ).encode()


def cwr_file(works: int, tag: int) -> str:
    publisher = Party(id=uuid4(), name="Bench Publishing", ipi=f"{tag:04d}9999999")
    sub = Party(id=uuid4(), name="Bench Subverlag")
    parties = {publisher.id: publisher, sub.id: sub}
    listed, control, administration = [], [], []
    since = Period(start=UNDATED_START)
    for n in range(works):
        writer = Party(id=uuid4(), name=f"Bench Writer{n}", kind=PartyKind.PERSON, ipi=f"{tag:04d}{n:07d}")
        parties[writer.id] = writer
        nine = f"{tag:02d}{n:07d}"
        work = Work(id=uuid4(), title=f"BENCH WORK {n}", iswc=f"T{nine}{iswc_check_digit(nine)}",
                    writer_ids=(writer.id,))  # fmt: skip
        listed.append(work)
        for holder in (writer, publisher):
            control.append(ControlEdge(id=uuid4(), party_id=holder.id, subject_id=work.id, right=Right.PUBLISHING,
                                       share_bp=5_000, period=since))  # fmt: skip
        administration.append(AdministrationEdge(id=uuid4(), administrator_id=sub.id, administered_id=publisher.id,
                                                 subject_id=work.id, territories=TerritoryScope(include=("DE",)),
                                                 period=since))  # fmt: skip
    return render_cwr(sender_name="BENCH", sender_id="BENCH", works=listed, parties=parties, control=control,
                      administration=administration, now=datetime.now(UTC))  # fmt: skip


async def _caller(conn: asyncpg.Connection) -> Principal:
    organisation: UUID = await conn.fetchval(
        "INSERT INTO organisations (name, kind) VALUES ($1, 'label') RETURNING id", f"Bench {uuid4()}"
    )
    user: UUID = await conn.fetchval(
        """INSERT INTO users (organisation_id, email, display_name, role, password_hash)
           VALUES ($1, $2, 'Bench', 'rights_holder', 'x') RETURNING id""",
        organisation, f"bench-{uuid4()}@example.com",
    )  # fmt: skip
    return Principal(user_id=user, organisation_id=organisation, role=Role.RIGHTS_HOLDER, email="b@example.com",
                     display_name="Bench")  # fmt: skip


async def run(quick: bool) -> None:
    recordings, works = (100, 1_000) if quick else (1_000, 10_000)
    settings = load_settings(
        {
            "MARKETPLACE_DATA_DIR": tempfile.mkdtemp(prefix="ingestion-bench-"),
            "SECRET_KEY": secrets.token_urlsafe(48),
        }
    )
    urls = store_urls(settings)
    await upgrade_async(urls.database_url)
    pool = await create_pool(urls.database_url, min_size=1, max_size=2)
    tag = secrets.randbelow(90) + 10
    ern, cwr = ern_message(recordings, tag), cwr_file(works, tag)
    print("| file | size | delivery | parse s | import s | total s | created | matched or updated |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    try:
        async with pool.acquire() as conn:
            label, publisher = await _caller(conn), await _caller(conn)
            for delivery in ("first", "again"):
                started = time.perf_counter()
                batch = parse_ern(ern)
                parsed = time.perf_counter()
                report = await service.import_ern(conn, label, batch)
                done = time.perf_counter()
                print(f"| ERN, {recordings:,} recordings | {len(ern) / 1e6:.1f} MB | {delivery} | {parsed - started:.2f} "
                      f"| {done - parsed:.2f} | {done - started:.2f} | {report.recordings_created:,} "
                      f"| {report.recordings_updated + report.recordings_matched:,} |")  # fmt: skip
            for delivery in ("first", "again"):
                started = time.perf_counter()
                cwr_batch = parse_cwr(cwr)
                parsed = time.perf_counter()
                report = await service.import_cwr(conn, publisher, cwr_batch)
                done = time.perf_counter()
                print(f"| CWR, {works:,} works | {len(cwr) / 1e6:.1f} MB | {delivery} | {parsed - started:.2f} "
                      f"| {done - parsed:.2f} | {done - started:.2f} | {report.works_created:,} "
                      f"| {report.works_matched:,} |")  # fmt: skip
    finally:
        await pool.close()
        release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    asyncio.run(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
