"""milvus_restore_collection against the real standalone.

A collection with two partitions, a dynamic field, deleted rows, an HNSW index and a load is
recorded by milvus_backup_manifest; its insert_log and delta_log trees are copied to a new prefix
of the server's own storage (what the backup's copy plus an upload does: the standalone stores
locally, so its bucket is a directory and the prefix an absolute path); then it is restored under
another name and, once dropped, under its own, and checked against the manifest. Also: every
refusal is one line and changes nothing, a failed import drops what it created, and a restore
that leaves the deletes out fails the row check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import run_module, run_tasks

SOURCE = "it_restore_src"
COPY = "it_restore_copy"
DIM = 16
DELETED = [3, 17, 250, 599, 600, 777, 1199, 1200, 1333, 1999]  # both partitions, several segments
ROWS = 2000 - len(DELETED)
WAIT = {"wait_timeout": 300, "poll_interval": 0.5}


def seed(client) -> None:
    """Rows 0-1199 in _default (two flushes), 1200-1999 in "hot", then deletes, flushed too."""
    import numpy as np
    from pymilvus import DataType

    mc = client.client
    if mc.has_collection(SOURCE):
        mc.drop_collection(SOURCE)
    schema = mc.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.VARCHAR, max_length=32)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
    mc.create_collection(SOURCE, schema=schema, shards_num=2)
    mc.create_partition(SOURCE, "hot")
    vecs = np.random.default_rng(7).random((2000, DIM), dtype=np.float32)
    for start, stop, partition in [(0, 600, "_default"), (600, 1200, "_default"), (1200, 2000, "hot")]:
        rows = [{"id": i, "tag": f"t{i % 5}", "vec": vecs[i], "n": i} for i in range(start, stop)]
        mc.insert(SOURCE, rows, partition_name=partition)
        mc.flush(SOURCE)
    mc.delete(SOURCE, filter=f"id in {DELETED}")
    mc.flush(SOURCE)
    index = mc.prepare_index_params()
    index.add_index("vec", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 64})
    mc.create_index(SOURCE, index)
    mc.load_collection(SOURCE, timeout=120)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def backup(conn, client, milvus_server, tmp_path_factory):
    """The manifest entry of the seeded collection and its upload: prefix and listing."""
    seed(client)
    run = run_module("milvus_backup_manifest", {**conn, "collections": [SOURCE], "samples": 100})
    assert not run.failed, run.result
    entry = run.result["collections"][0]
    assert entry["rows"] == ROWS and len(entry["samples"]) == 100 and entry["load_state"] == "Loaded"
    assert {s["partition"] for s in entry["segments"]} == {"_default", "hot"}
    # The standalone's storage is local: <data dir>/data holds the bucket's layout.
    storage = Path(milvus_server.data_dir) / "data"
    coll = str(entry["schema"]["collection_id"])
    prefix = storage / "restore" / tmp_path_factory.mktemp("run").name
    for tree in ("insert_log", "delta_log"):
        shutil.copytree(storage / tree / coll, prefix / tree / coll)
    listing = files_under(prefix)
    deltas = {p.split("/")[3] for p in listing if p.startswith("delta_log/")}
    assert deltas, "the deletes were flushed into no segment's delta log"
    return {
        "entry": entry,
        "version": run.result["milvus_version"],
        "prefix": str(prefix),
        "listing": listing,
        "storage": storage,
    }


def restore_args(conn, backup, **extra) -> dict:
    return {
        **conn,
        **WAIT,
        "manifest": backup["entry"],
        "milvus_version": backup["version"],
        "files_prefix": backup["prefix"],
        **extra,
    }


def test_check_mode_plans_and_creates_nothing(conn, client, backup):
    run = run_module("milvus_restore_collection", restore_args(conn, backup, restore_as=COPY), check=True)
    assert not run.failed and run.result["changed"] is True, run.result
    assert run.result["plan"]["partitions"] == ["hot"] and run.result["plan"]["replica_number"] == 1
    assert len(run.result["imports"]) == len(backup["entry"]["segments"])
    assert run.result["segments_imported"] == 0 and not client.has_collection(COPY)


def test_refusals_are_one_line_and_change_nothing(conn, client, backup):
    before = (client.list_collections(), client.served_rows(SOURCE))
    gone = next(p for p in backup["listing"] if p.startswith("insert_log/") and "/102/" in p)
    runs = run_tasks(
        [
            ("milvus_restore_collection", restore_args(conn, backup), False),  # SOURCE exists
            (
                "milvus_restore_collection",
                restore_args(conn, backup, restore_as=COPY, milvus_version="2.2.16"),
                False,
            ),
            (
                "milvus_restore_collection",
                restore_args(conn, backup, restore_as=COPY, manifest={**backup["entry"], "segments": "all"}),
                False,
            ),
            (
                "milvus_restore_collection",
                restore_args(
                    conn, backup, restore_as=COPY, listing=[p for p in backup["listing"] if p != gone]
                ),
                False,
            ),
        ]
    )
    runs[0].assert_clean_failure(f"collection {SOURCE} already exists", "restore_as", "nothing was changed")
    runs[1].assert_clean_failure(
        "the backup is of Milvus 2.2 and the cluster runs 2.3", "nothing was changed"
    )
    runs[2].assert_clean_failure("the manifest entry is malformed: segments", "nothing was changed")
    runs[3].assert_clean_failure(
        "the uploaded copy is partial",
        f"segment {gone.split('/')[3]} ",
        "field(s) 102",
        "nothing was changed",
    )
    assert (client.list_collections(), client.served_rows(SOURCE)) == before


def test_restore_under_another_name(conn, client, backup):
    entry = backup["entry"]
    run = run_module(
        "milvus_restore_collection", restore_args(conn, backup, restore_as=COPY, listing=backup["listing"])
    )
    assert not run.failed and run.result["changed"] is True, run.result.get("msg", run.result)
    res = run.result
    assert (res["name"], res["rows"], res["segments_imported"], res["samples_checked"]) == (
        COPY,
        ROWS,
        len(entry["segments"]),
        100,
    )
    # segments without deletes were imported without a delete directory
    assert any(i["files"][1] == "" for i in res["imports"]) and any(i["files"][1] for i in res["imports"])
    # the server's own view: rows, partitions, deletes, dynamic field, index, replicas
    assert client.served_rows(COPY) == ROWS
    assert sorted(client.partitions(COPY).values()) == ["_default", "hot"]
    assert client.client.query(COPY, filter=f"id in {DELETED}", consistency_level="Strong") == []
    kept = client.client.query(
        COPY, filter="id in [4, 1201]", output_fields=["n", "tag"], consistency_level="Strong"
    )
    assert sorted((r["id"], r["n"], r["tag"]) for r in kept) == [(4, 4, "t4"), (1201, 1201, "t1")]
    assert client.indexes(COPY)[0]["index_type"] == "HNSW" and len(client.replicas(COPY)) == 1
    assert client.served_rows(SOURCE) == ROWS  # the source is untouched
    client.drop_collection(COPY)


def test_a_restore_without_the_deletes_fails_the_row_check(conn, client, backup):
    """The listing without delta_log makes the module import no delete directory: the deleted
    rows come back, and the check against the manifest must say so (keeping the collection)."""
    no_deltas = [p for p in backup["listing"] if not p.startswith("delta_log/")]
    run = run_module(
        "milvus_restore_collection", restore_args(conn, backup, restore_as=COPY, listing=no_deltas)
    )
    run.assert_clean_failure(
        f"the restored {COPY} does not match the backup",
        f"{ROWS + len(DELETED)} rows served, the backup has {ROWS}",
        "kept for inspection",
    )
    assert client.served_rows(COPY) == ROWS + len(DELETED)
    client.drop_collection(COPY)


def test_a_failed_import_drops_what_it_created(conn, client, backup):
    """A segment whose tag field lost its insert logs in the upload (no listing to refuse it):
    the server fails its import, and the run drops the collection it created."""
    broken = Path(backup["prefix"]).with_name(Path(backup["prefix"]).name + "-broken")
    shutil.copytree(backup["prefix"], broken)
    seg = backup["entry"]["segments"][0]
    coll = backup["entry"]["schema"]["collection_id"]
    shutil.rmtree(
        broken / "insert_log" / str(coll) / str(seg["partition_id"]) / str(seg["segment_id"]) / "101"
    )
    run = run_module(
        "milvus_restore_collection", restore_args(conn, backup, restore_as=COPY, files_prefix=str(broken))
    )
    run.assert_clean_failure(
        f"restore of {COPY} failed: segment {seg['segment_id']} ({seg['partition']}) did not import",
        f"the collection {COPY} it had created was dropped",
    )
    assert not client.has_collection(COPY)


def test_restore_under_its_own_name_after_a_drop(conn, client, backup):
    """No listing: every segment's delete directory is named, absent ones list empty."""
    client.drop_collection(SOURCE)
    run = run_module("milvus_restore_collection", restore_args(conn, backup))
    assert not run.failed, run.result.get("msg", run.result)
    assert (run.result["name"], run.result["rows"], run.result["samples_checked"]) == (SOURCE, ROWS, 100)
    assert all(i["files"][1] for i in run.result["imports"])
    assert client.served_rows(SOURCE) == ROWS and client.load_state(SOURCE) == "Loaded"
