"""The compiled contracts kept in the repository: ABI and bytecode per Vyper source, and the compiler that made them.

`marketplace chain compile` rewrites them; a test checks they still match the sources and the pinned compiler.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import msgspec

SOURCES_DIR = Path(__file__).parent
BUILD_DIR = SOURCES_DIR / "build"
CONTRACT_NAMES = ("Settlement", "Stablecoin")


class Artifact(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    compiler: str
    source_sha256: str
    abi: list[dict[str, Any]]
    bytecode: str


def compiler_version() -> str:
    import vyper

    version: str = vyper.__version__
    return version


def compile_source(name: str, source: str) -> Artifact:
    """Compile one Vyper source with the installed (pinned) compiler."""
    from vyper import compile_code

    output = compile_code(source, output_formats=["abi", "bytecode"])
    return Artifact(
        name=name,
        compiler=f"vyper {compiler_version()}",
        source_sha256=hashlib.sha256(source.encode()).hexdigest(),
        abi=output["abi"],
        bytecode=output["bytecode"],
    )


def compile_all(build_dir: Path = BUILD_DIR) -> list[Path]:
    """Compile every contract in this folder and write `build/<Name>.json`; returns the files written."""
    build_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in CONTRACT_NAMES:
        artifact = compile_source(name, (SOURCES_DIR / f"{name}.vy").read_text())
        path = build_dir / f"{name}.json"
        path.write_bytes(msgspec.json.format(msgspec.json.encode(artifact), indent=1) + b"\n")
        written.append(path)
    return written


@functools.cache
def load(name: str) -> Artifact:
    """The committed artifact of one contract."""
    return msgspec.json.decode((BUILD_DIR / f"{name}.json").read_bytes(), type=Artifact)
