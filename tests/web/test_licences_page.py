"""My licences over HTTP: a buyer's deals with their state and co-owners' consent; not a page for sellers."""

from __future__ import annotations

from tests.web.conftest import ListTrack

HTML = {"Accept": "text/html"}


async def test_a_deal_waiting_for_payment_offers_card_and_chain_payment(list_track: ListTrack) -> None:
    listed = await list_track()
    body = {"track_id": str(listed.track_id), "media": "online_ads", "territories": ["WORLD"], "term_months": 12,
            "start": "2027-01-01"}  # fmt: skip
    quote = (await listed.buyer.client.post("/api/quotes", json=body)).json()
    deal = (
        await listed.buyer.client.post(f"/api/quotes/{quote['id']}/accept", headers={"Idempotency-Key": "k"})
    ).json()
    page = (await listed.buyer.client.get("/licences", headers=HTML)).text
    assert f'id="deal-{deal["id"]}"' in page and "Agreed — waiting for your payment" in page
    assert "Pay €2,000.00 by test card" in page and f"/deals/{deal['id']}/pay-on-chain" in page
    assert "Harbour Songs: agreed by its policy" in page and "bought at the list price" in page
    assert (await listed.label.client.get("/licences", headers=HTML)).status_code == 403
