"""Measure a recording with librosa: tempo, key, loudness, timbre and an instrumental estimate.

Audio is analysed mono at 22,050 Hz, resampled with librosa's default `soxr_hq`. librosa has no
key detector, so the key comes from correlating mean chroma with published key profiles.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import math
import tempfile
from pathlib import Path
from typing import IO

import librosa
import numpy as np
import numpy.typing as npt

from discovery import audio
from discovery.audio import AudioLimits
from discovery.model import AudioFeatures, Key, Mode
from discovery.similarity import KEY_SIMILARITY, key_relation

# Bump when any measurement changes, so stored features and embeddings can be recomputed.
ANALYSIS_VERSION = 2  # 2: tempo voted over windows
SAMPLE_RATE = 22_050
N_FFT = 2048
HOP = 512
# The most any stored recording is decoded to (two hours at 22,050 Hz is 635 MB of samples): uploads
# are held to the configured track limit, which must stay below this.
RECORDING = AudioLimits("recording", max_seconds=2 * 3600, max_bytes=2**40)

Audio = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]

# Krumhansl & Kessler's (1982) probe-tone ratings for C major and C minor, the profiles of the
# Krumhansl–Schmuckler key-finding algorithm.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


class AudioDecodeError(ValueError):
    """The bytes are not audio we can read; the message says why."""


def decode(source: bytes | IO[bytes], limits: AudioLimits = RECORDING) -> tuple[Audio, float]:
    """Decode WAV, FLAC, OGG or MP3 to mono 22,050 Hz samples; also return the source duration.

    The header is judged first and memory stays bounded by `limits` (see discovery.audio).
    """
    try:
        return audio.decode_mono(
            io.BytesIO(source) if isinstance(source, bytes) else source, limits, SAMPLE_RATE
        )
    except audio.AudioRejected as error:
        raise AudioDecodeError(str(error)) from None


def estimate_key(chroma_mean: npt.ArrayLike) -> tuple[Key, float]:
    """The key whose rotated profile correlates best with the chroma, and a confidence in [0, 1].

    Confidence is the margin between the best and second-best correlation, scaled so that a
    margin of 0.15 or more counts as certain.
    """
    chroma = np.asarray(chroma_mean, dtype=np.float64)
    scores: list[tuple[float, Key]] = []
    for mode, profile in ((Mode.MAJOR, MAJOR_PROFILE), (Mode.MINOR, MINOR_PROFILE)):
        for tonic in range(12):
            r = np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]
            scores.append((0.0 if math.isnan(r) else float(r), Key(tonic, mode)))
    scores.sort(key=lambda s: s[0], reverse=True)
    margin = scores[0][0] - scores[1][0]
    return scores[0][1], float(min(1.0, margin / 0.15))


def mirex_key_score(estimated: Key, reference: Key) -> float:
    """The MIREX weighted key score: exact 1.0, fifth 0.5, relative 0.3, parallel 0.2, otherwise 0."""
    return KEY_SIMILARITY[key_relation(estimated, reference)]


TEMPO_WINDOW = 384  # onset frames, about 9 s: the span one tempo estimate looks at


def _tempo_candidates(onset_env: _F64, sr: int) -> float:
    """The tempo most windows of about 9 s (half overlapping) agree on, within 4 %.

    Averaging one tempogram over a whole track let a half-time passage pull a 150 BPM piece to
    75 BPM while any clip of its body read 150; a vote of windows reads the track the way its
    clips are read, so a clip and its source agree. A clip of one window is its own vote.
    """
    if len(onset_env) <= 1.5 * TEMPO_WINDOW:
        return _window_tempo(onset_env, sr)
    starts = range(0, len(onset_env) - TEMPO_WINDOW + 1, TEMPO_WINDOW // 2)
    picks = [_window_tempo(onset_env[start : start + TEMPO_WINDOW], sr) for start in starts]
    support = [sum(abs(other - pick) <= 0.04 * pick for other in picks) for pick in picks]
    most = max(support)
    return float(np.median([pick for pick, n in zip(picks, support, strict=True) if n == most]))


def _window_tempo(onset_env: _F64, sr: int) -> float:
    """The tempo (50–200 BPM) where autocorrelation and Fourier tempograms agree, under a prior.

    An autocorrelation tempogram also peaks at half the tempo (every other beat repeats too) and a
    Fourier tempogram at double it (its harmonics), so their product peaks at the beat itself
    (Peeters, 2006). A log-normal prior around 120 BPM with a 0.7-octave spread breaks what is left.
    """
    grid = np.exp(np.linspace(np.log(50.0), np.log(200.0), 600))
    win = min(TEMPO_WINDOW, len(onset_env))  # or the whole clip when it is shorter
    acf = librosa.feature.tempogram(onset_envelope=onset_env, sr=sr, hop_length=HOP, win_length=win).mean(
        axis=1
    )
    acf_bpm = librosa.tempo_frequencies(win, hop_length=HOP, sr=sr)
    fourier = np.abs(
        librosa.feature.fourier_tempogram(onset_envelope=onset_env, sr=sr, hop_length=HOP, win_length=win)
    ).mean(axis=1)
    fourier_bpm = librosa.fourier_tempo_frequencies(sr=sr, hop_length=HOP, win_length=win)
    a = np.maximum(np.interp(grid, acf_bpm[1:][::-1], acf[1:][::-1]), 0.0)
    f = np.interp(grid, fourier_bpm, fourier)
    prior = np.exp(-0.5 * (np.log2(grid / 120.0) / 0.7) ** 2)
    return float(grid[np.argmax(a * f * prior)])


def _refine_period(onset_env: _F64, bpm: float, sr: int) -> float:
    """The beat period in frames, refined on the onset autocorrelation at 1, 2, 4, 8 and 16 beats.

    Tempogram bins are whole lags (±3 % at 120 BPM); a peak at 16 beats, interpolated, pins the
    period to a fraction of a percent.
    """
    ac = librosa.autocorrelate(onset_env - onset_env.mean())
    period = 60.0 / bpm * sr / HOP
    for beats in (1, 2, 4, 8, 16):
        centre = beats * period
        low, high = int(centre * 0.97) - 1, int(np.ceil(centre * 1.03)) + 1
        if high + 1 >= len(ac) // 2:
            break
        j = low + int(np.argmax(ac[low : high + 1]))
        left, mid, right = ac[j - 1], ac[j], ac[j + 1]
        curvature = left - 2 * mid + right
        shift = 0.5 * (left - right) / curvature if curvature != 0 else 0.0
        period = (j + shift) / beats
    return float(period)


def _tempo(onset_env: _F64, sr: int) -> tuple[float, npt.NDArray[np.float64], float]:
    """Global tempo in BPM, beat times in seconds and pulse clarity in [0, 1]."""
    period = _refine_period(onset_env, _tempo_candidates(onset_env, sr), sr)
    bpm = 60.0 * sr / HOP / period
    _, beat_frames = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr, hop_length=HOP, bpm=bpm)
    beats = librosa.frames_to_time(beat_frames, sr=sr, hop_length=HOP)
    lag = round(period)
    env = onset_env - onset_env.mean()
    denom = float(np.dot(env, env)) or 1.0
    clarity = float(np.dot(env[:-lag], env[lag:]) / denom) if 0 < lag < len(env) else 0.0
    return bpm, beats, max(0.0, min(1.0, clarity))


def _vibrato_ratio(harmonic: _F64, sr: int) -> float:
    """Share of sustained partials (300–3,000 Hz, ≥ 0.4 s) whose pitch oscillates at 4–8 Hz by ≥ 15 cents.

    Singers hold notes with vibrato; synthesised and most acoustic instruments hold them steady,
    which makes this a cheap, explainable cue for "somebody sings".
    """
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    band = np.flatnonzero((freqs >= 300) & (freqs <= 3000))
    db = librosa.amplitude_to_db(harmonic[band[0] - 1 : band[-1] + 2], ref=np.max)
    frame_rate = sr / HOP
    min_frames = int(0.4 * frame_rate)
    active: list[list[float]] = []  # open partial tracks, each a list of pitches in cents
    finished: list[list[float]] = []
    for frame in db.T:
        inner = frame[1:-1]
        is_peak = (inner > frame[:-2]) & (inner >= frame[2:]) & (inner > frame.max() - 30)
        idx = np.flatnonzero(is_peak)
        idx = idx[np.argsort(inner[idx])[::-1][:10]]
        # Parabolic interpolation of each peak to a fractional bin, then to cents above 1 Hz.
        left, centre, right = frame[idx], frame[idx + 1], frame[idx + 2]
        shift = (
            0.5 * (left - right) / np.where(left - 2 * centre + right == 0, -1e-9, left - 2 * centre + right)
        )
        hz = (band[0] + idx + shift) * sr / N_FFT
        cents = 1200 * np.log2(np.maximum(hz, 1.0))
        taken = np.zeros(len(cents), dtype=bool)
        still: list[list[float]] = []
        for track in active:
            if len(cents):
                gap = np.abs(cents - track[-1]) + taken * 1e9
                j = int(np.argmin(gap))
                if gap[j] < 60:
                    track.append(float(cents[j]))
                    taken[j] = True
                    still.append(track)
                    continue
            finished.append(track)
        active = still + [[float(c)] for c in cents[~taken]]
    finished.extend(active)
    sustained = [np.array(t) for t in finished if len(t) >= min_frames]
    if not sustained:
        return 0.0
    window = max(3, int(frame_rate / 3.0))  # a third of a second: slower than vibrato, faster than a melody
    kernel = np.ones(window) / window
    wobbly = 0
    for pitches in sustained:
        trend = np.convolve(np.pad(pitches, window // 2, mode="edge"), kernel, mode="same")[
            window // 2 : -(window // 2)
        ]
        deviation = pitches[: len(trend)] - trend
        spectrum = np.abs(np.fft.rfft(deviation * np.hanning(len(deviation))))
        rates = np.fft.rfftfreq(len(deviation), d=1 / frame_rate)
        in_band = (rates >= 4) & (rates <= 8)
        if np.std(deviation) >= 15 and spectrum[in_band].sum() > 0.5 * spectrum[rates > 0.5].sum():
            wobbly += 1
    return wobbly / len(sustained)


def analyse(audio: Audio, sr: int = SAMPLE_RATE) -> AudioFeatures:
    """Every feature of one recording; audio must be mono at 22,050 Hz (see `decode`)."""
    if sr != SAMPLE_RATE:
        raise ValueError(f"analyse expects {SAMPLE_RATE} Hz audio, got {sr} Hz; decode() resamples")
    y = np.asarray(audio, dtype=np.float32)
    if len(y) < sr:
        raise ValueError("the recording is shorter than one second, too short to analyse")
    duration = len(y) / sr
    spectrum = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = spectrum**2
    # Harmonic/percussive separation below 5 kHz only: that band holds the pitches chroma and
    # vibrato need, and the median filters cost a third of the full spectrum's time.
    band = int(5000 * N_FFT / sr)
    harmonic = np.zeros_like(spectrum)
    harmonic[:band], percussive = librosa.decompose.hpss(spectrum[:band])

    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    onset_env = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr)
    bpm, beats, clarity = _tempo(onset_env, sr)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP)

    # Chroma of the harmonic magnitude (not power), so one loud partial cannot outvote the chords.
    chroma = librosa.feature.chroma_stft(S=harmonic, sr=sr, n_fft=N_FFT)
    chroma_mean = chroma.mean(axis=1)
    key, key_confidence = estimate_key(chroma_mean)

    rms = librosa.feature.rms(S=spectrum, frame_length=N_FFT)[0]
    rms_db = 20 * np.log10(np.maximum(rms, 1e-10))
    voiced = rms_db > -60  # ignore silence so a fade-out does not make a track "quieter"
    levels = rms_db[voiced] if voiced.any() else rms_db
    loudness = float(10 * np.log10(np.mean(10 ** (levels / 10))))
    dynamic_range = float(np.percentile(levels, 95) - np.percentile(levels, 10))
    onset_rate = len(onsets) / duration
    # Energy in [0, 1]: mostly level (−35 dBFS → 0, −5 dBFS → 1), partly how busy the onsets are.
    energy = 0.7 * min(1.0, max(0.0, (loudness + 35) / 30)) + 0.3 * min(1.0, onset_rate / 8)

    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13)
    contrast = librosa.feature.spectral_contrast(S=spectrum, sr=sr)
    vibrato = _vibrato_ratio(harmonic, sr)
    # Steady instruments leave vibrato_ratio below 0.02; a sung line pushes it past 0.04.
    instrumental = 1.0 / (1.0 + math.exp((vibrato - 0.03) / 0.008))

    def mean(values: npt.NDArray[np.float32]) -> float:
        return float(np.mean(values))

    return AudioFeatures(
        analysis_version=ANALYSIS_VERSION,
        duration_s=round(duration, 3),
        bpm=round(bpm, 2),
        beat_count=len(beats),
        pulse_clarity=round(clarity, 4),
        key=key,
        key_confidence=round(key_confidence, 4),
        loudness_db=round(loudness, 2),
        dynamic_range_db=round(dynamic_range, 2),
        energy=round(energy, 4),
        spectral_centroid_hz=round(mean(librosa.feature.spectral_centroid(S=spectrum, sr=sr)), 1),
        spectral_bandwidth_hz=round(mean(librosa.feature.spectral_bandwidth(S=spectrum, sr=sr)), 1),
        spectral_rolloff_hz=round(mean(librosa.feature.spectral_rolloff(S=spectrum, sr=sr)), 1),
        spectral_flatness=round(mean(librosa.feature.spectral_flatness(S=spectrum)), 5),
        onset_rate=round(onset_rate, 3),
        percussive_ratio=round(float(np.sum(percussive**2) / max(np.sum(power[:band]), 1e-12)), 4),
        mfcc_mean=tuple(round(float(v), 3) for v in mfcc.mean(axis=1)),
        mfcc_std=tuple(round(float(v), 3) for v in mfcc.std(axis=1)),
        chroma_mean=tuple(round(float(v), 4) for v in chroma_mean),
        spectral_contrast_mean=tuple(round(float(v), 3) for v in contrast.mean(axis=1)),
        vibrato_ratio=round(vibrato, 4),
        instrumental=round(instrumental, 4),
    )


def warm_up() -> None:
    """Run one short analysis so numba compiles librosa's kernels now, not on the first real track.

    Processes of one installation (demo, workers, test sessions) share numba's on-disk cache, and
    numba's cache is not safe for two processes writing it at once: each picks the same free data
    file for its own signature, and the index one writes can end up naming the other's machine code,
    which the next load runs with the wrong types (a segfault). So one process warms up at a time;
    the others wait, then load what it wrote.
    """
    with open(warm_up_lock_path(), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        t = np.arange(10 * SAMPLE_RATE) / SAMPLE_RATE
        clicks = (np.sin(2 * np.pi * 2 * t) > 0.99).astype(np.float64)
        analyse((0.3 * np.sin(2 * np.pi * 220 * t) + 0.5 * clicks).astype(np.float32))


def warm_up_lock_path() -> Path:
    """One lock file per librosa installation (so per numba cache), in the system's temporary directory."""
    installation = hashlib.sha256(str(Path(librosa.__file__).resolve().parent).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"librosa-warm-up-{installation}.lock"
