"""Tags from features (mood, tempo class, key) and tag suggestions spread from human-tagged neighbours."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from discovery.model import AudioFeatures, Mode, Mood, Neighbour, Tag, TagKind, TagSource, TempoClass

# Upper tempo bounds (BPM) of each class; the last class has none.
TEMPO_CLASSES = ((90.0, TempoClass.SLOW), (115.0, TempoClass.MID_TEMPO), (140.0, TempoClass.UPBEAT))

# A suggestion needs this share of the neighbours' similarity behind it, from at least two tracks.
SUGGESTION_SUPPORT = 0.5
SUGGESTION_MIN_TRACKS = 2


def valence_arousal(f: AudioFeatures) -> tuple[float, float]:
    """Valence and arousal in [-1, 1].

    Valence: mode above all (major reads happier), then brightness and tempo. Arousal: energy
    above all, then tempo and how busy the onsets are. Weights and pivots are fixed constants.
    """
    mode = 1.0 if f.key.mode is Mode.MAJOR else -1.0
    brightness = math.tanh((f.spectral_centroid_hz - 1500.0) / 700.0)
    pace = math.tanh(2.5 * math.log2(max(f.bpm, 1.0) / 110.0))
    energy = math.tanh((f.energy - 0.4) / 0.12)
    busy = math.tanh((f.onset_rate - 2.8) / 1.5)
    valence = 0.55 * mode + 0.25 * brightness + 0.2 * pace
    arousal = 0.55 * energy + 0.3 * pace + 0.15 * busy
    return max(-1.0, min(1.0, valence)), max(-1.0, min(1.0, arousal))


def mood(f: AudioFeatures) -> tuple[Mood, float]:
    """The valence/arousal quadrant and a confidence that grows with the distance from its borders."""
    valence, arousal = valence_arousal(f)
    if valence >= 0:
        quadrant = Mood.UPLIFTING if arousal >= 0 else Mood.CALM
    else:
        quadrant = Mood.TENSE if arousal >= 0 else Mood.MELANCHOLIC
    return quadrant, round(min(1.0, 0.5 + min(abs(valence), abs(arousal))), 3)


def tempo_class(bpm: float) -> tuple[TempoClass, float]:
    """The tempo class and a confidence: 0.5 on a class border, 1 at 10 BPM or more inside it."""
    lower = 0.0
    for upper, name in TEMPO_CLASSES:
        if bpm < upper:
            margin = min(bpm - lower if lower else math.inf, upper - bpm)
            return name, round(min(1.0, 0.5 + margin / 20.0), 3)
        lower = upper
    return TempoClass.FAST, round(min(1.0, 0.5 + (bpm - lower) / 20.0), 3)


def ai_tags(f: AudioFeatures) -> list[Tag]:
    """The tags the analyser gives every track: mood, tempo class and key."""
    mood_name, mood_confidence = mood(f)
    tempo_name, tempo_confidence = tempo_class(f.bpm)
    return [
        Tag(kind=TagKind.MOOD, value=mood_name.value, source=TagSource.AI, confidence=mood_confidence),
        Tag(kind=TagKind.TEMPO, value=tempo_name.value, source=TagSource.AI, confidence=tempo_confidence),
        Tag(kind=TagKind.KEY, value=f.key.name, source=TagSource.AI, confidence=f.key_confidence),
    ]


def suggest_tags(neighbours: Sequence[Neighbour], existing: Iterable[str] = ()) -> list[Tag]:
    """Human tags of nearby tracks worth suggesting, as unconfirmed `ai` style tags.

    A tag is suggested when the neighbours carrying it hold at least SUGGESTION_SUPPORT of the
    neighbours' total similarity and there are at least SUGGESTION_MIN_TRACKS of them; its
    confidence is that share. Tags the track already has are not suggested again.
    """
    weights = [max(n.similarity, 0.0) for n in neighbours]
    total = sum(weights)
    if total == 0:
        return []
    support: dict[str, float] = {}
    carriers: dict[str, int] = {}
    for n, w in zip(neighbours, weights, strict=True):
        for tag in set(n.human_tags):
            support[tag] = support.get(tag, 0.0) + w
            carriers[tag] = carriers.get(tag, 0) + 1
    have = set(existing)
    chosen = [
        (tag, share / total)
        for tag, share in support.items()
        if tag not in have and share / total >= SUGGESTION_SUPPORT and carriers[tag] >= SUGGESTION_MIN_TRACKS
    ]
    chosen.sort(key=lambda item: (-item[1], item[0]))
    return [
        Tag(kind=TagKind.STYLE, value=tag, source=TagSource.AI, confidence=round(share, 3))
        for tag, share in chosen
    ]
