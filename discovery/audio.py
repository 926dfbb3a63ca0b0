"""Judge an audio file by its header, then decode it block by block with a bound on memory.

A 3 KB WAV declaring a 1 Hz sample rate is a decompression bomb: resampled to 22,050 Hz, its
1,500 "seconds" took gigabytes. So the sample rate, channel count and declared duration are checked
before a sample is decoded, and decoding stops as soon as the samples read pass the duration
allowed (a header can lie about its length). Blocks are downmixed and resampled as they come, so a
20-minute 96 kHz stereo upload never sits in memory at its native rate.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import IO

import msgspec
import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
MAX_CHANNELS = 8
BLOCK_SAMPLES = 1 << 20  # samples (all channels together) decoded at a time: 4 MiB of float32
SILENT_BELOW_DBFS = -60.0  # quieter than this over the whole recording is no music to analyse
DURATION_SLACK_SECONDS = 1.0  # MP3 headers estimate their length: decoding may run this much over

Audio = npt.NDArray[np.float32]


class AudioRejected(ValueError):
    """An upload that is not audio we accept; the message names the problem (400)."""


class UnsupportedAudio(AudioRejected):
    status_code = 415


class AudioTooLarge(AudioRejected):
    status_code = 413


class AudioLimits(msgspec.Struct, frozen=True):
    """What one endpoint accepts: a `what` ("track", "snippet") of at most so many seconds and bytes."""

    what: str
    max_seconds: float
    max_bytes: int


class AudioHeader(msgspec.Struct, frozen=True):
    format: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate > 0 else math.inf


class AudioScan(msgspec.Struct, frozen=True):
    """A file decoded to its end: its true length and its level over the whole recording."""

    header: AudioHeader
    duration_s: float
    level_dbfs: float


def minutes_and_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s"


def sniff_format(head: bytes) -> str:
    """The container by its first bytes, never by the file's name."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    raise UnsupportedAudio(
        "the file is not WAV, FLAC, OGG or MP3 audio (judged by its content, not its name)"
    )


def header_problem(header: AudioHeader, limits: AudioLimits) -> str | None:
    """Why a header alone rules the audio out, as a sentence; None when it may be decoded."""
    if not MIN_SAMPLE_RATE <= header.sample_rate <= MAX_SAMPLE_RATE:
        return (
            f"the audio's sample rate is {header.sample_rate:,} Hz; audio is accepted at "
            f"{MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz"
        )
    if not 1 <= header.channels <= MAX_CHANNELS:
        return f"the audio has {header.channels} channels; at most {MAX_CHANNELS} are accepted"
    return duration_problem(header.duration_s, limits)


def duration_problem(seconds: float, limits: AudioLimits) -> str | None:
    if seconds > limits.max_seconds:
        return (
            f"the {limits.what} is {minutes_and_seconds(seconds)} long; "
            f"the limit is {minutes_and_seconds(limits.max_seconds)}"
        )
    return None


def wav_truncation(file: IO[bytes], size: int) -> str | None:
    """libsndfile quietly plays a cut-off WAV, so compare its data chunk's declared size with what is there."""
    position = 12
    while position + 8 <= size:
        file.seek(position)
        head = file.read(8)
        chunk, length = head[:4], struct.unpack("<I", head[4:8])[0]
        if chunk == b"data":
            present = size - position - 8
            if present < length:
                return f"the WAV file is truncated: it declares {length} bytes of audio but holds {present}"
            return None
        position += 8 + length + (length & 1)
    return "the WAV file has no audio data chunk"


def read_header(file: IO[bytes]) -> AudioHeader:
    """The container's own description of the audio, without decoding any of it."""
    file.seek(0)
    fmt = sniff_format(file.read(12))
    file.seek(0, 2)
    size = file.tell()
    if fmt == "wav" and (problem := wav_truncation(file, size)):
        raise AudioRejected(problem)
    file.seek(0)
    try:
        with sf.SoundFile(file) as source:
            return AudioHeader(fmt, source.samplerate, source.channels, source.frames)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioRejected(f"the {fmt.upper()} file cannot be read: {error}") from None


