"""Measure a recording: tempo, key, loudness, timbre and an instrumental estimate.

One decoded signal (mono, 22,050 Hz), each measurement at the coarsest resolution that keeps it:
- timbre, level and chroma from one spectrogram of the whole band in 46 ms frames (a track's means
  and spreads need no finer ones), split once into harmonic and percussive parts below 5 kHz;
- onsets and tempo from a 1,024-point spectrogram in 23 ms frames (onsets need time, not pitch);
- the vibrato cue from the signal halved to 11,025 Hz (10.8 Hz bins, 23 ms frames: a sung partial
  is followed frame by frame), lent the harmonic mask of the first;
- the key from Essentia's key extractor (EDMA profile), which reads the synthetic ground truth
  better than chroma correlated with Krumhansl's profiles did (MIREX score 0.99 against 0.93).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import math
import tempfile
import threading
from pathlib import Path
from typing import IO

import essentia
import librosa
import numpy as np
import numpy.typing as npt
import soxr
import threadpoolctl

from discovery import audio, fingerprint, hpss, spectrogram, vibrato
from discovery.audio import AudioLimits
from discovery.model import AudioFeatures, Key
from discovery.similarity import KEY_SIMILARITY, key_relation

essentia.log.infoActive = False  # its import announces optional classifier models we do not use
import essentia.standard as essentia_algorithms  # noqa: E402

# Bump when any measurement changes, so stored features and embeddings can be recomputed.
ANALYSIS_VERSION = 3  # 2: tempo voted over windows; 3: coarser spectrograms, Essentia's key
SAMPLE_RATE = 22_050
N_FFT = 2048
TIMBRE_HOP = 1024  # 46 ms
ONSET_N_FFT = 1024
HOP = 512  # 23 ms onset frames at SAMPLE_RATE: tempo and beats are counted in them
PITCH_RATE = 11_025
PITCH_N_FFT = 1024  # 10.8 Hz bins, as N_FFT at SAMPLE_RATE
PITCH_HOP = 256  # 23 ms frames at PITCH_RATE, fine enough to follow vibrato
HPSS_BAND_HZ = 5000.0  # the pitches chroma and vibrato need; the median filters' cost grows with it
HARMONIC_FRAMES = 15  # 0.7 s at TIMBRE_HOP: a partial lasts longer, a drum hit does not
PERCUSSIVE_BINS = 31  # 334 Hz: a drum hit spreads wider, a partial does not
# The most any stored recording is decoded to (two hours at 22,050 Hz is 635 MB of samples): uploads
# are held to the configured track limit, which must stay below this.
RECORDING = AudioLimits("recording", max_seconds=2 * 3600, max_bytes=2**40)

Audio = npt.NDArray[np.float32]
_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]


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


def estimate_key(samples: Audio, sr: int) -> tuple[Key, float]:
    """The key by Essentia's KeyExtractor with the EDMA profile, and its strength in [0, 1] as the confidence."""
    extractor = essentia_algorithms.KeyExtractor(profileType="edma", sampleRate=float(sr))
    tonic, scale, strength = extractor(np.ascontiguousarray(samples, dtype=np.float32))
    return Key.parse(f"{tonic} {scale}"), min(1.0, max(0.0, float(strength)))


def mirex_key_score(estimated: Key, reference: Key) -> float:
    """The MIREX weighted key score: exact 1.0, fifth 0.5, relative 0.3, parallel 0.2, otherwise 0."""
    return KEY_SIMILARITY[key_relation(estimated, reference)]


TEMPO_WINDOW = 384  # onset frames, about 9 s: the span one tempo estimate looks at
TEMPO_STEP = 8  # onset frames between the local tempograms averaged over a window


