"""Unit tier: the collection importable as ansible_collections.vectorops.milvus, captured answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))


def captured(name: str) -> Any:
    """A real Milvus 2.3.5 answer saved by tests/integration/capture_fixtures.py."""
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def fixture_json():
    return captured
