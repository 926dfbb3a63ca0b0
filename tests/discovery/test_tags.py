"""AI tags from features, and suggestions spread from human-tagged neighbours."""

from __future__ import annotations

import uuid

import pytest

from discovery import tags
from discovery.model import Neighbour, TagKind, TagSource, TempoClass
from tests.discovery.conftest import RenderedTrack


def test_mood_matches_the_intended_mood_on_four_tracks_in_five(catalogue: list[RenderedTrack]) -> None:
    right = [tags.mood(t.features)[0] == t.truth.mood for t in catalogue]
    assert sum(right) / len(right) >= 0.8


def test_every_track_gets_mood_tempo_and_key_tags_from_the_analyser(catalogue: list[RenderedTrack]) -> None:
    f = catalogue[0].features
    given = tags.ai_tags(f)
    assert [t.kind for t in given] == [TagKind.MOOD, TagKind.TEMPO, TagKind.KEY]
    assert all(t.source is TagSource.AI and not t.confirmed and 0 <= t.confidence <= 1 for t in given)
    assert given[2].value == f.key.name


@pytest.mark.parametrize(
    ("bpm", "name", "confidence"),
    [
        (70.0, TempoClass.SLOW, 1.0),
        (89.0, TempoClass.SLOW, 0.55),
        (90.0, TempoClass.MID_TEMPO, 0.5),
        (102.5, TempoClass.MID_TEMPO, 1.0),
        (139.0, TempoClass.UPBEAT, 0.55),
        (175.0, TempoClass.FAST, 1.0),
    ],
)
def test_tempo_classes_and_their_confidence(bpm: float, name: TempoClass, confidence: float) -> None:
    assert tags.tempo_class(bpm) == (name, confidence)


def _neighbour(similarity: float, *human: str) -> Neighbour:
    return Neighbour(track_id=uuid.uuid4(), similarity=similarity, human_tags=human)


def test_a_tag_most_neighbours_share_is_suggested_unconfirmed() -> None:
    neighbours = [
        _neighbour(0.9, "cinematic", "drama"),
        _neighbour(0.8, "cinematic"),
        _neighbour(0.7, "lo-fi"),
    ]
    suggested = tags.suggest_tags(neighbours)
    assert [(t.value, t.confidence) for t in suggested] == [("cinematic", round(1.7 / 2.4, 3))]
    assert (
        suggested[0].source is TagSource.AI
        and suggested[0].kind is TagKind.STYLE
        and not suggested[0].confirmed
    )


def test_a_tag_from_one_neighbour_or_already_present_is_not_suggested() -> None:
    assert tags.suggest_tags([_neighbour(0.9, "drama"), _neighbour(0.1)]) == []
    both = [_neighbour(0.9, "drama"), _neighbour(0.9, "drama")]
    assert tags.suggest_tags(both, existing=["drama"]) == []
    assert tags.suggest_tags([]) == []


def test_human_tags_spread_to_similar_catalogue_tracks(catalogue: list[RenderedTrack]) -> None:
    import numpy as np

    from discovery import embedding

    vectors = np.array([embedding.embed(t.features) for t in catalogue])
    tagged = [i for i, t in enumerate(catalogue) if t.truth.human_tags]
    untagged = [i for i, t in enumerate(catalogue) if not t.truth.human_tags]
    agree = total = 0
    for i in untagged:
        sims = vectors[tagged] @ vectors[i]
        order = np.argsort(-sims)[:5]
        neighbours = [
            Neighbour(
                track_id=uuid.uuid4(),
                similarity=float(sims[k]),
                human_tags=catalogue[tagged[k]].truth.human_tags,
            )
            for k in order
        ]
        for tag in tags.suggest_tags(neighbours):
            total += 1
            # A suggestion is plausible when tracks of the same mood carry that tag.
            agree += any(
                tag.value in catalogue[j].truth.human_tags
                and catalogue[j].truth.mood == catalogue[i].truth.mood
                for j in tagged
            )
    assert total >= 10 and agree / total >= 0.8
