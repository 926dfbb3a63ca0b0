"""Score search results and explain, feature group by feature group, why a track came up."""

from __future__ import annotations

import math

import numpy.typing as npt

from discovery.embedding import group_similarities
from discovery.model import AudioFeatures, Explanation, GroupExplanation, Key, Mode

TEXT_WEIGHT = 0.3  # share of the full-text rank in a hybrid score when a query has both


def key_relation(a: Key, b: Key) -> str:
    """How two keys relate: 'same', 'fifth', 'relative', 'parallel' or 'other'."""
    interval = (a.tonic - b.tonic) % 12
    if a.mode is b.mode:
        if interval == 0:
            return "same"
        return "fifth" if interval in (5, 7) else "other"
    if interval == 0:
        return "parallel"
    relative = 9 if b.mode is Mode.MAJOR else 3  # A minor is relative to C major, and back
    return "relative" if interval == relative else "other"


# The MIREX key-estimation weights, which double as a key similarity.
KEY_SIMILARITY = {"same": 1.0, "fifth": 0.5, "relative": 0.3, "parallel": 0.2, "other": 0.0}


def tempo_similarity(a_bpm: float, b_bpm: float) -> float:
    """1 for equal tempi, about 0.5 at 7 % apart, falling off on a log scale."""
    return math.exp(-abs(math.log2(max(a_bpm, 1.0) / max(b_bpm, 1.0))) / 0.14)


def text_score(rank: float) -> float:
    """Map a PostgreSQL ts_rank (0 upwards, typically below 1) onto [0, 1)."""
    return rank / (rank + 0.1) if rank > 0 else 0.0


def hybrid_score(vector_similarity: float | None, text_rank: float | None) -> float:
    """One ranking score from a cosine similarity and a full-text rank, whichever the query had."""
    if vector_similarity is None and text_rank is None:
        return 0.0
    if vector_similarity is None:
        return text_score(text_rank or 0.0)
    if text_rank is None:
        return vector_similarity
    return (1 - TEXT_WEIGHT) * vector_similarity + TEXT_WEIGHT * text_score(text_rank)


def _key_text(query: Key, result: Key) -> str:
    relation = key_relation(result, query)
    if relation == "same":
        return f"same key, {result.name}"
    if relation == "other":
        return f"key {result.name} vs {query.name}"
    return f"{relation} key, {result.name} vs {query.name}"


def explain(
    query: AudioFeatures,
    result: AudioFeatures,
    query_embedding: npt.ArrayLike,
    result_embedding: npt.ArrayLike,
) -> Explanation:
    """Per-group comparison of a result with the query, e.g. 'tempo 118 vs 120 BPM; same key, A minor;
    timbre 0.91; energy 0.78' (the result's value first)."""
    groups = group_similarities(result_embedding, query_embedding)
    parts = (
        GroupExplanation(
            group="rhythm",
            similarity=round(tempo_similarity(result.bpm, query.bpm), 3),
            text=f"tempo {result.bpm:.0f} vs {query.bpm:.0f} BPM",
        ),
        GroupExplanation(
            group="harmony",
            similarity=KEY_SIMILARITY[key_relation(result.key, query.key)],
            text=_key_text(query.key, result.key),
        ),
        GroupExplanation(
            group="timbre", similarity=round(groups["timbre"], 3), text=f"timbre {groups['timbre']:.2f}"
        ),
        GroupExplanation(
            group="dynamics", similarity=round(groups["dynamics"], 3), text=f"energy {groups['dynamics']:.2f}"
        ),
    )
    return Explanation(groups=parts, text="; ".join(p.text for p in parts))


def explain_match(text: str | None, text_rank: float | None) -> Explanation:
    """The explanation of a result found by words or filters alone, with no reference track to compare."""
    if text and text_rank is not None:
        return Explanation(
            groups=(
                GroupExplanation(
                    group="text", similarity=round(text_score(text_rank), 3), text=f"matches “{text}”"
                ),
            ),
            text=f"matches “{text}” (text {text_score(text_rank):.2f})",
        )
    return Explanation(groups=(), text="matches the filters")
