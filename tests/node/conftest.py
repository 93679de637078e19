"""The node tests serve validators over HTTP with the rpc tests' helpers (``tests/rpc/rpc_helpers.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rpc"))
