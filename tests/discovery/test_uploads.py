"""Audio as professionals send it and as attackers craft it, over HTTP: headers judged before
decoding, per-endpoint limits by duration and size with true messages, big masters streamed in."""

from __future__ import annotations

import asyncio
import io
import resource
import secrets
import struct
from collections.abc import AsyncIterator
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import msgspec
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from discovery import audio, service, synth
from marketplace.config import Settings
from tests.conftest import SignIn


def _wav_head(rate: int, channels: int, bits: int, frames: int) -> bytes:
    """A canonical PCM WAV header for `frames` frames, whatever the rate says."""
    block = channels * bits // 8
    data = frames * block
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data)
    )


def _noise(samples: int, seed: int, level: float = 0.2) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(samples) * level).astype(np.float32)


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _file(data: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("clip.wav", data, "audio/wav")}


async def test_a_wav_declaring_a_1_hz_sample_rate_is_refused_by_its_header_on_every_endpoint(
    sign_in: SignIn,
) -> None:
    label = await sign_in("rights_holder")
    # 3 KB of real samples at "1 Hz" claim 25 minutes: resampled to 22,050 Hz they took gigabytes.
    bomb = _wav_head(1, 1, 16, 1500) + _pcm16(_noise(1500, seed=1))
    for path, extra in (
        ("/api/discovery/identify", {}),
        ("/api/discovery/search", {}),
        ("/api/discovery/tracks", {"data": {"title": "Bomb", "artist": "Nobody"}}),
    ):
        response = await label.client.post(path, files=_file(bomb), **extra)  # type: ignore[arg-type]
        assert response.status_code == 400, (path, response.text)
        assert response.json()["detail"] == (
            "the audio's sample rate is 1 Hz; audio is accepted at 8,000 to 192,000 Hz"
        )


async def test_a_snippet_over_a_minute_is_refused_naming_its_length_and_the_limit(sign_in: SignIn) -> None:
    label = await sign_in("buyer")
    rate = 8_000
    long_clip = _wav_head(rate, 1, 16, 61 * rate) + _pcm16(_noise(61 * rate, seed=2))
    for path in ("/api/discovery/identify", "/api/discovery/search"):
        response = await label.client.post(path, files=_file(long_clip))
        assert response.status_code == 400, response.text
        assert response.json()["detail"] == "the snippet is 1 min 01 s long; the limit is 1 min 00 s"


