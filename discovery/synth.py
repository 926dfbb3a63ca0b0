"""A deterministic synthesiser that renders the demo catalogue, whose tempo, key and mood are known.

Each track is drums, bass, chords and a lead of a chosen timbre, playing a diatonic progression in
its key at its tempo, so the analyser can be tested against ground truth without any download.
Everything random is drawn from a generator seeded by the track, so a render is reproducible.
"""

from __future__ import annotations

import io
import math

import msgspec
import numpy as np
import numpy.typing as npt
import soundfile as sf
from scipy import signal

from discovery.model import Key, Mode, Mood

SAMPLE_RATE = 22_050
TARGET_SECONDS = 24.0  # long enough for tempo and key, short enough to keep tests fast

Audio = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]


class DemoTrack(msgspec.Struct, frozen=True, kw_only=True):
    """One catalogue track with the ground truth it was rendered from."""

    slug: str
    title: str
    artist: str
    description: str
    bpm: float
    key: Key
    mood: Mood
    drums: str  # "four_on_floor", "backbeat", "breakbeat", "brushes"
    bass: str  # "sub", "synth", "picked"
    chords: str  # "piano", "pad", "organ", "epiano"
    lead: str  # "saw", "square", "flute", "bell", "vox"
    vocal: bool  # the lead is a synthetic singing voice
    human_tags: tuple[str, ...]
    seed: int


