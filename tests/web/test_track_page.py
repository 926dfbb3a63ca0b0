"""A track's page over HTTP: its waveform, who owns it, and the price for the buyer's use with its breakdown."""

from __future__ import annotations

from litestar import Litestar

from discovery import service, synth
from tests.conftest import SignIn
from tests.web.conftest import ListTrack

HTML = {"Accept": "text/html"}


async def test_the_track_page_shows_waveform_owners_and_the_price_breakdown(list_track: ListTrack) -> None:
    listed = await list_track()
    page = await listed.buyer.client.get(f"/discover/tracks/{listed.track_id}", headers=HTML)
    assert page.status_code == 200
    assert 'class="waveform"' in page.text and page.text.count("<rect x=") > 100
    assert "Master · worldwide: Northern Lights Records 100 %" in page.text
    assert "Publishing · worldwide: Harbour Songs 50 %, Northern Lights Records 50 %" in page.text
    assert "How the price is made" in page.text and 'You pay</th><td class="amount">€2,000.00' in page.text
    assert "Buy now €2,000.00" in page.text and "data-buy" in page.text


async def test_the_track_page_follows_the_use_chosen_on_discover(list_track: ListTrack) -> None:
    listed = await list_track(publisher_policy=False)
    client = listed.buyer.client
    await client.get("/discover", params={"media": "film", "territories": "DE"}, headers=HTML)
    page = await client.get(f"/discover/tracks/{listed.track_id}", headers=HTML)
    assert "For your use: film in DE for 12 months, non-exclusive" in page.text
    assert "Needs a request" in page.text and "Request a licence" in page.text
    assert "Master · DE: Northern Lights Records 100 %" in page.text


async def test_a_track_whose_audio_has_not_arrived_says_it_is_not_searchable_yet(sign_in: SignIn) -> None:
    label = await sign_in("rights_holder")
    created = await label.client.post(
        "/api/rights/tracks/", json={"title": "Still Rendering", "artist": "Demo"}
    )
    assert created.status_code == 201, created.text
    page = await label.client.get(f"/discover/tracks/{created.json()['id']}", headers=HTML)
    assert page.status_code == 200
    assert "No audio yet. This track is not searchable until its audio has been analysed." in page.text
    assert "Find tracks like this" not in page.text and 'http-equiv="refresh"' not in page.text


async def test_a_track_waiting_for_analysis_says_it_is_not_searchable_yet_and_refreshes(
    sign_in: SignIn, app: Litestar
) -> None:
    label = await sign_in("rights_holder")
    wav = synth.to_wav(synth.render(synth.demo_track(5), seconds=3))
    uploaded = await label.client.post(
        "/api/discovery/tracks", files={"file": ("take.wav", wav, "audio/wav")},
        data={"title": "Waiting Room", "artist": "Demo"},
    )  # fmt: skip
    assert uploaded.status_code == 202, uploaded.text
    track_id = uploaded.json()["track_id"]
    page = await label.client.get(f"/discover/tracks/{track_id}", headers=HTML)
    assert "Analysis pending" in page.text
    assert "Not searchable yet: it appears in search results once its analysis is done." in page.text
    assert 'http-equiv="refresh"' in page.text
    queued = await app.state.jobs.zrange(service.ANALYSIS_QUEUE, 0, -1)
    assert any(job.decode().startswith(f"discovery:analyse:{track_id}:") for job in queued), (
        "an upload's analysis waits on the analysis workers' queue"
    )
