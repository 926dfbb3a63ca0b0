"""The demo seeder: the synthetic catalogue's rows at once, each track's audio rendered and analysed later by a
job, each only once, with progress counted up to N of N."""

from __future__ import annotations

import secrets
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest
from litestar import Litestar

from discovery import demo, jobs, store, synth
from discovery.model import AnalysisStatus, CatalogueProgress
from marketplace.accounts import service as accounts
from marketplace.accounts.model import OrganisationKind
from rights import service as rights
from rights.identity import Role
from tests.discovery.conftest import mood_and_its_copy

SIZE = 3


def _wav_files(directory: Path) -> int:
    return len(list(directory.rglob("*.wav")))


async def _organisations(conn: asyncpg.Connection) -> dict[str, UUID]:
    organisations = {}
    for key in ("label", "publisher"):
        suffix = secrets.token_hex(4)
        user = await accounts.create_user(
            conn, organisation_name=f"Demo {key} {suffix}", organisation_kind=OrganisationKind.LABEL,
            email=f"{key}-{suffix}@example.test", display_name=key, role=Role.RIGHTS_HOLDER, password="x" * 12,
        )  # fmt: skip
        organisations[key] = user.organisation_id
    return organisations


async def test_seeding_twice_adds_each_demo_track_and_its_human_tags_once_without_audio(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    organisations = await _organisations(db)
    await demo.seed(db, organisations, tmp_path, size=SIZE)
    await demo.seed(db, organisations, tmp_path, size=SIZE)

    tracks = [
        t for org in organisations.values() for t in await rights.list_tracks(db, owner_organisation_id=org)
    ]
    assert sorted(t.title for t in tracks) == sorted(synth.demo_track(i).title for i in range(SIZE))
    first = next(t for t in tracks if t.title == synth.demo_track(0).title)
    labels = (await store.tags_of(db, [first.id]))[first.id]
    assert {t.value for t in labels if t.source.value == "human"} == set(synth.demo_track(0).human_tags)
    assert [await store.audio_of(db, t.id) for t in tracks] == [None] * SIZE
    owners = demo.owners(organisations)
    assert [index for _, index in await demo.awaiting_audio(db, owners, size=SIZE)] == list(range(SIZE))
    assert await demo.progress(db, owners, size=SIZE) == CatalogueProgress(analysed=0, failed=0, total=SIZE)
    assert _wav_files(tmp_path) == 0


async def test_each_demo_track_is_rendered_and_analysed_once_by_its_job_and_progress_reaches_n_of_n(
    pg_pool: asyncpg.Pool, tmp_path: Path, app: Litestar
) -> None:
    async with pg_pool.acquire() as conn:
        organisations = await _organisations(conn)
        await demo.seed(conn, organisations, tmp_path, size=SIZE)
        owners = demo.owners(organisations)
        awaiting = await demo.awaiting_audio(conn, owners, size=SIZE)
    ctx = {"pool": pg_pool, "data_dir": tmp_path, "redis": app.state.redis, "job_try": 1}
    await jobs.startup(ctx)  # as an analysis worker does when it starts
    said = [
        await jobs.add_demo_audio(ctx, str(track_id), index, [str(o) for o in owners], SIZE)
        for track_id, index in awaiting + awaiting  # a job that runs twice does its work once
    ]
    assert said[SIZE - 1 :] == [f"Demo catalogue: {SIZE} of {SIZE} tracks analysed"] * (SIZE + 1)

    async with pg_pool.acquire() as conn:
        for track_id, _ in awaiting:
            state = await store.analysis(conn, track_id)
            assert state is not None and state.status is AnalysisStatus.DONE and state.attempts == 1
            mood, its_copy = await mood_and_its_copy(conn, track_id)
            assert mood is not None and its_copy == mood  # in its mood's graph
        assert await demo.awaiting_audio(conn, owners, size=SIZE) == []
        done = await demo.progress(conn, owners, size=SIZE)
    assert done == CatalogueProgress(analysed=SIZE, failed=0, total=SIZE) and done.finished
    assert done.describe() == f"Demo catalogue: {SIZE} of {SIZE} tracks analysed"
    assert _wav_files(tmp_path / "audio") == SIZE


@pytest.mark.parametrize(
    ("progress", "finished", "text"),
    [
        (CatalogueProgress(analysed=12, failed=0, total=40), False, "Demo catalogue: 12 of 40 tracks analysed"),
        (CatalogueProgress(analysed=38, failed=2, total=40), True,
         "Demo catalogue: 38 of 40 tracks analysed, 2 could not be analysed"),
    ],
)  # fmt: skip
def test_progress_is_finished_when_every_track_is_analysed_or_failed_for_good(
    progress: CatalogueProgress, finished: bool, text: str
) -> None:
    assert progress.finished is finished
    assert progress.describe() == text
