"""Give contracts/ what it needs to issue and deliver licences: the platform key and the audio files."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import asyncpg

from contracts import licences
from discovery import service as discovery
from marketplace.keys import load_or_create_platform_key

MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}


def configure_licensing(data_dir: Path) -> None:
    """At app or worker start: register the signing key and where a track's original audio is."""
    licences.configure_signing_key(load_or_create_platform_key(data_dir))

    async def original_audio(conn: asyncpg.Connection, track_id: UUID) -> licences.OriginalAudio | None:
        found = await discovery.original_audio(conn, data_dir, track_id)
        if found is None:
            return None
        return licences.OriginalAudio(
            sha256=found.sha256, path=found.path, media_type=MEDIA_TYPES[found.format], extension=found.format
        )

    licences.configure_audio_source(original_audio)
