"""A track's page over HTTP: its waveform, who owns it, and the price for the buyer's use with its breakdown."""

from __future__ import annotations

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
