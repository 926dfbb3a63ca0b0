"""Run every benchmark in turn (`python -m benchmarks [--quick]`); each prints its own table."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path


def main() -> int:
    names = sorted(module.name for module in pkgutil.iter_modules([str(Path(__file__).parent)]))
    failures = 0
    for name in names:
        print(f"\n=== benchmarks.{name} ===", flush=True)
        failures += subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *sys.argv[1:]]) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
