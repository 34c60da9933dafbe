"""Unit tier: the collection importable as ansible_collections.vectorops.milvus, captured answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def captured(name: str) -> Any:
    """A real Milvus 2.3.5 answer saved by tests/integration/capture_fixtures.py."""
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def fixture_json():
    return captured
