"""Reading the Discover form: empty means "any", bad fields become sentences, a search survives its own link."""

from __future__ import annotations

from urllib.parse import parse_qsl
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from discovery.model import Mode, Mood
from rights.terms import Media
from web.search_form import SearchForm, UsageChoice, active_filters, read_search_form, read_usage_choice

FIELDS = (
    "q",
    "similar_to",
    "bpm_min",
    "bpm_max",
    "key",
    "mode",
    "mood",
    "instrumental",
    "clearable_only",
    "page",
)


def test_every_field_empty_is_the_search_for_anything() -> None:
    form, problems = read_search_form(dict.fromkeys(FIELDS, ""))
    assert form == SearchForm() and problems == []


@given(st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=300)))
def test_whatever_is_typed_the_form_reads_with_sentences_never_an_exception(params: dict[str, str]) -> None:
    form, problems = read_search_form(params)
    assert all(p.endswith(".") and p[0].isupper() for p in problems)
    form.filters()  # every value kept is one discovery accepts


@given(
    st.builds(
        SearchForm,
        q=st.text(alphabet=st.characters(categories=("L", "N")), max_size=20),
        similar_to=st.one_of(st.none(), st.builds(uuid4)),
        bpm_min=st.one_of(st.none(), st.integers(0, 200).map(float)),
        bpm_max=st.one_of(st.none(), st.integers(200, 400).map(float)),
        key=st.sampled_from(["", "A minor", "F# major"]),
        mode=st.one_of(st.none(), st.sampled_from(Mode)),
        mood=st.one_of(st.none(), st.sampled_from(Mood)),
        instrumental=st.one_of(st.none(), st.booleans()),
        clearable_only=st.booleans(),
        page=st.integers(1, 50),
    )
)
def test_a_search_reads_back_from_its_own_link(form: SearchForm) -> None:
    assert read_search_form(dict(parse_qsl(form.query()))) == (form, [])


def test_a_bpm_range_written_backwards_is_swapped_and_said() -> None:
    form, problems = read_search_form({"bpm_min": "140", "bpm_max": "90"})
    assert (form.bpm_min, form.bpm_max) == (90, 140)
    assert problems == ["BPM from (140) is above BPM to (90); the range was swapped."]


def test_the_use_kept_for_the_session_stands_until_the_form_names_one() -> None:
    kept = UsageChoice(media=Media.FILM, territories="DE", term_months=36)
    assert read_usage_choice({"q": "rain"}, kept) == (kept, [])
    chosen, problems = read_usage_choice({"media": "games", "territories": "us, ca", "term_months": ""}, kept)
    assert chosen == UsageChoice(media=Media.GAMES, territories="US CA", term_months=36) and problems == []
    assert UsageChoice.from_cookie(chosen.cookie()) == chosen


def test_an_unknown_territory_keeps_the_previous_one_and_says_why() -> None:
    kept = UsageChoice(territories="DE")
    chosen, problems = read_usage_choice({"media": "film", "territories": "ATLANTIS"}, kept)
    assert chosen.territories == "DE" and chosen.media is Media.FILM
    assert len(problems) == 1 and "unknown territory 'ATLANTIS'" in problems[0]


def test_a_tampered_cookie_falls_back_to_the_default_use() -> None:
    assert UsageChoice.from_cookie('{"media": "film", "term_months": 999}') == UsageChoice()
    assert UsageChoice.from_cookie("not json") == UsageChoice()


def test_each_active_filter_comes_with_the_search_without_it() -> None:
    form, _ = read_search_form({"q": "rain", "mood": "calm", "bpm_max": "100", "page": "3"})
    found = {f.label: f.without for f in active_filters(form, UsageChoice())}
    assert set(found) == {"the words “rain”", "BPM any to 100", "the mood “calm”"}
    assert found["the mood “calm”"] == SearchForm(q="rain", bpm_max=100)
