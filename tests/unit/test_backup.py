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


def test_a_place_with_room_for_the_backup_and_its_margin_passes():
    places = [{"where": "localhost:/b", "free": 1100, "need": 1000}]
    assert _backup.space_problems(places, 0.1) == []


def test_a_place_short_of_the_margin_is_named_with_its_figures():
    places = [{"where": "localhost:/b", "free": 5 << 30, "need": 5 << 30},
              {"where": "node1:/etcd", "free": 10 << 30, "need": 1 << 20}]
    (line,) = _backup.space_problems(places, 0.1)
    assert line == "localhost:/b has 5.0 GiB free and the backup needs 5.5 GiB (5.0 GiB and 10% to spare)"


def test_a_place_whose_free_space_was_not_read_is_named():
    assert _backup.space_problems([{"where": "node1:/etcd", "free": "", "need": 1}], 0.1) == [
        "node1:/etcd: its free space could not be read"]


def test_the_filter_reads_a_registered_loop_of_free_space():
    from ansible_collections.vectorops.milvus.plugins.filter.backup import milvus_backup_space_problems

    free = {"results": [
        {"item": {"host": "localhost", "path": "/b", "need": "2048"}, "rc": 0, "stdout": "4\n"},
        {"item": {"host": "node1", "path": "/opt/etcd", "need": "1024"}, "rc": 0, "stdout": "1"},
        {"item": {"host": "node2", "path": "/x", "need": "1"}, "rc": 1, "failed": True, "stdout": ""},
    ]}
    assert milvus_backup_space_problems(free, 0.1) == [
        "node1:/opt/etcd has 1.0 KiB free and the backup needs 1.1 KiB (1.0 KiB and 10% to spare)",
        "node2:/x: its free space could not be read"]