def _tempo_candidates(onset_env: _F64, sr: int) -> float:
    """The tempo most windows of about 9 s (half overlapping) agree on, within 4 %.

    Averaging one tempogram over a whole track let a half-time passage pull a 150 BPM piece to
    75 BPM while any clip of its body read 150; a vote of windows reads the track the way its
    clips are read, so a clip and its source agree. A clip of one window is its own vote.
    """
    if len(onset_env) <= 1.5 * TEMPO_WINDOW:
        return _best_tempo(*_tempograms(onset_env), sr)
    acf, fourier = _tempograms(onset_env)
    per_window = TEMPO_WINDOW // TEMPO_STEP
    starts = range(0, len(onset_env) - TEMPO_WINDOW + 1, TEMPO_WINDOW // 2)
    picks = [
        _best_tempo(acf[:, s // TEMPO_STEP : s // TEMPO_STEP + per_window],
                    fourier[:, s // TEMPO_STEP : s // TEMPO_STEP + per_window], sr)
        for s in starts
    ]  # fmt: skip
    support = [sum(abs(other - pick) <= 0.04 * pick for other in picks) for pick in picks]
    most = max(support)
    return float(np.median([pick for pick, n in zip(picks, support, strict=True) if n == most]))


def _tempograms(onset_env: _F64) -> tuple[_F64, _F64]:
    """Autocorrelation and Fourier tempograms (lag or frequency × time), every TEMPO_STEP frames.

    librosa's own take every frame; neighbouring 9 s windows are nearly the same, and averaging
    one in eight over a window reads the same tempo at an eighth of the cost.
    """
    win = min(TEMPO_WINDOW, len(onset_env))  # or the whole clip when it is shorter
    padded = np.pad(onset_env, win // 2, mode="linear_ramp", end_values=[0, 0])
    frames = librosa.util.frame(padded, frame_length=win, hop_length=TEMPO_STEP)[
        :, : 1 + len(onset_env) // TEMPO_STEP
    ]
    acf = librosa.autocorrelate(frames * np.hanning(win + 1)[:-1, None], axis=0)
    acf /= np.maximum(np.abs(acf).max(axis=0, keepdims=True), 1e-12)
    fourier = np.abs(librosa.stft(onset_env, n_fft=win, hop_length=TEMPO_STEP, window="hann", center=True))
    return acf, fourier.astype(np.float64)


def _best_tempo(acf: _F64, fourier: _F64, sr: int) -> float:
    """The tempo (50–200 BPM) where autocorrelation and Fourier tempograms agree, under a prior.

    An autocorrelation tempogram also peaks at half the tempo (every other beat repeats too) and a
    Fourier tempogram at double it (its harmonics), so their product peaks at the beat itself
    (Peeters, 2006). A log-normal prior around 120 BPM with a 0.7-octave spread breaks what is left.
    """
    win = acf.shape[0]
    grid = np.exp(np.linspace(np.log(50.0), np.log(200.0), 600))
    acf_bpm = librosa.tempo_frequencies(win, hop_length=HOP, sr=sr)
    fourier_bpm = librosa.fourier_tempo_frequencies(sr=sr, hop_length=HOP, win_length=win)
    a = np.maximum(np.interp(grid, acf_bpm[1:][::-1], acf.mean(axis=1)[1:][::-1]), 0.0)
    f = np.interp(grid, fourier_bpm, fourier.mean(axis=1))
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
        # A vertex beyond half a lag means the maximum sat at the search's edge, not on a peak.
        shift = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)) if curvature != 0 else 0.0
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


def _centroid_and_bandwidth(spectrum: _F32, sr: int) -> tuple[_F64, _F64]:
    """Each frame's spectral centroid and bandwidth in Hz (as librosa's, with p = 2), 0 for a silent frame.

    The mean frequency and the spread around it, both from two weighted sums: librosa's functions
    normalise a copy of the spectrogram each, which cost more than the rest of the timbre features.
    """
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT).astype(np.float32)
    weight = spectrum.sum(axis=0, dtype=np.float64)
    safe = np.where(weight > 0, weight, 1.0)
    centroid = (freqs @ spectrum) / safe
    spread = (freqs**2 @ spectrum) / safe - centroid**2
    return centroid, np.sqrt(np.maximum(spread, 0.0))


def _rolloff(spectrum: _F32, sr: int, share: float = 0.85) -> _F64:
    """Each frame's lowest frequency below which `share` of its magnitude lies (librosa's spectral_rolloff)."""
    cumulative = np.cumsum(spectrum, axis=0)
    below = np.count_nonzero(cumulative < share * cumulative[-1], axis=0)
    freqs = np.asarray(librosa.fft_frequencies(sr=sr, n_fft=N_FFT), dtype=np.float64)
    rolloff: _F64 = freqs[np.minimum(below, len(freqs) - 1)]
    return rolloff


def analyse(audio: Audio, sr: int = SAMPLE_RATE) -> AudioFeatures:
    """Every feature of one recording; audio must be mono at 22,050 Hz (see `decode`)."""
    if sr != SAMPLE_RATE:
        raise ValueError(f"analyse expects {SAMPLE_RATE} Hz audio, got {sr} Hz; decode() resamples")
    y = np.asarray(audio, dtype=np.float32)
    if len(y) < sr:
        raise ValueError("the recording is shorter than one second, too short to analyse")
    duration = len(y) / sr
    power = spectrogram.power(y, N_FFT, TIMBRE_HOP).T
    spectrum = np.sqrt(power)
    band = 2 * int(HPSS_BAND_HZ * N_FFT / sr / 2)
    low = soxr.resample(y, SAMPLE_RATE, PITCH_RATE, quality="HQ")
    pitch_spectrum = spectrogram.magnitude(low, PITCH_N_FFT, PITCH_HOP, (0, band))  # the same bins, 10.8 Hz
    # Separated on bin pairs (21.5 Hz): a partial and a drum hit are each far wider than that.
    pairs = spectrum[:band].reshape(band // 2, 2, -1).mean(axis=1)
    harmonic_mask, percussive_mask = (
        np.repeat(mask, 2, axis=0) for mask in hpss.masks(pairs, HARMONIC_FRAMES, PERCUSSIVE_BINS // 2)
    )
    harmonic = spectrum[:band] * harmonic_mask
    percussive = spectrum[:band] * percussive_mask

    # Onsets over the whole band: without the cymbals above 5.5 kHz a 74 BPM piece read 197 BPM.
    onset_power = spectrogram.power(y, ONSET_N_FFT, HOP).T
    onset_mel = librosa.filters.mel(sr=sr, n_fft=ONSET_N_FFT) @ onset_power
    onset_env = librosa.onset.onset_strength(S=librosa.power_to_db(onset_mel), sr=sr)
    bpm, beats, clarity = _tempo(onset_env, sr)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP)

    # Chroma of the harmonic magnitude (not power), so one loud partial cannot outvote the chords;
    # the tuning is a property of the whole recording, so a sample of frames measures it.
    sample = np.zeros((spectrum.shape[0], len(range(0, spectrum.shape[1], 16))), dtype=np.float32)
    sample[:band] = harmonic[:, ::16]
    tuning = librosa.estimate_tuning(S=sample, sr=sr, n_fft=N_FFT)
    chroma_filters = librosa.filters.chroma(sr=sr, n_fft=N_FFT, tuning=tuning)[:, :band]
    chroma = librosa.util.normalize(chroma_filters @ harmonic, norm=np.inf, axis=0)  # as chroma_stft
    chroma_mean = chroma.mean(axis=1)
    key, key_confidence = estimate_key(y, sr)

    rms = librosa.feature.rms(S=spectrum, frame_length=N_FFT)[0]
    rms_db = 20 * np.log10(np.maximum(rms, 1e-10))
    voiced = rms_db > -60  # ignore silence so a fade-out does not make a track "quieter"
    levels = rms_db[voiced] if voiced.any() else rms_db
    loudness = float(10 * np.log10(np.mean(10 ** (levels / 10))))
    dynamic_range = float(np.percentile(levels, 95) - np.percentile(levels, 10))
    onset_rate = len(onsets) / duration
    # Energy in [0, 1]: mostly level (−35 dBFS → 0, −5 dBFS → 1), partly how busy the onsets are.
    energy = 0.7 * min(1.0, max(0.0, (loudness + 35) / 30)) + 0.3 * min(1.0, onset_rate / 8)

    mfcc = librosa.feature.mfcc(
        S=librosa.power_to_db(librosa.filters.mel(sr=sr, n_fft=N_FFT) @ power), n_mfcc=13
    )
    contrast = librosa.feature.spectral_contrast(S=spectrum, sr=sr)
    centroid, bandwidth = _centroid_and_bandwidth(spectrum, sr)
    rolloff = _rolloff(spectrum, sr)
    # The pitch spectrogram has twice the frames of the mask: each mask frame serves two.
    frames = pitch_spectrum.shape[1]
    pitch_mask = np.repeat(harmonic_mask, 2, axis=1)[:, :frames]
    pitch_mask = np.pad(pitch_mask, ((0, 0), (0, frames - pitch_mask.shape[1])), mode="edge")
    vibrato_ratio = vibrato.vibrato_ratio(pitch_spectrum * pitch_mask, PITCH_RATE, PITCH_N_FFT, PITCH_HOP)
    # Steady instruments leave vibrato_ratio below 0.02; a sung line pushes it past 0.04.
    instrumental = 1.0 / (1.0 + math.exp((vibrato_ratio - 0.03) / 0.008))

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
        spectral_centroid_hz=round(float(np.mean(centroid)), 1),
        spectral_bandwidth_hz=round(float(np.mean(bandwidth)), 1),
        spectral_rolloff_hz=round(float(np.mean(rolloff)), 1),
        spectral_flatness=round(mean(librosa.feature.spectral_flatness(S=spectrum)), 5),
        onset_rate=round(onset_rate, 3),
        percussive_ratio=round(float(np.sum(percussive**2) / max(float(np.sum(power[:band])), 1e-12)), 4),
        mfcc_mean=tuple(round(float(v), 3) for v in mfcc.mean(axis=1)),
        mfcc_std=tuple(round(float(v), 3) for v in mfcc.std(axis=1)),
        chroma_mean=tuple(round(float(v), 4) for v in chroma_mean),
        spectral_contrast_mean=tuple(round(float(v), 3) for v in contrast.mean(axis=1)),
        vibrato_ratio=round(vibrato_ratio, 4),
        instrumental=round(instrumental, 4),
    )


def use_one_core() -> None:
    """Keep numeric libraries to the calling thread, as analysis workers (one per core) want.

    OpenBLAS otherwise starts a thread per core for every matrix product, and its threads spin
    while they wait: a downmix as a matrix product cost twice the decoding it followed, in CPU time
    taken from the next worker's core.
    """
    threadpoolctl.threadpool_limits(1)


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
        signal = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.5 * clicks).astype(np.float32)
        analyse(signal)
        fingerprint.landmarks(signal)
    _warmed_up.set()


_warmed_up = threading.Event()
_warming_up = threading.Lock()


def warmed_up() -> None:
    """Warm up once in this process (see `warm_up`), before the first clip a server analyses or fingerprints."""
    with _warming_up:
        if not _warmed_up.is_set():
            warm_up()


def warm_up_lock_path() -> Path:
    """One lock file per librosa installation (so per numba cache), in the system's temporary directory."""
    installation = hashlib.sha256(str(Path(librosa.__file__).resolve().parent).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"librosa-warm-up-{installation}.lock"
