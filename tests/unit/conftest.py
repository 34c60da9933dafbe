"""Unit tier: the collection importable as ansible_collections.vectorops.milvus, captured answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_T = TypeVar("_T")


def scan_probe(text: str, scan: Callable[[Path], _T]) -> _T:
    """What a source check `scan` finds in a throw-away playbooks/vars file holding `text`: how a
    check over the project's files is shown able to fail (the file sits in the checkout, since
    the checks name what they find relative to it, and is removed afterwards)."""
    from tests.conftest import ROOT

    probe = ROOT / "playbooks" / "vars" / "_probe_source_check.yml"
    probe.write_text(text)
    try:
        return scan(probe)
    finally:
        probe.unlink()


def captured(name: str) -> Any:
    """A real Milvus 2.3.5 answer saved by tests/integration/capture_fixtures.py."""
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def fixture_json():
    return captured