async def test_a_track_over_the_configured_duration_is_refused_before_it_is_decoded(
    sign_in: SignIn, settings: Settings
) -> None:
    label = await sign_in("rights_holder")
    rate, frames = 8_000, int((settings.track_max_seconds + 5) * 8_000)
    # Only the header is long: the data chunk's declared size is there, but silence costs nothing to send.
    too_long = _wav_head(rate, 1, 16, frames) + bytes(frames * 2)
    response = await label.client.post(
        "/api/discovery/tracks", files=_file(too_long), data={"title": "Epic", "artist": "Long"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "the track is 20 min 05 s long; the limit is 20 min 00 s"


async def test_an_upload_declared_over_the_limit_is_refused_with_its_true_size(
    sign_in: SignIn, live_server: str, settings: Settings
) -> None:
    label = await sign_in("rights_holder")
    address = urlsplit(live_server)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    size = settings.upload_limit_bytes + 1
    writer.write(
        (
            f"POST /api/discovery/tracks HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {label.token}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        rest = await asyncio.wait_for(reader.read(4096), timeout=5)
    finally:
        writer.close()
    assert status_line.split()[1] == b"413"
    assert (
        f"the upload is {size:,} bytes; the limit is {settings.upload_limit_bytes:,} bytes".encode() in rest
    )


async def test_a_24_bit_96_khz_flac_master_is_accepted(sign_in: SignIn, pg_pool: asyncpg.Pool) -> None:
    label = await sign_in("rights_holder")
    stereo = np.stack([_noise(5 * 96_000, seed=3), _noise(5 * 96_000, seed=4)], axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, stereo, 96_000, format="FLAC", subtype="PCM_24")
    response = await label.client.post(
        "/api/discovery/tracks",
        files={"file": ("master.flac", buffer.getvalue(), "audio/flac")},
        data={"title": "Hi-res", "artist": "Studio"},
    )
    assert response.status_code == 202, response.text
    async with pg_pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT a.format, a.duration_s FROM discovery_tracks t JOIN discovery_audio a ON a.sha256 = t.audio_sha256
               WHERE t.track_id = $1""",
            UUID(response.json()["track_id"]),
        )
    assert row["format"] == "flac" and row["duration_s"] == pytest.approx(5.0)


async def test_a_twenty_minute_24_bit_96_khz_stereo_wav_streams_in_without_filling_memory(
    sign_in: SignIn, pg_pool: asyncpg.Pool, settings: Settings
) -> None:
    label = await sign_in("rights_holder")
    rate, seconds, block = 96_000, 20 * 60, 6  # 24-bit stereo: six bytes a frame
    head = _wav_head(rate, 2, 24, rate * seconds)
    # One second of quiet noise, sent 1,200 times: 691 MB that never exist in memory at once.
    second = (np.clip(_noise(2 * rate, seed=5, level=0.05), -1, 1) * (2**23 - 1)).astype("<i4").tobytes()
    second = b"".join(second[i : i + 3] for i in range(0, len(second), 4))
    boundary = secrets.token_hex(8)
    fields = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("title", "Symphony"), ("artist", "Orchestra"))
    )
    opening = (
        f'{fields}--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="master.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()

    async def body() -> AsyncIterator[bytes]:
        yield opening + head
        for _ in range(seconds):
            yield second
        yield f"\r\n--{boundary}--\r\n".encode()

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    response = await label.client.post(
        "/api/discovery/tracks",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=600,
    )
    peak_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before
    assert response.status_code == 202, response.text
    async with pg_pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT a.sha256, a.size_bytes, a.duration_s FROM discovery_tracks t JOIN discovery_audio a ON a.sha256 = t.audio_sha256
               WHERE t.track_id = $1""",
            UUID(response.json()["track_id"]),
        )
    assert row["size_bytes"] == len(head) + seconds * rate * block
    assert row["duration_s"] == pytest.approx(seconds)
    assert peak_growth < 200 * 1024 * 1024  # the file is 691 MB
    service.audio_path(settings.data_dir, row["sha256"], "wav").unlink()  # spare the disk of later runs


def test_header_judgement_names_the_sample_rate_channels_or_duration() -> None:
    snippet = audio.AudioLimits("snippet", max_seconds=60, max_bytes=1 << 30)
    assert audio.header_problem(audio.AudioHeader("wav", 44_100, 2, 44_100 * 30), snippet) is None
    assert "192,000 Hz" in (audio.header_problem(audio.AudioHeader("wav", 384_000, 2, 10), snippet) or "")
    assert "at most 8" in (audio.header_problem(audio.AudioHeader("wav", 44_100, 64, 10), snippet) or "")
    assert audio.header_problem(audio.AudioHeader("flac", 8_000, 1, 8_000 * 90), snippet) == (
        "the snippet is 1 min 30 s long; the limit is 1 min 00 s"
    )


def test_decoding_stops_at_the_limit_whatever_the_header_claimed() -> None:
    # An MP3's header only estimates its length: the samples themselves are counted as they come.
    buffer = io.BytesIO()
    rendered = synth.render(synth.demo_track(1), seconds=8)
    sf.write(buffer, rendered, synth.SAMPLE_RATE, format="OGG")
    header = audio.read_header(buffer)
    understated = msgspec.structs.replace(header, frames=2 * header.sample_rate)
    short = audio.AudioLimits("snippet", max_seconds=3, max_bytes=1 << 30)
    with pytest.raises(
        audio.AudioRejected,
        match=rf"the snippet is {len(rendered) / synth.SAMPLE_RATE:.1f} s long; the limit is 3\.0 s",
    ):
        list(audio.read_blocks(buffer, understated, short))


@settings(max_examples=40, deadline=None)
@given(
    frames=st.integers(1, 500), channels=st.integers(1, audio.MAX_CHANNELS), seed=st.integers(0, 2**32 - 1)
)
def test_downmix_is_the_mean_of_the_channels(frames: int, channels: int, seed: int) -> None:
    block = np.random.default_rng(seed).uniform(-1, 1, (frames, channels)).astype(np.float32)
    mono = audio.downmix(block)
    assert mono.dtype == np.float32 and mono.flags.c_contiguous
    assert np.allclose(mono, block.mean(axis=1, dtype=np.float64), atol=1e-6)