# Scale degrees as semitones above the tonic; minor is natural minor, with a major V borrowed
# from harmonic minor as real minor-key music usually has.
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
_TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7)}
_PROGRESSIONS: dict[Mode, tuple[tuple[tuple[int, str], ...], ...]] = {
    Mode.MAJOR: (
        ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),  # I V vi IV
        ((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")),  # I IV V I
        ((0, "maj"), (9, "min"), (5, "maj"), (7, "maj")),  # I vi IV V
        ((0, "maj"), (5, "maj"), (0, "maj"), (7, "maj")),  # I IV I V
    ),
    Mode.MINOR: (
        ((0, "min"), (5, "min"), (7, "maj"), (0, "min")),  # i iv V i
        ((0, "min"), (8, "maj"), (5, "min"), (7, "maj")),  # i VI iv V
        ((0, "min"), (10, "maj"), (8, "maj"), (7, "maj")),  # i VII VI V (Andalusian)
        ((0, "min"), (5, "min"), (8, "maj"), (7, "maj")),  # i iv VI V
    ),
}

_MOOD_PLANS: dict[Mood, dict[str, tuple[str, ...]]] = {
    Mood.UPLIFTING: {
        "drums": ("four_on_floor", "backbeat"),
        "bass": ("synth", "picked"),
        "chords": ("piano", "pad", "epiano"),
        "lead": ("saw", "square", "bell"),
    },
    Mood.CALM: {
        "drums": ("brushes",),
        "bass": ("sub", "picked"),
        "chords": ("epiano", "pad", "organ"),
        "lead": ("flute", "bell", "vox"),
    },
    Mood.MELANCHOLIC: {
        "drums": ("brushes",),
        "bass": ("sub",),
        "chords": ("piano", "pad"),
        "lead": ("flute", "vox", "bell"),
    },
    Mood.TENSE: {
        "drums": ("breakbeat", "four_on_floor", "backbeat"),
        "bass": ("synth",),
        "chords": ("organ", "pad"),
        "lead": ("square", "saw", "vox"),
    },
}
_MOOD_TEMPI = {
    Mood.UPLIFTING: (112, 170),
    Mood.CALM: (70, 104),
    Mood.MELANCHOLIC: (70, 100),
    Mood.TENSE: (120, 170),
}

_ARTISTS = (
    "Aurora Vale", "The Lantern Choir", "Kestrel & Finch", "Mira Sol", "Northbound Static",
    "Paper Harbour", "Jonah Reyes", "Velvet Circuit", "Ada Moreau", "Low Tide Collective",
)  # fmt: skip
_WORDS: dict[Mood, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Mood.UPLIFTING: (("Golden", "Bright", "Rising", "Open", "Electric", "Sunny"), ("Morning", "Skyline", "Parade", "Summit", "Horizon", "Road")),
    Mood.CALM: (("Quiet", "Soft", "Still", "Slow", "Gentle", "Warm"), ("Harbour", "Meadow", "Lanterns", "Tide", "Garden", "Window")),
    Mood.MELANCHOLIC: (("Grey", "Distant", "Fading", "Empty", "Lonely", "Winter"), ("Letters", "Station", "Rain", "Rooms", "Shore", "Photographs")),
    Mood.TENSE: (("Dark", "Restless", "Broken", "Midnight", "Iron", "Hidden"), ("Pursuit", "Signal", "Engine", "Alley", "Countdown", "Storm")),
}  # fmt: skip
_STYLE_TAGS: dict[Mood, tuple[str, ...]] = {
    Mood.UPLIFTING: ("corporate", "summer", "advertising"),
    Mood.CALM: ("lo-fi", "documentary", "meditation"),
    Mood.MELANCHOLIC: ("cinematic", "drama", "piano ballad"),
    Mood.TENSE: ("action", "thriller", "chase scene"),
}
_DRUM_WORDS = {
    "four_on_floor": "four-on-the-floor drums",
    "backbeat": "a backbeat groove",
    "breakbeat": "driving breakbeat drums",
    "brushes": "soft brushed percussion",
}
_LEAD_WORDS = {
    "saw": "a bright saw lead",
    "square": "a square-wave lead",
    "flute": "a breathy flute",
    "bell": "a bell-like melody",
    "vox": "a wordless synthetic voice",
}

CATALOGUE_SIZE = 40


def demo_track(index: int, seed: int = 2026) -> DemoTrack:
    """The index-th track of the catalogue generated from seed (any index gives a valid track)."""
    rng = np.random.default_rng([seed, index])
    mood = list(Mood)[index % 4]
    mode = Mode.MAJOR if mood in (Mood.UPLIFTING, Mood.CALM) else Mode.MINOR
    tonic = (index * 7 + int(rng.integers(0, 3))) % 12  # walk the circle of fifths so keys vary
    low, high = _MOOD_TEMPI[mood]
    # Spread tempi evenly across the mood's range in catalogue order, with a little jitter.
    position = ((index // 4) * 0.618034) % 1.0
    bpm = float(round(low + position * (high - low) + rng.uniform(-1.5, 1.5)))
    plan = _MOOD_PLANS[mood]
    drums, bass, chords, lead = (str(rng.choice(plan[part])) for part in ("drums", "bass", "chords", "lead"))
    adjectives, nouns = _WORDS[mood]
    round_ = index // 4  # unique titles within the catalogue: each mood pairs its words differently per round
    title = f"{adjectives[round_ % 6]} {nouns[(round_ + round_ // 6) % 6]}"
    artist = str(_ARTISTS[int(rng.integers(0, len(_ARTISTS)))])
    key = Key(tonic, mode)
    description = (
        f"A {mood.value} {int(bpm)} BPM piece in {key.name} with {_DRUM_WORDS[drums]}, "
        f"{chords} chords and {_LEAD_WORDS[lead]}."
    )
    # About a third of the catalogue carries human tags, so that propagation has something to spread.
    human_tags = (
        tuple(sorted(str(t) for t in rng.choice(_STYLE_TAGS[mood], size=2, replace=False)))
        if index % 3 == 0
        else ()
    )
    return DemoTrack(
        slug=f"demo-{index:03d}",
        title=title,
        artist=artist,
        description=description,
        bpm=bpm,
        key=key,
        mood=mood,
        drums=drums,
        bass=bass,
        chords=chords,
        lead=lead,
        vocal=lead == "vox",
        human_tags=human_tags,
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def demo_catalogue(size: int = CATALOGUE_SIZE) -> list[DemoTrack]:
    return [demo_track(i) for i in range(size)]


def midi_hz(note: float) -> float:
    return float(440.0 * 2.0 ** ((note - 69.0) / 12.0))


def _envelope(n: int, sr: int, attack: float, decay: float, sustain: float, release: float) -> _F64:
    """ADSR over n samples, the release taking the last `release` seconds."""
    t = np.arange(n) / sr
    env = np.where(t < attack, t / max(attack, 1e-4), sustain + (1 - sustain) * np.exp(-(t - attack) / decay))
    rel = min(int(release * sr), n)
    if rel:
        env[n - rel :] *= np.linspace(1.0, 0.0, rel)
    return env


def _harmonics(phase: _F64, amplitudes: _F64, f0: float, sr: int) -> _F64:
    """Sum of sin(k·phase)·a_k, dropping partials above Nyquist so nothing aliases.

    Summed by Clenshaw's recurrence (sin((k+1)x) = 2·cos x·sin(kx) − sin((k−1)x)): two multiply-adds per
    partial instead of one sine each, which made rendering the demo as slow as analysing it.
    """
    ks = np.arange(1, len(amplitudes) + 1)
    weights = amplitudes[ks * f0 < sr / 2 * 0.9]
    two_cos = 2.0 * np.cos(phase)
    later = np.zeros_like(phase)  # b(k+1)
    latest = np.zeros_like(phase)  # b(k+2)
    for weight in weights[::-1]:
        later, latest = weight + two_cos * later - latest, later
    return np.asarray(later * np.sin(phase), dtype=np.float64)


def _formants(x: _F64, vowel: int, sr: int) -> _F64:
    """Shape a glottal source with the first three formants of one of five vowels."""
    table = ((800, 1150, 2900), (400, 1600, 2700), (350, 2300, 3000), (450, 800, 2830), (325, 700, 2530))
    out = np.zeros_like(x)
    for freq, gain in zip(table[vowel % 5], (1.0, 0.6, 0.3), strict=True):
        b, a = signal.iirpeak(freq, Q=freq / 90.0, fs=sr)
        out += gain * signal.lfilter(b, a, x)
    return out


def _note(
    timbre: str, note: float, seconds: float, sr: int, rng: np.random.Generator, vowel: int = 0
) -> _F64:
    """One note of an instrument, `seconds` long including its release."""
    n = max(int(seconds * sr), 1)
    t = np.arange(n) / sr
    f0 = midi_hz(note)
    phase = 2 * np.pi * f0 * t
    k = np.arange(1, 41, dtype=np.float64)
    match timbre:
        case "piano":
            # Higher partials die away faster, as on a struck string.
            ks = np.arange(1, 9)
            parts = [
                (1 / kk**1.3) * np.sin(kk * phase) * np.exp(-t * (1.2 + 0.9 * kk))
                for kk in ks
                if kk * f0 < sr * 0.45
            ]
            return np.asarray(np.sum(parts, axis=0) * _envelope(n, sr, 0.004, 10.0, 1.0, 0.05))
        case "epiano":
            mod = (2.0 * np.exp(-t * 4.0)) * np.sin(phase)
            return np.sin(phase + mod) * np.exp(-t * 1.5) * _envelope(n, sr, 0.005, 10.0, 1.0, 0.06)
        case "pad":
            detuned = sum(
                _harmonics(2 * np.pi * f0 * (1 + d) * t + rng.uniform(0, 6.28), 1 / k[:16] ** 1.6, f0, sr)
                for d in (-0.004, 0.0, 0.004)
            )
            return np.asarray(detuned, dtype=np.float64) / 3 * _envelope(n, sr, 0.25, 1.0, 0.8, 0.3)
        case "organ":
            drawbars = np.array([1.0, 0.7, 0.5, 0.35, 0.0, 0.25, 0.0, 0.15])
            return _harmonics(phase, drawbars, f0, sr) * _envelope(n, sr, 0.01, 1.0, 1.0, 0.05)
        case "saw":
            return _harmonics(phase, 1 / k, f0, sr) * _envelope(n, sr, 0.01, 0.3, 0.7, 0.05)
        case "square":
            return _harmonics(phase, np.where(k % 2 == 1, 1 / k, 0.0), f0, sr) * _envelope(
                n, sr, 0.01, 0.2, 0.6, 0.05
            )
        case "flute":
            vib = 1 + 0.002 * np.sin(2 * np.pi * 4.5 * t)
            ph = 2 * np.pi * f0 * np.cumsum(vib) / sr
            breath = signal.lfilter(
                *signal.butter(2, [min(f0 * 2, 5000), min(f0 * 4, 9000)], "bandpass", fs=sr),
                rng.standard_normal(n),
            )
            tone = np.sin(ph) + 0.25 * np.sin(2 * ph) + 0.08 * np.sin(3 * ph) + 0.04 * np.asarray(breath)
            return tone * _envelope(n, sr, 0.06, 0.5, 0.85, 0.08)
        case "bell":
            mod = 1.5 * np.exp(-t * 2.5) * np.sin(2 * phase)
            return np.sin(phase + mod) * np.exp(-t * 2.0) * _envelope(n, sr, 0.002, 10.0, 1.0, 0.05)
        case "vox":
            # A singing voice: vibrato of ±45 cents at 5.5 Hz on a glottal pulse, shaped by formants.
            vib = 2 ** (
                0.45 / 12 * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 6.28)) * np.minimum(t / 0.25, 1)
            )
            ph = 2 * np.pi * f0 * np.cumsum(vib) / sr
            source = _harmonics(ph, 1 / k**1.1, f0, sr)
            return _formants(source, vowel, sr) * _envelope(n, sr, 0.08, 0.4, 0.85, 0.12)
        case "sub":
            return (np.sin(phase) + 0.3 * np.sin(2 * phase)) * _envelope(n, sr, 0.005, 0.4, 0.6, 0.05)
        case "synth":
            return _harmonics(phase, 1 / k[:10] ** 1.8, f0, sr) * _envelope(n, sr, 0.005, 0.15, 0.5, 0.04)
        case "picked":
            return (
                _harmonics(phase, 1 / k[:8] ** 1.5, f0, sr)
                * np.exp(-t * 3.0)
                * _envelope(n, sr, 0.003, 10, 1, 0.04)
            )
    raise ValueError(f"unknown timbre {timbre!r}")


def _drum(kind: str, sr: int, rng: np.random.Generator) -> _F64:
    """One drum hit: a pitched-down sine for the kick, filtered noise for snare, hat and brush.

    Tuning and decay are drawn from the track's generator, so each track has its own kit.
    """
    match kind:
        case "kick":
            t = np.arange(int(0.35 * sr)) / sr
            freq = rng.uniform(42, 58) + rng.uniform(80, 140) * np.exp(-t / rng.uniform(0.025, 0.045))
            return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.13)
        case "snare":
            t = np.arange(int(0.22 * sr)) / sr
            b, a = signal.butter(2, [1200, 7000], "bandpass", fs=sr)
            noise = np.asarray(signal.lfilter(b, a, rng.standard_normal(len(t))))
            body = np.sin(2 * np.pi * rng.uniform(160, 240) * t) * np.exp(-t / 0.04)
            return 0.9 * noise * np.exp(-t / 0.06) + 0.5 * body
        case "hat":
            t = np.arange(int(0.08 * sr)) / sr
            b, a = signal.butter(4, 7000, "highpass", fs=sr)
            return np.asarray(signal.lfilter(b, a, rng.standard_normal(len(t))) * np.exp(-t / 0.018))
        case "brush":
            t = np.arange(int(0.18 * sr)) / sr
            b, a = signal.butter(2, [2000, 8000], "bandpass", fs=sr)
            return np.asarray(
                signal.lfilter(b, a, rng.standard_normal(len(t)))
                * np.minimum(t / 0.02, 1)
                * np.exp(-t / 0.05)
            )
    raise ValueError(f"unknown drum {kind!r}")


# Hits per bar as (drum, beat position in quarter notes, velocity).
_PATTERNS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "four_on_floor": (
        *(("kick", b, 1.0) for b in (0, 1, 2, 3)),
        ("snare", 1, 0.6), ("snare", 3, 0.6),
        *(("hat", b + 0.5, 0.5) for b in (0, 1, 2, 3)),
    ),
    "backbeat": (
        ("kick", 0, 1.0), ("kick", 2, 0.9),
        ("snare", 1, 0.8), ("snare", 3, 0.8),
        *(("hat", b / 2, 0.35 if b % 2 else 0.5) for b in range(8)),
    ),
    "breakbeat": (
        ("kick", 0, 1.0), ("kick", 1.5, 0.7), ("kick", 2, 0.9),
        ("snare", 1, 0.9), ("snare", 3, 0.9),
        *(("hat", b / 2, 0.3 if b % 2 else 0.45) for b in range(8)),
    ),
    "brushes": (
        ("kick", 0, 0.7), ("kick", 2, 0.55),
        *(("brush", b, 0.6 if b % 2 else 0.4) for b in (0, 1, 2, 3)),
    ),
}  # fmt: skip

