"""Fixtures for the rpc tests: the views tests' throwaway PostgreSQL cluster, and validator processes.

``postgres_dsn`` is the session fixture defined in ``tests/views/conftest.py``, loaded from
that file (not copied), so both test directories start PostgreSQL the same way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_VIEWS_CONFTEST = Path(__file__).resolve().parent.parent / "views" / "conftest.py"
_spec = importlib.util.spec_from_file_location("edgechain_views_test_fixtures", _VIEWS_CONFTEST)
assert _spec is not None and _spec.loader is not None
_views_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_views_fixtures)

postgres_dsn = _views_fixtures.postgres_dsn
