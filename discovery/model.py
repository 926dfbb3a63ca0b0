"""The nouns of discovery: keys, audio features, tags, fingerprint matches, search results."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


class Mode(enum.StrEnum):
    MAJOR = "major"
    MINOR = "minor"


class Mood(enum.StrEnum):
    """The four quadrants of the valence/arousal plane, in words a music supervisor uses."""

    UPLIFTING = "uplifting"  # positive valence, high arousal
    CALM = "calm"  # positive valence, low arousal
    MELANCHOLIC = "melancholic"  # negative valence, low arousal
    TENSE = "tense"  # negative valence, high arousal


class TempoClass(enum.StrEnum):
    SLOW = "slow"
    MID_TEMPO = "mid-tempo"
    UPBEAT = "upbeat"
    FAST = "fast"


class TagSource(enum.StrEnum):
    AI = "ai"
    HUMAN = "human"


class TagKind(enum.StrEnum):
    MOOD = "mood"
    TEMPO = "tempo"
    KEY = "key"
    STYLE = "style"  # free human tags ("cinematic", "lo-fi") and suggestions propagated from them


class Key(msgspec.Struct, frozen=True):
    """A tonal centre: pitch class of the tonic (0 = C … 11 = B) and mode."""

    tonic: int
    mode: Mode

    def __post_init__(self) -> None:
        if not 0 <= self.tonic <= 11:
            raise ValueError(f"tonic must be a pitch class 0..11, got {self.tonic}")

    @property
    def name(self) -> str:
        return f"{PITCH_CLASSES[self.tonic]} {self.mode.value}"

    @classmethod
    def parse(cls, text: str) -> Key:
        """Read 'A minor', 'F# major', 'Bb minor' (sharps and flats both accepted)."""
        parts = text.strip().split()
        if len(parts) != 2:
            raise ValueError(f"a key is written like 'A minor', got {text!r}")
        spelling = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb"}
        tonic = spelling.get(parts[0].capitalize(), parts[0].capitalize())
        if tonic not in PITCH_CLASSES:
            raise ValueError(f"unknown tonic {parts[0]!r} in key {text!r}")
        try:
            mode = Mode(parts[1].lower())
        except ValueError:
            raise ValueError(f"mode must be 'major' or 'minor', got {parts[1]!r}") from None
        return cls(PITCH_CLASSES.index(tonic), mode)


class AudioFeatures(msgspec.Struct, frozen=True, kw_only=True):
    """What the analyser measured in one recording (mono, 22,050 Hz).

    Spectral values are means over frames; `*_std` are standard deviations over frames.
    `loudness_db` is the RMS level in dBFS over non-silent frames (not LUFS).
    `energy`, `instrumental` and `key_confidence` are in [0, 1].
    """

    analysis_version: int
    duration_s: float
    bpm: float
    beat_count: int
    pulse_clarity: float  # how strongly the onset envelope repeats at the beat period, 0..1
    key: Key
    key_confidence: float
    loudness_db: float
    dynamic_range_db: float
    energy: float
    spectral_centroid_hz: float
    spectral_bandwidth_hz: float
    spectral_rolloff_hz: float
    spectral_flatness: float
    onset_rate: float  # onsets per second
    percussive_ratio: float  # share of energy below 5 kHz in the percussive HPSS component
    mfcc_mean: tuple[float, ...]
    mfcc_std: tuple[float, ...]
    chroma_mean: tuple[float, ...]
    spectral_contrast_mean: tuple[float, ...]
    vibrato_ratio: float  # share of pitched frames whose pitch wobbles at 4–8 Hz, as a voice does
    instrumental: float  # estimated probability that nobody sings


class Tag(msgspec.Struct, frozen=True, kw_only=True):
    """A label on a track: who gave it (`ai` or `human`), how sure, and whether a person confirmed it."""

    kind: TagKind
    value: str
    source: TagSource
    confidence: float
    confirmed: bool = False


class Neighbour(msgspec.Struct, frozen=True, kw_only=True):
    """A track near another in embedding space, with the human tags it carries."""

    track_id: UUID
    similarity: float
    human_tags: tuple[str, ...]


class Landmark(msgspec.Struct, frozen=True, array_like=True):
    """One fingerprint hash and the frame at which its anchor peak occurs."""

    hash: int
    offset: int


class FingerprintHit(msgspec.Struct, frozen=True, array_like=True):
    """A stored landmark whose hash equals one of the query's."""

    hash: int
    track_id: UUID
    offset: int


class Identification(msgspec.Struct, frozen=True, kw_only=True):
    """The catalogue track a clip comes from, where in it the clip starts, and how sure we are."""

    matched: bool
    track_id: UUID | None = None
    offset_s: float | None = None
    # 0.5 exactly at the decision rule's bar (discovery.fingerprint.evidence), towards 1 far above
    # it; a clip that is no match says how close it came (below 0.5).
    confidence: float = 0.0
    aligned_hashes: int = 0
    query_hashes: int = 0
    # Every catalogue track that is a near-duplicate of the match (the match too); empty when none.
    recording_group: tuple[UUID, ...] = ()


class GroupExplanation(msgspec.Struct, frozen=True, kw_only=True):
    """How one feature group of a result compares with the query, as a number and in words."""

    group: str
    similarity: float
    text: str


