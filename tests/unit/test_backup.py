"""The backup's pure logic, from what milvus_backup_manifest recorded on the real standalone and
the object listing Milvus wrote there (tests/integration/test_backup_manifest.py saves both)."""

from __future__ import annotations

import json

from ansible_collections.vectorops.milvus.plugins.module_utils import _backup

from tests.unit.conftest import FIXTURES

COLLECTIONS = json.loads((FIXTURES / "backup_manifest.json").read_text())
LISTING = json.loads((FIXTURES / "backup_listing.json").read_text())
BALANCED = next(c for c in COLLECTIONS if c["name"] == "it_balance")


def test_the_captured_copy_holds_every_segment_whole():
    counts = _backup.binlog_counts(LISTING)
    for entry in COLLECTIONS:
        assert _backup.missing_files(entry, counts) == [], entry["name"]


def test_a_field_without_logs_is_named():
    seg = BALANCED["segments"][0]
    gone = f"/{seg['segment_id']}/102/"
    counts = _backup.binlog_counts([p for p in LISTING if gone not in p])
    problems = _backup.missing_files(BALANCED, counts)
    assert problems == [f"segment {seg['segment_id']} of it_balance: no insert logs for field(s) 102"]


def test_unequal_file_counts_are_named():
    seg = BALANCED["segments"][1]
    extra = next(p for p in LISTING if f"/{seg['segment_id']}/101/" in p) + "0"
    problems = _backup.missing_files(BALANCED, _backup.binlog_counts([*LISTING, extra]))
    assert len(problems) == 1 and "insert log files" in problems[0] and str(seg["segment_id"]) in problems[0]


def test_a_collection_absent_from_the_copy_misses_every_segment():
    assert len(_backup.missing_files(BALANCED, {})) == len(BALANCED["segments"]) == 4


def test_field_ids_are_the_system_fields_and_the_schemas():
    assert _backup.field_ids(BALANCED["schema"]) == [0, 1, 100, 101, 102]


def test_only_flushed_segments_are_recorded():
    segs = [{"segment_id": 3, "partition_id": 9, "num_rows": 5, "state": "Growing"},
            {"segment_id": 1, "partition_id": 9, "num_rows": 7, "state": "Flushed"},
            {"segment_id": 2, "partition_id": 9, "num_rows": 0, "state": "Dropped"}]
    assert _backup.segment_entries(segs, {9: "_default"}) == [
        {"segment_id": 1, "partition_id": 9, "partition": "_default", "num_rows": 7}]
    assert _backup.unpersisted(segs) == ["3 (Growing)"]


def test_refusals_of_a_manifest():
    good = {"format": _backup.MANIFEST_FORMAT, "milvus_version": "2.3.5"}
    assert _backup.manifest_refusals(good, "2.3.4") == []
    refused = _backup.manifest_refusals(good, "v2.4.1")
    assert refused[0].startswith("the backup is of Milvus 2.3 and the cluster runs 2.4")
    assert "format" in _backup.manifest_refusals({**good, "format": 99}, "2.3.5")[0]
