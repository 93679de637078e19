"""The `edgechain` command: parses arguments, dispatches to subcommands, turns errors into messages.

Every subcommand module exposes ``register(subparsers)`` and sets a ``handler`` on its
parser; a handler returns the process exit status. Errors that edgechain raises on
purpose become one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edgechain import __version__
from edgechain.base.errors import EdgechainError
from edgechain.cli import (
    app_commands,
    client_commands,
    demo_commands,
    ml_commands,
    net_commands,
    wallet_commands,
)
from edgechain.ml.errors import MLError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgechain",
        description="Linera-style microchains whose applications run ML models at the edge.",
    )
    parser.add_argument("--version", action="version", version=f"edgechain {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo_commands.register(subparsers)
    net_commands.register(subparsers)
    wallet_commands.register(subparsers)
    client_commands.register(subparsers)
    app_commands.register(subparsers)
    ml_commands.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    handler = getattr(arguments, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        status: int = handler(arguments)
    except (EdgechainError, MLError) as exc:
        print(f"edgechain: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"edgechain: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("edgechain: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
