"""Where the reference outputs (llama.cpp's and transformers' on the real weight files) are.

They live in the steering repository's ``shared/reference/``, beside a checkout (CI lays
``shared/`` beside its clone). ``EDGECHAIN_REFERENCE`` names another place.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def reference_directory() -> Path:
    """The first of: $EDGECHAIN_REFERENCE, ../shared/reference, /work/shared/reference."""
    override = os.environ.get("EDGECHAIN_REFERENCE")
    if override:
        return Path(override)
    candidates = [ROOT.parent / "shared" / "reference", Path("/work/shared/reference")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


REFERENCE = reference_directory()
