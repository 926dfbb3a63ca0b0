"""`python -m marketplace.stripe_standin --data-dir DIR --port N`: serve the stand-in on loopback."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from marketplace.stripe_standin.process import read_credentials
from marketplace.stripe_standin.server import StandinApp
from marketplace.stripe_standin.state import StandinState


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--retry-base-seconds", type=float, default=1.0)
    args = parser.parse_args()
    api_key, webhook_secret = read_credentials(args.data_dir)
    app = StandinApp(
        StandinState(args.data_dir / "stripe-standin" / "state.sqlite3"),
        api_key=api_key,
        webhook_secret=webhook_secret,
        retry_base_seconds=args.retry_base_seconds,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