class Explanation(msgspec.Struct, frozen=True, kw_only=True):
    groups: tuple[GroupExplanation, ...]
    text: str  # the groups joined: "tempo 118 vs 120 BPM; same key, A minor; timbre 0.91; energy 0.78"


class AnalysisStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class TrackAnalysis(msgspec.Struct, frozen=True, kw_only=True):
    """The analysis state of one catalogue track, as the job status endpoint shows it."""

    track_id: UUID
    status: AnalysisStatus
    progress: float
    attempts: int
    error: str | None
    analysis_version: int | None
    updated_at: datetime
    near_duplicate_of: UUID | None = None  # a catalogue track this audio is (nearly) a copy of
    features: AudioFeatures | None = None


class CatalogueProgress(msgspec.Struct, frozen=True, kw_only=True):
    """How far the analysis of a set of tracks (the demo catalogue) has come."""

    analysed: int
    failed: int
    total: int

    @property
    def finished(self) -> bool:
        return self.analysed + self.failed >= self.total

    def describe(self) -> str:
        """One line for the terminal and the Discover page: "Demo catalogue: 12 of 40 tracks analysed"."""
        text = f"Demo catalogue: {self.analysed} of {self.total} tracks analysed"
        if self.failed:
            text += f", {self.failed} could not be analysed"
        return text


class StoredTag(msgspec.Struct, frozen=True, kw_only=True):
    """A tag as stored on a catalogue track; suggestions are `ai` style tags awaiting confirmation."""

    id: UUID
    track_id: UUID
    kind: TagKind
    value: str
    source: TagSource
    confidence: float
    confirmed: bool


class SearchFilters(msgspec.Struct, frozen=True, kw_only=True):
    """What a result must satisfy; None means "any"."""

    bpm_min: float | None = None
    bpm_max: float | None = None
    key: Key | None = None
    mode: Mode | None = None
    mood: Mood | None = None
    duration_min: float | None = None
    duration_max: float | None = None
    instrumental: bool | None = None
    track_ids: frozenset[UUID] | None = None  # e.g. the tracks clearable for a usage
    exclude: frozenset[UUID] = frozenset()


class ColumnStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """What ANALYZE keeps about one filterable column of the catalogue (a row of pg_stats)."""

    null_fraction: float
    distinct: float  # a count of distinct values when positive; minus a fraction of the rows when negative
    common_values: tuple[str, ...] = ()  # as text, e.g. 'tense', '3', '120.5'
    common_frequencies: tuple[float, ...] = ()
    histogram: tuple[float, ...] = ()  # bounds of equally full buckets of the other values (numeric columns)


class RecallMeasurement(msgspec.Struct, frozen=True, kw_only=True):
    """The mean recall@k of the whole catalogue's graph searched weighing `ef_search` candidates."""

    ef_search: int
    recall: float


class GraphCalibration(msgspec.Struct, frozen=True, kw_only=True):
    """What the graph's recall was measured to be on the catalogue itself, at several ef_search values.

    Each query is a catalogue track moved as far as its nearest neighbour is (search_plan.query_near),
    its nearest tracks found exactly and by the graph: a query as a new track near the catalogue's own.
    """

    measured_at: datetime
    rows: int  # the catalogue's tracks when measured, as CatalogueStatistics.rows counts them
    queries: int
    recalls: tuple[RecallMeasurement, ...]


class CatalogueStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """The planner's statistics of the catalogue, read once in a while to size vector searches."""

    rows: float  # PostgreSQL's estimate; negative when the table was never analysed
    columns: dict[str, ColumnStatistics] = msgspec.field(default_factory=dict)
    calibration: GraphCalibration | None = None  # the latest, if the graph's recall was ever measured


class NearestPlan(msgspec.Struct, frozen=True, kw_only=True):
    """How to find the k nearest tracks that pass a filter.

    'exact' scores every matching row; 'hnsw' takes the `take` nearest rows from the index (weighing
    `ef_search` candidates) and filters them; 'range' scores every row in the filter's tempo range and
    key (migration 0090) and filters the `take` nearest. Either is redone exactly when fewer than k
    pass. The index is the whole catalogue's graph, or with `graph` that mood's own (migration 0088).
    """

    method: Literal["exact", "hnsw", "range"]
    take: int = 0
    ef_search: int = 0
    graph: Mood | None = None


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """A track the store found for a query, before scoring: its cosine distance and text rank if asked."""

    track_id: UUID
    distance: float | None = None
    text_rank: float | None = None


class SearchResult(msgspec.Struct, frozen=True, kw_only=True):
    track_id: UUID
    title: str
    artist: str
    score: float
    explanation: Explanation
    bpm: float | None
    key: str | None
    mood: str | None
    duration_s: float | None
    instrumental: bool | None
    tags: tuple[str, ...]


class SearchPage(msgspec.Struct, frozen=True, kw_only=True):
    results: tuple[SearchResult, ...]
    page: int
    page_size: int
    has_more: bool
    method: str  # "exact", "hnsw", "range", "text" or "filter": how the candidates were found


class SameRecording(msgspec.Struct, frozen=True, kw_only=True):
    """Another catalogue track holding the same recording as the match."""

    track_id: UUID
    title: str
    artist: str


class IdentifiedTrack(msgspec.Struct, frozen=True, kw_only=True):
    """An identification with the catalogue entry's title, as the identify endpoint answers."""

    identification: Identification
    title: str | None = None
    artist: str | None = None
    same_recording: tuple[SameRecording, ...] = ()
