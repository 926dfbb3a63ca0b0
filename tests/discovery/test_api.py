"""The discovery API over HTTP: uploads, the analysis job, search with filters, similar-to, identify."""

from __future__ import annotations

import io
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
import pytest
import soundfile as sf
from arq import Retry
from litestar import Litestar

from discovery import jobs, service, synth, tags
from discovery.model import Mood
from marketplace.config import Settings
from tests.conftest import SignIn
from tests.discovery.conftest import IndexedCatalogue, RenderedTrack, mood_and_its_copy


def _flac(audio: synth.Audio) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, synth.SAMPLE_RATE, format="FLAC")
    return buffer.getvalue()


def _upload(data: bytes, name: str = "take.wav", **fields: str) -> dict[str, Any]:
    return {"files": {"file": (name, data, "application/octet-stream")}, "data": fields}


async def _stored_counts(pg_pool: asyncpg.Pool) -> tuple[int, int]:
    async with pg_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM discovery_audio) AS audio, (SELECT count(*) FROM discovery_tracks) AS tracks"
        )
    return row["audio"], row["tracks"]


async def _run_job(
    pg_pool: asyncpg.Pool, settings: Settings, app: Litestar, track_id: str, job_try: int = 1
) -> str:
    ctx = {"pool": pg_pool, "data_dir": settings.data_dir, "redis": app.state.redis, "job_try": job_try}
    await jobs.startup(ctx)  # as the worker does when it starts
    return await jobs.analyse_track(ctx, track_id)


