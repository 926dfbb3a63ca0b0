"""Web fixtures: a track for sale (the contracts test world) that discovery has analysed and can find by one word."""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
import msgspec
import pytest

from discovery import analysis, embedding, fingerprint, service, store, synth, tags
from discovery.model import AudioFeatures
from marketplace.config import Settings
from tests.conftest import SignedIn, SignIn
from tests.contracts.world import world


class ListedTrack(msgspec.Struct, frozen=True, kw_only=True):
    track_id: UUID
    word: str  # a word only this track's description holds
    audio: bytes  # the original, as a licensee downloads it
    mood: str
    label: SignedIn
    publisher: SignedIn
    buyer: SignedIn


class Rendered(msgspec.Struct, frozen=True):
    wav: bytes
    features: AudioFeatures
    landmarks: list[fingerprint.Landmark]


@pytest.fixture(scope="session")
def rendered() -> Rendered:
    analysis.warm_up()
    audio = synth.render(synth.demo_track(3, seed=7), seconds=8)
    return Rendered(synth.to_wav(audio), analysis.analyse(audio), fingerprint.landmarks(audio))


ListTrack = Callable[..., Awaitable[ListedTrack]]


@pytest.fixture
async def list_track(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings, rendered: Rendered
) -> ListTrack:
    """`await list_track(publisher_policy=False)`: Night Drive, analysed, sold as the contracts world sells it."""

    async def make(**options: object) -> ListedTrack:
        label, publisher, buyer = (
            await sign_in("rights_holder"),
            await sign_in("rights_holder"),
            await sign_in("buyer"),
        )
        word = "zz" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
        async with pg_pool.acquire() as conn:
            built = await world(conn, label=label.principal, publisher=publisher.principal, buyer=buyer.principal,
                                **options)  # type: ignore[arg-type]  # fmt: skip
            checked = service.check_audio(rendered.wav)
            async with conn.transaction():
                await service.store_audio(
                    conn, settings.data_dir, built.track_id, rendered.wav, checked, None
                )
                await store.save_analysis(
                    conn, built.track_id, rendered.features, embedding.embed(rendered.features),
                    tags.ai_tags(rendered.features), rendered.landmarks, None,
                )  # fmt: skip
                await store.update_document(
                    conn, built.track_id, "Night Drive", "Zoë", f"a night drive {word}"
                )
            mood = await conn.fetchval(
                "SELECT value FROM discovery_tags WHERE track_id = $1 AND kind = 'mood' LIMIT 1",
                built.track_id,
            )
        return ListedTrack(track_id=built.track_id, word=word, audio=rendered.wav, mood=mood or "", label=label, publisher=publisher,
                           buyer=buyer)  # fmt: skip

    return make
