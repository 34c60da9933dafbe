"""milvus_backup_manifest against the real standalone: what it records equals what the server
holds, and the files it says a segment needs are the files Milvus wrote (its local storage has the
bucket's layout). With VECTOROPS_CAPTURE_FIXTURES=1 the answers are saved as unit fixtures for
the pure backup logic (otherwise the committed ones stay as they are)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ansible_collections.vectorops.milvus.plugins.module_utils import _backup

from tests.integration.conftest import BALANCED, UNLOADED, run_module

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "fixtures"


def storage_files(milvus_server) -> list[str]:
    return [str(p) for p in Path(milvus_server.data_dir).rglob("*") if p.is_file()]


def test_records_schema_segments_and_samples(conn, client, seeded, milvus_server):
    run = run_module("milvus_backup_manifest", conn)
    assert not run.failed and run.result["changed"] is False, run.result
    assert run.result["milvus_version"].startswith("2.3")
    by_name = {c["name"]: c for c in run.result["collections"]}
    assert set(by_name) >= {BALANCED, UNLOADED}
    balanced = by_name[BALANCED]
    fields = balanced["schema"]["fields"]
    assert [(f["field_id"], f["name"], f["type"]) for f in fields] == [
        (100, "id", "INT64"), (101, "tag", "VARCHAR"), (102, "vec", "FLOAT_VECTOR")]
    assert fields[2]["params"]["dim"] in (16, "16") and fields[0]["is_primary"]
    assert balanced["schema"]["collection_id"] == client.describe_collection(BALANCED)["id"]
    # the four sealed segments, flushed, with the rows seeded into each
    assert sorted(s["num_rows"] for s in balanced["segments"]) == [300, 700, 1000, 1500]
    assert {s["partition"] for s in balanced["segments"]} == {"_default"}
    assert balanced["rows"] == 3500 == client.served_rows(BALANCED)
    assert balanced["load_state"] == "Loaded" and balanced["replica_number"] == 1
    assert balanced["indexes"][0]["index_type"] == "HNSW"
    # every sampled key finds itself (HNSW with a generous ef on distinct random vectors)
    assert len(balanced["samples"]) == 100
    assert sum(pk == top for pk, top in balanced["samples"]) >= 99, balanced["samples"]
    unloaded = by_name[UNLOADED]
    assert unloaded["load_state"] == "NotLoad" and unloaded["samples"] == [] and unloaded["rows"] == 200
    # The files a segment needs are in the storage Milvus wrote to, for every field and the
    # two system fields, with equal counts.
    counts = _backup.binlog_counts(storage_files(milvus_server))
    for entry in (balanced, unloaded):
        assert _backup.missing_files(entry, counts) == []
    # kept for the unit tier when asked (the pure logic's inputs, from this real server)
    if not os.environ.get("VECTOROPS_CAPTURE_FIXTURES"):
        return
    FIXTURES.joinpath("backup_manifest.json").write_text(json.dumps(run.result["collections"], indent=1))
    listing = sorted({str(Path(p).relative_to(milvus_server.data_dir)) for p in storage_files(milvus_server)
                      if "/insert_log/" in p or "/delta_log/" in p})
    FIXTURES.joinpath("backup_listing.json").write_text(json.dumps(listing, indent=0))


def test_a_missing_collection_fails_in_one_line_before_any_flush(conn, seeded):
    run = run_module("milvus_backup_manifest", {**conn, "collections": [BALANCED, "no_such_collection"]})
    run.assert_clean_failure("no collection no_such_collection", "nothing was flushed")


def test_check_mode_records_without_flushing(conn, seeded):
    run = run_module("milvus_backup_manifest", {**conn, "collections": [BALANCED], "samples": 0}, check=True)
    assert not run.failed and run.result["collections"][0]["samples"] == []
    assert len(run.result["collections"][0]["segments"]) == 4