# Levels per part, and master gain, by mood: quiet moods are mixed softer and darker.
_LEVELS = {
    Mood.UPLIFTING: (0.9, 0.45, 0.22, 0.28, 0.95),
    Mood.CALM: (0.45, 0.4, 0.28, 0.22, 0.35),
    Mood.MELANCHOLIC: (0.4, 0.4, 0.3, 0.22, 0.3),
    Mood.TENSE: (1.0, 0.5, 0.22, 0.28, 0.95),
}


def _place(out: _F64, sound: _F64, start: int) -> None:
    end = min(start + len(sound), len(out))
    if start < end:
        out[start:end] += sound[: end - start]


def render(track: DemoTrack, sr: int = SAMPLE_RATE, seconds: float = TARGET_SECONDS) -> Audio:
    """The track as mono float32 samples in [-1, 1], about `seconds` long (whole bars plus a tail)."""
    rng = np.random.default_rng(track.seed)
    beat = 60.0 / track.bpm
    bars = max(4, round(seconds / (4 * beat)))
    total = int((bars * 4 * beat + 1.0) * sr)
    drums, bass, chords, lead = (np.zeros(total) for _ in range(4))
    scale = _MAJOR_SCALE if track.key.mode is Mode.MAJOR else _MINOR_SCALE
    progression = _PROGRESSIONS[track.key.mode][int(rng.integers(0, 4))]
    tonic = track.key.tonic
    drum_hits = {kind: [_drum(kind, sr, rng) for _ in range(4)] for kind in ("kick", "snare", "hat", "brush")}
    melody_note = 72 + tonic if tonic < 6 else 60 + tonic  # start on the tonic, around C5
    for bar in range(bars):
        bar_start = bar * 4 * beat
        root, quality = progression[bar % 4] if bar < bars - 1 else (0, progression[0][1])
        for kind, pos, velocity in _PATTERNS[track.drums]:
            hit = drum_hits[kind][int(rng.integers(0, 4))]
            _place(drums, hit * velocity * rng.uniform(0.85, 1.0), int((bar_start + pos * beat) * sr))
        # Bass: the chord root on beats 1 and 3, the fifth on beat 3 every other bar.
        bass_root = 36 + (tonic + root) % 12
        for pos, interval in ((0, 0), (2, 7 if bar % 2 else 0)):
            tone = _note(track.bass, bass_root + interval, 2 * beat * 0.95, sr, rng)
            _place(bass, tone, int((bar_start + pos * beat) * sr))
        # Chords: a triad around middle C, struck on beat 1 (and beat 3 for struck instruments).
        voicing = [55 + (tonic + root + iv - 55) % 12 for iv in _TRIADS[quality]]
        strikes = (0, 2) if track.chords in ("piano", "epiano") else (0,)
        for pos in strikes:
            length = 4 * beat / len(strikes)
            for note in voicing:
                _place(chords, _note(track.chords, note, length, sr, rng), int((bar_start + pos * beat) * sr))
        # Lead: from bar 2, a melody that lands on chord tones on strong beats and steps through the
        # scale between them; never looped, so every stretch of the track is unique.
        if bar >= 1:
            pos = 0.0
            while pos < 4:
                length = (
                    float(rng.choice((0.5, 1.0, 1.0, 2.0)))
                    if track.lead != "vox"
                    else float(rng.choice((1.0, 2.0)))
                )
                length = min(length, 4 - pos)
                if pos in (0.0, 2.0):
                    targets = [
                        n
                        for n in range(melody_note - 7, melody_note + 8)
                        if (n - tonic - root) % 12 in _TRIADS[quality]
                    ]
                    melody_note = int(rng.choice(targets))
                else:
                    degree = [
                        n
                        for n in range(melody_note - 4, melody_note + 5)
                        if (n - tonic) % 12 in scale and n != melody_note
                    ]
                    melody_note = int(rng.choice(degree))
                melody_note = min(max(melody_note, 62), 84)
                if rng.random() > 0.12:
                    tone = _note(
                        track.lead, melody_note, length * beat * 0.92, sr, rng, vowel=int(rng.integers(0, 5))
                    )
                    _place(lead, tone * rng.uniform(0.8, 1.0), int((bar_start + pos * beat) * sr))
                pos += length
    d, b, c, ld, master = _LEVELS[track.mood]
    mix = (
        d * drums / _peak(drums)
        + b * bass / _peak(bass)
        + c * chords / _peak(chords)
        + ld * lead / _peak(lead)
    )
    if track.mood is Mood.TENSE:
        mix = np.tanh(1.8 * mix) / np.tanh(1.8)  # saturation: a harder, brighter edge
    return (master * mix / _peak(mix)).astype(np.float32)


def _peak(x: _F64) -> float:
    return float(np.max(np.abs(x))) or 1.0


def add_noise(audio: Audio, snr_db: float, seed: int) -> Audio:
    """The audio with white noise added at the given signal-to-noise ratio (by mean power)."""
    rng = np.random.default_rng(seed)
    power = float(np.mean(audio.astype(np.float64) ** 2))
    noise = rng.standard_normal(len(audio)) * math.sqrt(power / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)


def to_wav(audio: Audio, sr: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV bytes of the samples."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), sr, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
