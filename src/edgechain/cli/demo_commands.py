"""`edgechain demo`: the main job on the embedded default, as `make demo` runs it."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run a local 4-validator network on SQLite and show certified cross-chain transfers",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="directory for the network's files (default: a temporary directory, removed after)",
    )
    parser.set_defaults(handler=run_demo)


def run_demo(arguments: argparse.Namespace) -> int:
    from edgechain.core.demo import run_transfer_demo

    if arguments.dir is not None:
        arguments.dir.mkdir(parents=True, exist_ok=True)
        run_transfer_demo(arguments.dir, out=print)
        return 0
    with tempfile.TemporaryDirectory(prefix="edgechain-demo-") as directory:
        run_transfer_demo(Path(directory), out=print)
    return 0
