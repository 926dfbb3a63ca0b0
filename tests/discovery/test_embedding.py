"""Embeddings: fixed size, unit length, stable, and closer within a mood than across moods."""

from __future__ import annotations

import msgspec
import numpy as np

from discovery import embedding
from discovery.model import AudioFeatures
from tests.discovery.conftest import RenderedTrack


def test_embeddings_have_fixed_dimension_and_unit_length(catalogue: list[RenderedTrack]) -> None:
    for t in catalogue:
        v = embedding.embed(t.features)
        assert v.shape == (embedding.EMBEDDING_DIM,)
        assert abs(np.linalg.norm(v) - 1) < 1e-9


def test_an_embedding_survives_a_round_trip_of_its_features_through_storage(
    catalogue: list[RenderedTrack],
) -> None:
    # Fixed normalisation constants: re-embedding stored features later gives the same vector.
    features = catalogue[0].features
    stored = msgspec.json.decode(msgspec.json.encode(features), type=AudioFeatures)
    assert np.array_equal(embedding.embed(stored), embedding.embed(features))


def test_cosine_is_the_mean_of_the_group_cosines(catalogue: list[RenderedTrack]) -> None:
    a, b = embedding.embed(catalogue[0].features), embedding.embed(catalogue[5].features)
    groups = embedding.group_similarities(a, b)
    assert set(groups) == {"rhythm", "harmony", "timbre", "dynamics"}
    assert (
        float(a @ b) == np.float64(np.mean(list(groups.values())))
        or abs(a @ b - np.mean(list(groups.values()))) < 1e-9
    )


def test_tracks_of_one_mood_sit_closer_than_tracks_of_different_moods(catalogue: list[RenderedTrack]) -> None:
    vectors = np.array([embedding.embed(t.features) for t in catalogue])
    sims = vectors @ vectors.T
    moods = [t.truth.mood for t in catalogue]
    n = len(catalogue)
    same = [sims[i, j] for i in range(n) for j in range(n) if i != j and moods[i] == moods[j]]
    other = [sims[i, j] for i in range(n) for j in range(n) if moods[i] != moods[j]]
    assert np.mean(same) > np.mean(other) + 0.3
    # The nearest neighbour shares the mood for most tracks.
    nearest = [int(np.argsort(-sims[i])[1]) for i in range(n)]
    assert sum(moods[i] == moods[j] for i, j in enumerate(nearest)) / n >= 0.75
