"""Search by example survives noise: a noisy 10 s snippet of a catalogue recording ranks its source first.

A snippet that identifies as a catalogue recording is searched from that recording (its stored
analysis), so the goal rests on identification; tested on the demo catalogue and on real music.
"""

from __future__ import annotations

from uuid import UUID

import httpx

from benchmarks import real_music
from discovery import synth
from tests.conftest import SignIn
from tests.discovery.conftest import IndexedCatalogue, RealSplit


async def _first_result(client: httpx.AsyncClient, clip: synth.Audio) -> str:
    response = await client.post(
        "/api/discovery/search", files={"file": ("x.wav", synth.to_wav(clip), "audio/wav")}
    )
    assert response.status_code == 200, response.text
    first: str = response.json()["results"][0]["track_id"]
    return first


async def test_noisy_ten_second_demo_examples_rank_their_source_first(
    sign_in: SignIn, indexed: IndexedCatalogue
) -> None:
    buyer = await sign_in("buyer")
    firsts = []
    for n, source in enumerate(indexed.tracks):
        for _, clip in real_music.snippets(source.audio(), 10, 10, count=1, seed=4_000 + n):
            firsts.append(
                await _first_result(buyer.client, clip) == str(indexed.track_ids[source.truth.slug])
            )
    assert sum(firsts) >= 0.95 * len(firsts), firsts


async def test_noisy_ten_second_real_examples_rank_their_source_first(
    sign_in: SignIn, real_split: RealSplit, indexed_real: dict[str, UUID]
) -> None:
    buyer = await sign_in("buyer")
    firsts = []
    for n, recording in enumerate(real_split.indexed):
        for _, clip in real_music.snippets(recording.audio(), 10, 10, count=3, seed=3_000 + n):
            firsts.append(await _first_result(buyer.client, clip) == str(indexed_real[recording.title]))
    assert sum(firsts) >= 0.95 * len(firsts), firsts