def read_blocks(file: IO[bytes], header: AudioHeader, limits: AudioLimits) -> Iterator[Audio]:
    """Each block of frames in turn; refused past the allowed duration or at a sample that is not a number."""
    name = header.format.upper()
    allowed = (limits.max_seconds + DURATION_SLACK_SECONDS) * header.sample_rate
    read = 0
    file.seek(0)
    try:
        with sf.SoundFile(file) as source:
            while len(block := source.read(max(1, BLOCK_SAMPLES // header.channels), dtype="float32",
                                           always_2d=True)):  # fmt: skip
                read += len(block)
                if read > allowed:  # the header understated the length
                    raise AudioRejected(duration_problem(read / header.sample_rate, limits) or "")
                if not np.all(np.isfinite(block)):
                    raise AudioRejected(f"the {name} file holds samples that are not finite numbers")
                yield block
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioRejected(f"the {name} file cannot be read: {error}") from None
    if read == 0:
        raise AudioRejected("the file contains no audio samples")


def judged_header(file: IO[bytes], limits: AudioLimits) -> AudioHeader:
    header = read_header(file)
    if problem := header_problem(header, limits):
        raise AudioRejected(problem)
    return header


def scan(file: IO[bytes], limits: AudioLimits) -> AudioScan:
    """Decode the whole file without keeping it: proves it reads to the end and measures its level."""
    header = judged_header(file, limits)
    frames, energy, samples = 0, 0.0, 0
    for block in read_blocks(file, header, limits):
        frames += len(block)
        energy += float(np.dot(block.ravel(), block.ravel()))
        samples += block.size
    return AudioScan(header, frames / header.sample_rate, level_dbfs(energy, samples))


def level_dbfs(energy: float, samples: int) -> float:
    """Root-mean-square level relative to full scale; -inf for digital silence."""
    mean_square = energy / max(samples, 1)
    return 10 * math.log10(mean_square) if mean_square > 0 else -math.inf


def silence_problem(level_dbfs: float) -> str | None:
    """Why a recording at this level is refused (it would be analysed as some tempo, key and mood)."""
    if level_dbfs >= SILENT_BELOW_DBFS:
        return None
    level = "digital silence" if math.isinf(level_dbfs) else f"{level_dbfs:.0f} dBFS"
    return (
        f"the recording has almost no signal ({level}; at least {SILENT_BELOW_DBFS:.0f} dBFS is needed): "
        "upload the audio itself, not silence"
    )


def downmix(block: Audio) -> Audio:
    """The channels' mean, frame by frame, summed channel by channel.

    Neither `mean(axis=1)` over interleaved frames nor a matrix product (BLAS, whose threads spin
    and bill CPU time) costs less than these few passes; each was a third of decoding a Vorbis file.
    """
    channels = block.shape[1]
    mono = np.array(block[:, 0], dtype=np.float32)  # a contiguous copy
    for channel in range(1, channels):
        mono += block[:, channel]
    if channels > 1:
        mono *= np.float32(1 / channels)
    return mono


def decode_mono(file: IO[bytes], limits: AudioLimits, rate: int) -> tuple[Audio, float]:
    """Mono samples at `rate` and the source's duration; never more than the limit's worth is decoded."""
    header = judged_header(file, limits)
    resampler = (
        soxr.ResampleStream(header.sample_rate, rate, 1, dtype="float32", quality="HQ")
        if header.sample_rate != rate
        else None
    )
    parts: list[Audio] = []
    frames = 0
    for block in read_blocks(file, header, limits):
        frames += len(block)
        mono = downmix(block)
        parts.append(resampler.resample_chunk(mono) if resampler else mono)
    if resampler is not None:
        parts.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32), frames / header.sample_rate