async def test_bad_files_are_refused_with_the_problem_named_and_nothing_stored(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings
) -> None:
    label = await sign_in("rights_holder")
    before = await _stored_counts(pg_pool)
    wav = synth.to_wav(synth.render(synth.demo_track(3), seconds=4))
    cases = [
        (b"just some text, renamed to look like audio" * 50, 415, "not WAV, FLAC, OGG or MP3"),
        (wav[: len(wav) // 2], 400, "truncated"),
        (_flac(synth.render(synth.demo_track(4), seconds=4))[:3000], 400, "cannot be read"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", 400, "no audio data chunk"),
        (b"", 400, "empty"),
        (synth.to_wav(np.zeros(4 * synth.SAMPLE_RATE, dtype=np.float32)), 400, "digital silence"),
    ]
    for data, status, problem in cases:
        response = await label.client.post(
            "/api/discovery/tracks", **_upload(data, title="Bad", artist="Nobody")
        )
        assert response.status_code == status, response.text
        assert problem in response.json()["detail"]
    assert await _stored_counts(pg_pool) == before
    buyer = await sign_in("buyer")
    refused = await buyer.client.post("/api/discovery/tracks", **_upload(wav, title="Mine", artist="Me"))
    assert refused.status_code == 403


async def test_an_upload_is_analysed_by_the_job_and_its_tags_can_be_confirmed(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings, app: Litestar
) -> None:
    label = await sign_in("rights_holder")
    truth = synth.demo_track(28)  # 130 BPM, F major
    response = await label.client.post(
        "/api/discovery/tracks",
        **_upload(_flac(synth.render(truth, seconds=15)), name="x.mp3", title="Fresh", artist="New"),
    )
    assert response.status_code == 202, response.text
    track_id = response.json()["track_id"]
    assert response.json()["status"] == "pending"
    assert await _run_job(pg_pool, settings, app, track_id) == "done"
    state = (await label.client.get(f"/api/discovery/tracks/{track_id}/analysis")).json()
    assert state["status"] == "done" and state["progress"] == 1 and state["attempts"] == 1
    assert abs(state["features"]["bpm"] - truth.bpm) / truth.bpm < 0.02
    async with pg_pool.acquire() as conn:  # its embedding is in its mood's graph
        assert await mood_and_its_copy(conn, UUID(track_id)) == (truth.mood.value, truth.mood.value)
    assert await _run_job(pg_pool, settings, app, track_id) == "done"  # idempotent: no second attempt
    assert (await label.client.get(f"/api/discovery/tracks/{track_id}/analysis")).json()["attempts"] == 1

    found = (await label.client.get(f"/api/discovery/tracks/{track_id}/tags")).json()
    mood = next(t for t in found if t["kind"] == "mood")
    assert mood["source"] == "ai" and not mood["confirmed"]
    stranger = await sign_in("rights_holder")
    assert (await stranger.client.post(f"/api/discovery/tags/{mood['id']}/confirm")).status_code == 403
    confirmed = await label.client.post(f"/api/discovery/tags/{mood['id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["confirmed"]
    added = await label.client.post(f"/api/discovery/tracks/{track_id}/tags", json={"value": "Road  Trip"})
    assert added.json()["value"] == "road trip" and added.json()["source"] == "human"
    by_words = (await label.client.get("/api/discovery/search", params={"q": "road trip"})).json()
    assert [r["track_id"] for r in by_words["results"]] == [track_id]


async def test_new_audio_of_another_mood_moves_the_track_into_that_mood_s_graph(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings, app: Litestar
) -> None:
    label = await sign_in("rights_holder")
    first, second = synth.demo_track(28), synth.demo_track(31)
    assert (first.mood, second.mood) == (Mood.UPLIFTING, Mood.TENSE)
    uploaded = await label.client.post(
        "/api/discovery/tracks", **_upload(_flac(synth.render(first, seconds=15)), title="Turn", artist="Me")
    )
    track_id = UUID(uploaded.json()["track_id"])
    try:
        assert await _run_job(pg_pool, settings, app, str(track_id)) == "done"
        async with pg_pool.acquire() as conn:
            assert await mood_and_its_copy(conn, track_id) == ("uplifting", "uplifting")
        replaced = await label.client.put(
            f"/api/discovery/tracks/{track_id}/audio", **_upload(_flac(synth.render(second, seconds=15)))
        )
        assert replaced.status_code == 202, replaced.text
        assert await _run_job(pg_pool, settings, app, str(track_id)) == "done"
        async with pg_pool.acquire() as conn:
            assert await mood_and_its_copy(conn, track_id) == ("tense", "tense")
    finally:  # a copy of a demo track would come up in other tests' searches around the demo catalogue
        async with pg_pool.acquire() as conn:
            await conn.execute("DELETE FROM tracks WHERE id = $1", track_id)


async def test_an_upload_of_audio_already_in_the_catalogue_is_flagged_as_a_near_duplicate(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings, app: Litestar, indexed: IndexedCatalogue
) -> None:
    label = await sign_in("rights_holder")
    original = indexed.tracks[7]
    copy = _flac(original.audio()[2 * synth.SAMPLE_RATE : 20 * synth.SAMPLE_RATE])
    response = await label.client.post(
        "/api/discovery/tracks", **_upload(copy, title="Totally New", artist="Me")
    )
    await _run_job(pg_pool, settings, app, response.json()["track_id"])
    state = (await label.client.get(f"/api/discovery/tracks/{response.json()['track_id']}/analysis")).json()
    assert state["near_duplicate_of"] == str(indexed.track_ids[original.truth.slug])

    # Both are one recording now: a clip of it is still identified, and the answer names the copy.
    # The clip starts with 1.5 s of a lead-in the track does not have: its offset is negative.
    lead_in = np.zeros(int(1.5 * synth.SAMPLE_RATE), dtype=np.float32)
    clip = synth.add_noise(
        np.concatenate([lead_in, original.audio()[: 6 * synth.SAMPLE_RATE]]), snr_db=10, seed=4
    )
    found = (
        await label.client.post(
            "/api/discovery/identify", files={"file": ("c.wav", synth.to_wav(clip), "audio/wav")}
        )
    ).json()
    assert found["identification"]["matched"], found
    assert found["identification"]["track_id"] == str(indexed.track_ids[original.truth.slug])
    assert found["identification"]["offset_s"] == pytest.approx(-1.5, abs=0.05)
    assert found["same_recording"] == [
        {"track_id": response.json()["track_id"], "title": "Totally New", "artist": "Me"}
    ]


async def test_a_failing_analysis_is_retried_then_reported_on_the_track(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings, app: Litestar
) -> None:
    label = await sign_in("rights_holder")
    response = await label.client.post(
        "/api/discovery/tracks",
        **_upload(_flac(synth.render(synth.demo_track(9), seconds=3)), title="Lost", artist="A"),
    )
    track_id = response.json()["track_id"]
    async with pg_pool.acquire() as conn:
        original = await service.original_audio(conn, settings.data_dir, UUID(track_id))
    assert original is not None
    path = original.path
    path.rename(path.with_suffix(".moved"))  # the file vanished from the disk
    try:
        with pytest.raises(Retry):
            await _run_job(pg_pool, settings, app, track_id, job_try=1)
        retrying = (await label.client.get(f"/api/discovery/tracks/{track_id}/analysis")).json()
        assert retrying["status"] == "pending" and "FileNotFoundError" in retrying["error"]
        with pytest.raises(FileNotFoundError):
            await _run_job(pg_pool, settings, app, track_id, job_try=service.MAX_ATTEMPTS)
    finally:
        path.with_suffix(".moved").rename(path)
    state = (await label.client.get(f"/api/discovery/tracks/{track_id}/analysis")).json()
    assert state["status"] == "failed" and state["attempts"] == 2 and "FileNotFoundError" in state["error"]


async def test_filters_return_exactly_the_matching_tracks(client: Any, indexed: IndexedCatalogue) -> None:
    ours = set(indexed.track_ids.values())
    queries: list[dict[str, Any]] = [
        {"bpm_min": 100, "bpm_max": 140},
        {"mood": "calm"},
        {"mode": "minor", "bpm_max": 100},
        {"key": "Eb minor"},
        {"instrumental": "false"},
    ]
    for params in queries:
        response = await client.get("/api/discovery/search", params={**params, "page_size": 100})
        assert response.status_code == 200, response.text
        results = [r for r in response.json()["results"] if UUID(r["track_id"]) in ours]
        expected = {
            indexed.track_ids[t.truth.slug]
            for t in indexed.tracks
            if _matches(
                t.features.bpm,
                t.features.key.name,
                t.features.instrumental,
                params,
                tags.mood(t.features)[0].value,
            )
        }
        assert {UUID(r["track_id"]) for r in results} == expected, params
        assert expected, params


def _matches(bpm: float, key: str, instrumental: float, params: dict[str, Any], mood: str) -> bool:
    return (
        params.get("bpm_min", 0) <= bpm <= params.get("bpm_max", 1000)
        and params.get("mood", mood) == mood
        and key.endswith(params.get("mode", ""))
        and params.get("key", key) == key
        and (
            params.get("instrumental") is None or (instrumental >= 0.5) == (params["instrumental"] == "true")
        )
    )


async def test_bad_search_parameters_are_400_not_500(client: Any) -> None:
    for params in ({"key": "H minor"}, {"mood": "grumpy"}, {"page_size": 1000}, {"clearable_media": "radio"},
                   {"clearable_media": "film", "territories": "NARNIA"}):  # fmt: skip
        response = await client.get("/api/discovery/search", params=params)
        assert response.status_code == 400, (params, response.text)


async def test_similar_to_ranks_by_similarity_and_explains_each_result(
    client: Any, indexed: IndexedCatalogue
) -> None:
    reference = indexed.tracks[2]
    reference_id = indexed.track_ids[reference.truth.slug]
    response = await client.get(
        "/api/discovery/search", params={"similar_to": str(reference_id), "page_size": 10}
    )
    body = response.json()
    results = body["results"]
    assert len(results) == 10 and body["has_more"] and body["method"] in ("exact", "hnsw", "range")
    assert str(reference_id) not in {r["track_id"] for r in results}
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    by_id = {indexed.track_ids[t.truth.slug]: t for t in indexed.tracks}
    for r in results:
        f = by_id[UUID(r["track_id"])].features
        assert r["explanation"]["text"].startswith(f"tempo {f.bpm:.0f} vs {reference.features.bpm:.0f} BPM; ")
        assert f.key.name in r["explanation"]["text"]
    second = (
        await client.get(
            "/api/discovery/search", params={"similar_to": str(reference_id), "page_size": 10, "page": 2}
        )
    ).json()
    assert not {r["track_id"] for r in second["results"]} & {r["track_id"] for r in results}


async def test_similar_to_with_a_filter_returns_a_full_page_of_tracks_that_pass_it(
    client: Any, indexed: IndexedCatalogue
) -> None:
    reference = indexed.tracks[2]
    reference_id = indexed.track_ids[reference.truth.slug]
    by_id = {indexed.track_ids[t.truth.slug]: t for t in indexed.tracks}
    for params in ({"mood": "calm"}, {"bpm_min": 100, "bpm_max": 140}, {"mode": "minor"}):
        passing = [t for t in indexed.tracks if t is not reference and _passes(t, params)]
        assert len(passing) >= 5, params
        response = await client.get(
            "/api/discovery/search", params={"similar_to": str(reference_id), "page_size": 5, **params}
        )
        body = response.json()
        assert len(body["results"]) == 5 and body["method"] in ("exact", "hnsw", "range"), (params, body)
        ours = [by_id[UUID(r["track_id"])] for r in body["results"] if UUID(r["track_id"]) in by_id]
        assert all(_passes(t, params) for t in ours), params


def _passes(track: RenderedTrack, params: dict[str, Any]) -> bool:
    f = track.features
    return _matches(f.bpm, f.key.name, f.instrumental, params, tags.mood(f)[0].value)


async def test_a_snippet_finds_the_track_it_was_cut_from(sign_in: SignIn, indexed: IndexedCatalogue) -> None:
    buyer = await sign_in("buyer")
    source = indexed.tracks[5]
    clip = source.audio()[5 * synth.SAMPLE_RATE : 17 * synth.SAMPLE_RATE]
    response = await buyer.client.post(
        "/api/discovery/search", files={"file": ("x", synth.to_wav(clip), "audio/wav")}
    )
    assert response.status_code == 200, response.text
    # A cut of a catalogue recording is searched from that recording: its source comes first.
    assert response.json()["results"][0]["track_id"] == str(indexed.track_ids[source.truth.slug])


async def test_noisy_ten_second_examples_rank_their_source_first(
    sign_in: SignIn, indexed: IndexedCatalogue
) -> None:
    buyer = await sign_in("buyer")
    for n, source in enumerate(indexed.tracks[::8]):
        clip = synth.add_noise(
            source.audio()[4 * synth.SAMPLE_RATE : 14 * synth.SAMPLE_RATE], snr_db=10, seed=n
        )
        response = await buyer.client.post(
            "/api/discovery/search", files={"file": ("x", synth.to_wav(clip), "audio/wav")}
        )
        assert response.status_code == 200, response.text
        first = response.json()["results"][0]
        assert first["track_id"] == str(indexed.track_ids[source.truth.slug]), (source.truth.title, first)


async def test_an_example_and_similar_to_in_one_search_is_refused(
    sign_in: SignIn, indexed: IndexedCatalogue
) -> None:
    buyer = await sign_in("buyer")
    clip = indexed.tracks[5].audio()[: 6 * synth.SAMPLE_RATE]
    response = await buyer.client.post(
        "/api/discovery/search",
        params={"similar_to": str(indexed.track_ids[indexed.tracks[6].truth.slug])},
        files={"file": ("x", synth.to_wav(clip), "audio/wav")},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "search by an uploaded example or by similar_to, not both"


async def test_identify_names_the_track_and_offset_or_says_no_match(
    sign_in: SignIn, indexed: IndexedCatalogue
) -> None:
    buyer = await sign_in("buyer")
    source = indexed.tracks[11]
    clip = synth.add_noise(source.audio()[8 * synth.SAMPLE_RATE : 13 * synth.SAMPLE_RATE], snr_db=5, seed=3)
    response = await buyer.client.post(
        "/api/discovery/identify", files={"file": ("ad.wav", synth.to_wav(clip), "audio/wav")}
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["identification"]["matched"]
    assert found["identification"]["track_id"] == str(indexed.track_ids[source.truth.slug])
    assert abs(found["identification"]["offset_s"] - 8.0) < 0.1
    assert found["title"] == source.truth.title

    stranger = synth.render(synth.demo_track(1, seed=99), seconds=8)
    response = await buyer.client.post(
        "/api/discovery/identify", files={"file": ("ad.wav", synth.to_wav(stranger), "audio/wav")}
    )
    assert response.json()["identification"]["matched"] is False
    anonymous = await buyer.client.post(
        "/api/discovery/identify", files={"file": ("a", b"nope", "audio/wav")}
    )
    assert anonymous.status_code == 415


async def test_search_and_track_pages_render(client: Any, indexed: IndexedCatalogue) -> None:
    page = await client.get(
        "/discover", params={"mood": "calm", "bpm_max": "200"}, headers={"Accept": "text/html"}
    )
    assert page.status_code == 200 and "Discover" in page.text
    calm = next(
        t for t in indexed.tracks if t.truth.mood.value == "calm" and t.features.key.mode.value == "major"
    )
    assert calm.truth.title in page.text
    track_id = indexed.track_ids[calm.truth.slug]
    detail = await client.get(f"/discover/tracks/{track_id}", headers={"Accept": "text/html"})
    assert detail.status_code == 200 and calm.truth.title in detail.text and "Sounds like" in detail.text
    bad = await client.get("/discover", params={"key": "Q major"}, headers={"Accept": "text/html"})
    assert bad.status_code == 200 and "unknown tonic" in bad.text


POLICY = {
    "mechanisms": {"online_ads": ["fixed_price"]},
    "rate_card": {"base": {"amount": 100_000, "currency": "EUR"}, "media_bp": {"online_ads": 10_000}},
    "automated_media": ["online_ads"],
}


async def test_clearable_filter_keeps_only_tracks_rights_can_clear_now(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings, app: Litestar
) -> None:
    label = await sign_in("rights_holder")
    uploaded = []
    for index in (20, 24):
        audio = _flac(synth.render(synth.demo_track(index, seed=31), seconds=8))
        response = await label.client.post(
            "/api/discovery/tracks", **_upload(audio, title=f"Clearance Probe {index}", artist="Probe")
        )
        uploaded.append(response.json()["track_id"])
        await _run_job(pg_pool, settings, app, uploaded[-1])
    cleared = uploaded[0]
    party = (
        await label.client.post("/api/rights/parties", json={"name": f"Probe Rights {cleared[:8]}"})
    ).json()["id"]
    for right in ("master", "publishing"):
        share = {"party_id": party, "right": right, "share_bp": 10_000}
        assert (
            await label.client.post(f"/api/rights/tracks/{cleared}/shares", json=share)
        ).status_code == 201
    assert (
        await label.client.put("/api/rights/policies", json={"party_id": party, **POLICY})
    ).status_code == 200

    params = {"q": "clearance probe", "clearable_media": "online_ads", "territories": "DE"}
    found = (await label.client.get("/api/discovery/search", params=params)).json()
    assert [r["track_id"] for r in found["results"]] == [cleared]
    unfiltered = (await label.client.get("/api/discovery/search", params={"q": "clearance probe"})).json()
    assert {r["track_id"] for r in unfiltered["results"]} == set(uploaded)


async def test_signed_in_pages_offer_uploads_to_rights_holders_only(sign_in: SignIn) -> None:
    label, buyer = await sign_in("rights_holder"), await sign_in("buyer")
    html = {"Accept": "text/html"}
    search = await label.client.get("/discover", headers=html)
    assert 'id="identify"' in search.text and 'href="/discover/upload"' in search.text
    assert (await label.client.get("/discover/upload", headers=html)).status_code == 200
    assert 'href="/discover/upload"' not in (await buyer.client.get("/discover", headers=html)).text
    assert (await buyer.client.get("/discover/upload", headers=html)).status_code == 403


async def test_listeners_hear_a_preview_made_at_ingest_never_the_original(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings, app: Litestar
) -> None:
    label = await sign_in("rights_holder")
    rendered = synth.render(synth.demo_track(5), seconds=6)
    original = _flac(rendered)
    response = await label.client.post(
        "/api/discovery/tracks", **_upload(original, title="Heard", artist="A")
    )
    track_id = response.json()["track_id"]
    assert await _run_job(pg_pool, settings, app, track_id) == "done"
    async with pg_pool.acquire() as conn:
        stored = await service.original_audio(conn, settings.data_dir, UUID(track_id))
    assert stored is not None
    assert service.preview_path(settings.data_dir, stored.sha256).exists()  # made by the analysis job

    buyer = await sign_in("buyer")
    heard = await buyer.client.get(f"/api/discovery/tracks/{track_id}/audio")
    assert heard.status_code == 200 and heard.headers["content-type"] == "audio/mpeg"
    assert heard.content != original
    info = sf.info(io.BytesIO(heard.content))
    assert info.format == "MP3" and info.channels == 1 and info.samplerate == 22_050
    assert abs(info.duration - len(rendered) / synth.SAMPLE_RATE) < 0.1  # the whole track, at preview quality


async def test_audio_stored_before_previews_existed_gets_its_preview_when_first_played(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings
) -> None:
    label = await sign_in("rights_holder")
    response = await label.client.post(
        "/api/discovery/tracks",
        **_upload(_flac(synth.render(synth.demo_track(6), seconds=3)), title="Old", artist="B"),
    )  # not analysed: no preview yet
    track_id = response.json()["track_id"]
    heard = await label.client.get(f"/api/discovery/tracks/{track_id}/audio")
    assert heard.status_code == 200 and sf.info(io.BytesIO(heard.content)).format == "MP3"
