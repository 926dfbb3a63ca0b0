"""The committed ABI and bytecode are what the pinned compiler makes of the committed sources."""

from __future__ import annotations

import re

import pytest

from contracts.chain.artifacts import CONTRACT_NAMES, SOURCES_DIR, compile_source, compiler_version, load
from tests.conftest import PROJECT_ROOT


def test_pyproject_pins_the_installed_vyper_exactly() -> None:
    pinned = re.search(r'"vyper==([0-9.]+)"', (PROJECT_ROOT / "pyproject.toml").read_text())
    assert pinned is not None, "vyper must be pinned to one exact version"
    assert pinned.group(1) == compiler_version()


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_committed_artifact_matches_its_source_and_compiler(name: str) -> None:
    source = (SOURCES_DIR / f"{name}.vy").read_text()
    assert f"# pragma version {compiler_version()}" in source
    committed, fresh = load(name), compile_source(name, source)
    assert committed == fresh, f"run `marketplace chain compile`: build/{name}.json is stale"
