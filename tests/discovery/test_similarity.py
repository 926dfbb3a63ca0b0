"""Scores and explanations agree with the stored features."""

from __future__ import annotations

import re

import pytest

from discovery import embedding, similarity
from discovery.model import Key
from tests.discovery.conftest import RenderedTrack


def test_explanation_quotes_the_stored_tempi_keys_and_group_similarities(
    catalogue: list[RenderedTrack],
) -> None:
    for query, result in [
        (catalogue[0], catalogue[4]),
        (catalogue[2], catalogue[6]),
        (catalogue[1], catalogue[1]),
    ]:
        q, r = query.features, result.features
        qe, re_ = embedding.embed(q), embedding.embed(r)
        explanation = similarity.explain(q, r, qe, re_)
        tempo, key, timbre, energy = explanation.groups
        assert tempo.text == f"tempo {r.bpm:.0f} vs {q.bpm:.0f} BPM"
        assert r.key.name in key.text
        groups = embedding.group_similarities(re_, qe)
        assert timbre.similarity == pytest.approx(groups["timbre"], abs=1e-3)
        assert energy.similarity == pytest.approx(groups["dynamics"], abs=1e-3)
        assert re.fullmatch(
            r"tempo \d+ vs \d+ BPM; .+; timbre -?\d\.\d\d; energy -?\d\.\d\d", explanation.text
        )


def test_a_track_explained_against_itself_is_the_same_everywhere(catalogue: list[RenderedTrack]) -> None:
    f = catalogue[7].features
    v = embedding.embed(f)
    explanation = similarity.explain(f, f, v, v)
    assert [g.similarity for g in explanation.groups] == [1.0, 1.0, 1.0, 1.0]
    assert f"same key, {f.key.name}" in explanation.text


@pytest.mark.parametrize(
    ("a", "b", "relation"),
    [
        ("A minor", "A minor", "same"),
        ("C major", "A minor", "relative"),
        ("A major", "A minor", "parallel"),
        ("E minor", "A minor", "fifth"),
        ("F# major", "C major", "other"),
    ],
)
def test_key_relations(a: str, b: str, relation: str) -> None:
    assert similarity.key_relation(Key.parse(a), Key.parse(b)) == relation


def test_hybrid_score_blends_whatever_the_query_had() -> None:
    assert similarity.hybrid_score(None, None) == 0.0
    assert similarity.hybrid_score(0.8, None) == 0.8
    assert similarity.hybrid_score(None, 0.1) == pytest.approx(0.5)
    assert similarity.hybrid_score(0.8, 0.1) == pytest.approx(0.7 * 0.8 + 0.3 * 0.5)


def test_tempo_similarity_falls_with_the_ratio() -> None:
    assert similarity.tempo_similarity(120, 120) == 1.0
    assert (
        similarity.tempo_similarity(120, 118)
        > similarity.tempo_similarity(120, 100)
        > similarity.tempo_similarity(120, 60)
    )
