"""The demo seeder: the synthetic catalogue lands analysed in the demo organisations, once."""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg
import pytest

from discovery import demo, store, synth
from discovery.model import AnalysisStatus
from marketplace.accounts import service as accounts
from marketplace.accounts.model import OrganisationKind
from rights import service as rights
from rights.identity import Role


async def test_seeding_twice_adds_and_analyses_each_demo_track_once(
    db: asyncpg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth, "demo_catalogue", lambda: [synth.demo_track(i) for i in (0, 1, 3)])
    organisations = {}
    for key in ("label", "publisher"):
        suffix = secrets.token_hex(4)
        user = await accounts.create_user(
            db, organisation_name=f"Demo {key} {suffix}", organisation_kind=OrganisationKind.LABEL,
            email=f"{key}-{suffix}@example.test", display_name=key, role=Role.RIGHTS_HOLDER, password="x" * 12,
        )  # fmt: skip
        organisations[key] = user.organisation_id
    await demo.seed(db, organisations, tmp_path)
    await demo.seed(db, organisations, tmp_path)

    tracks = [
        t for org in organisations.values() for t in await rights.list_tracks(db, owner_organisation_id=org)
    ]
    assert sorted(t.title for t in tracks) == sorted(synth.demo_track(i).title for i in (0, 1, 3))
    for track in tracks:
        state = await store.analysis(db, track.id)
        assert state is not None and state.status is AnalysisStatus.DONE and state.attempts == 1
    first = next(t for t in tracks if t.title == synth.demo_track(0).title)
    labels = (await store.tags_of(db, [first.id]))[first.id]
    assert {t.value for t in labels if t.source.value == "human"} == set(synth.demo_track(0).human_tags)
    assert len(list((tmp_path / "audio").rglob("*.wav"))) == 3
