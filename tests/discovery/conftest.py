"""Discovery fixtures: the demo catalogue rendered and analysed once per test session."""

from __future__ import annotations

import secrets
from pathlib import Path
from uuid import UUID

import asyncpg
import msgspec
import numpy as np
import pytest

from benchmarks import real_music
from discovery import analysis, embedding, fingerprint, service, store, synth, tags
from discovery.model import AudioFeatures, Tag, TagKind, TagSource
from marketplace.accounts import service as accounts
from marketplace.accounts.model import OrganisationKind, User
from marketplace.config import Settings
from rights import service as rights
from rights.identity import Role


@pytest.fixture(scope="session")
def real_recordings() -> list[Path]:
    """Real recorded music from a Debian package, installed here when missing (benchmarks.real_music)."""
    reason = real_music.ensure_installed()
    if reason:
        pytest.skip(reason)
    return real_music.recordings()


class RenderedTrack(msgspec.Struct, frozen=True):
    truth: synth.DemoTrack
    audio_path: Path
    features: AudioFeatures

    def audio(self) -> synth.Audio:
        return np.asarray(np.load(self.audio_path), dtype=np.float32)


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> list[RenderedTrack]:
    """Every demo track with its ground truth, rendered audio (as .npy under a tmp dir) and features."""
    directory = tmp_path_factory.mktemp("demo-catalogue")
    analysis.warm_up()
    rendered = []
    for track in synth.demo_catalogue():
        audio = synth.render(track)
        path = directory / f"{track.slug}.npy"
        np.save(path, audio)
        rendered.append(RenderedTrack(track, path, analysis.analyse(audio)))
    return rendered


class IndexedCatalogue(msgspec.Struct, frozen=True):
    """The demo catalogue as rows in the session's database, owned by one fresh organisation."""

    organisation_id: UUID
    track_ids: dict[str, UUID]  # slug → catalogue track id
    tracks: list[RenderedTrack]


@pytest.fixture(scope="session")
async def indexed(
    pg_pool: asyncpg.Pool, settings: Settings, catalogue: list[RenderedTrack]
) -> IndexedCatalogue:
    """The rendered catalogue stored as discovery would store it, reusing the session's analyses.

    The analyser itself is tested against ground truth elsewhere; here only fingerprints are
    computed, so HTTP tests start from a full catalogue in seconds.
    """
    track_ids: dict[str, UUID] = {}
    async with pg_pool.acquire() as conn:
        user = await label_owner(conn, "Discovery Catalogue")
        for t in catalogue:
            track = await rights.create_track(
                conn, owner_organisation_id=user.organisation_id, title=t.truth.title, artist=t.truth.artist,
                description=t.truth.description,
            )  # fmt: skip
            data = synth.to_wav(t.audio())
            checked = service.check_audio(data)
            async with conn.transaction():
                await service.store_audio(conn, settings.data_dir, track.id, data, checked, None)
                for value in t.truth.human_tags:
                    human = Tag(
                        kind=TagKind.STYLE,
                        value=value,
                        source=TagSource.HUMAN,
                        confidence=1.0,
                        confirmed=True,
                    )
                    await store.upsert_tag(conn, track.id, human)
                await store.save_analysis(
                    conn, track.id, t.features, embedding.embed(t.features), tags.ai_tags(t.features),
                    fingerprint.landmarks(t.audio()), None,
                )  # fmt: skip
                await store.update_document(conn, track.id, track.title, track.artist, track.description)
            track_ids[t.truth.slug] = track.id
    return IndexedCatalogue(organisation_id=user.organisation_id, track_ids=track_ids, tracks=catalogue)


async def mood_and_its_copy(conn: asyncpg.Connection, track_id: UUID) -> tuple[str | None, str | None]:
    """The track's mood as search filters on it, and the copy its embedding carries for the mood graphs."""
    row = await conn.fetchrow(
        """SELECT d.mood AS track_mood, e.mood AS embedding_mood
           FROM discovery_tracks d JOIN discovery_embeddings e USING (track_id) WHERE track_id = $1""",
        track_id,
    )
    assert row is not None, f"track {track_id} has no embedding"
    return row["track_mood"], row["embedding_mood"]


async def label_owner(conn: asyncpg.Connection, label: str) -> User:
    """A rights holder of a new label named `label` (made unique), to own a fixture's tracks."""
    suffix = secrets.token_hex(4)
    return await accounts.create_user(
        conn, organisation_name=f"{label} {suffix}", organisation_kind=OrganisationKind.LABEL,
        email=f"owner-{suffix}@example.test", display_name=f"{label} owner", role=Role.RIGHTS_HOLDER,
        password="correct horse battery staple",
    )  # fmt: skip


class RealRecording(msgspec.Struct, frozen=True):
    """A real recording decoded as the catalogue analyses it (mono, 22,050 Hz), kept as .npy under a tmp dir."""

    title: str
    audio_path: Path

    def audio(self) -> synth.Audio:
        return np.asarray(np.load(self.audio_path), dtype=np.float32)


class RealSplit(msgspec.Struct, frozen=True):
    """benchmarks.real_music's fixed split: recordings put in the catalogue, and ones that never are."""

    indexed: list[RealRecording]
    never_indexed: list[RealRecording]


@pytest.fixture(scope="session")
def real_split(real_recordings: list[Path], tmp_path_factory: pytest.TempPathFactory) -> RealSplit:
    directory = tmp_path_factory.mktemp("real-music")

    def decoded(path: Path) -> RealRecording:
        np.save(directory / f"{path.stem}.npy", real_music.decode(path))
        return RealRecording(path.stem, directory / f"{path.stem}.npy")

    indexed, never = real_music.indexed_and_never_indexed()
    return RealSplit([decoded(p) for p in indexed], [decoded(p) for p in never])


REAL_FEATURES_SECONDS = (
    30  # the stored features come from each recording's opening, to keep the session quick
)


@pytest.fixture(scope="session")
async def indexed_real(
    pg_pool: asyncpg.Pool, settings: Settings, real_split: RealSplit, indexed: IndexedCatalogue
) -> dict[str, UUID]:
    """The indexed half of the real recordings in the catalogue beside the demo tracks: title → track id.

    Fingerprints cover the whole recording; features, embedding and tags come from its first
    REAL_FEATURES_SECONDS, since identification and search by an identified example are under test
    here, not the analyser.
    """
    track_ids: dict[str, UUID] = {}
    async with pg_pool.acquire() as conn:
        user = await label_owner(conn, "Real Music")
        for recording in real_split.indexed:
            track = await rights.create_track(
                conn,
                owner_organisation_id=user.organisation_id,
                title=recording.title,
                artist="Max McCracken",
            )
            audio = recording.audio()
            features = analysis.analyse(audio[: REAL_FEATURES_SECONDS * analysis.SAMPLE_RATE])
            data = synth.to_wav(audio)
            async with conn.transaction():
                await service.store_audio(
                    conn, settings.data_dir, track.id, data, service.check_audio(data), None
                )
                await store.save_analysis(
                    conn, track.id, features, embedding.embed(features), tags.ai_tags(features),
                    fingerprint.landmarks(audio), None,
                )  # fmt: skip
            track_ids[recording.title] = track.id
    return track_ids
