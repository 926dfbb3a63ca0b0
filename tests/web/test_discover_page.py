"""The Discover page as a buyer meets it over HTTP: empty fields, the use kept, clearance and how to license."""

from __future__ import annotations

from discovery.model import Mood
from tests.web.conftest import ListTrack

HTML = {"Accept": "text/html"}
EMPTY_FORM = {
    "q": "", "bpm_min": "", "bpm_max": "", "key": "", "mode": "", "mood": "", "instrumental": "",
    "media": "online_ads", "territories": "", "term_months": "", "clearable_only": "",
}  # fmt: skip


async def test_the_form_with_every_field_empty_searches_instead_of_failing(list_track: ListTrack) -> None:
    listed = await list_track()
    page = await listed.buyer.client.get("/discover", params=EMPTY_FORM, headers=HTML)
    assert page.status_code == 200
    assert 'role="alert"' not in page.text and "Night Drive" in page.text


async def test_words_find_a_track_by_its_description_and_empty_filters_are_ignored(
    list_track: ListTrack,
) -> None:
    listed = await list_track()
    page = await listed.buyer.client.get("/discover", params={**EMPTY_FORM, "q": listed.word}, headers=HTML)
    assert page.status_code == 200 and page.text.count('class="result"') == 1 and "Night Drive" in page.text


async def test_a_bad_number_is_a_sentence_naming_the_field(list_track: ListTrack) -> None:
    listed = await list_track()
    page = await listed.buyer.client.get("/discover", params={"bpm_min": "fast"}, headers=HTML)
    assert page.status_code == 200 and "BPM from must be a number, like 90 (you typed “fast”)." in page.text


async def test_a_use_chosen_once_is_kept_for_the_session(list_track: ListTrack) -> None:
    listed = await list_track()
    client = listed.buyer.client
    chosen = {"media": "tv_ads", "territories": "de fr", "term_months": "24", "exclusive": "true"}
    await client.get("/discover", params=chosen, headers=HTML)
    later = await client.get("/discover", params={"q": listed.word}, headers=HTML)
    assert '<option value="tv_ads" selected>' in later.text and 'value="DE FR"' in later.text
    assert "tv ads in DE, FR for 24 months, exclusive" in later.text


async def test_zero_results_say_which_filter_removed_the_track(list_track: ListTrack) -> None:
    listed = await list_track()
    other = next(m for m in Mood if m.value != listed.mood)
    page = await listed.buyer.client.get(
        "/discover", params={"q": listed.word, "mood": other.value}, headers=HTML
    )
    assert "0 results." in page.text
    # Other tests' tracks may have that mood, so only the mood is certain to be named.
    assert f"remove the mood “{other.value}”" in page.text


async def test_a_clearable_track_offers_buy_now_at_its_list_price(list_track: ListTrack) -> None:
    listed = await list_track()
    page = await listed.buyer.client.get("/discover", params={"q": listed.word}, headers=HTML)
    assert "Clearable now" in page.text and "Buy now €2,000.00" in page.text and "data-buy" in page.text


async def test_a_track_needing_a_request_offers_to_request_a_licence(list_track: ListTrack) -> None:
    listed = await list_track(publisher_policy=False)
    page = await listed.buyer.client.get("/discover", params={"q": listed.word}, headers=HTML)
    assert "Needs a request" in page.text and "has not set a licensing policy" in page.text
    assert "Request a licence" in page.text and "Buy now" not in page.text
