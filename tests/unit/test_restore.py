"""The collection-mode restore's pure logic (module_utils/_restore.py), from the manifest entries
and the object listing captured on the real standalone (tests/integration/test_backup_manifest.py
saves both); the module's run against a server is tests/integration/test_restore_collection.py."""

from __future__ import annotations

import copy
import json

import pytest
from ansible_collections.vectorops.milvus.plugins.module_utils import _backup, _restore

from tests.unit.conftest import FIXTURES

COLLECTIONS = json.loads((FIXTURES / "backup_manifest.json").read_text())
LISTING = json.loads((FIXTURES / "backup_listing.json").read_text())
LOADED = next(c for c in COLLECTIONS if c["name"] == "it_balance")
UNLOADED = next(c for c in COLLECTIONS if c["name"] == "it_unloaded")
COLL = LOADED["schema"]["collection_id"]


def changed(entry: dict, edit) -> dict:
    out = copy.deepcopy(entry)
    edit(out)
    return out


def test_the_captured_entries_are_whole():
    for entry in COLLECTIONS:
        assert _restore.entry_problems(entry) == [], entry["name"]


def _set(path: str, value):
    def edit(entry):
        *parents, last = path.split(".")
        node = entry
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return edit


MALFORMED = [
    ("not a dict", lambda e: None, "not a collection entry"),
    ("no segments", lambda e: e.pop("segments"), "segments missing or of the wrong type"),
    ("rows as text", _set("rows", "3500"), "rows missing or of the wrong type"),
    ("rows as bool", _set("rows", True), "rows missing or of the wrong type"),
    ("no collection id", _set("schema.collection_id", 0), "schema.collection_id is not a collection id"),
    ("no fields", _set("schema.fields", []), "schema.fields is not a list of fields"),
    ("a 2.4 type", _set("schema.fields.2.type", "FLOAT16_VECTOR"), "not a Milvus 2.3 type"),
    ("varchar without length", _set("schema.fields.1.params", {}), "tag is a VARCHAR without max_length"),
    ("vector without dim", _set("schema.fields.2.params", {}), "vec is a vector without dim"),
    (
        "array without elements",
        lambda e: e["schema"]["fields"][1].update(type="ARRAY"),
        "tag is an ARRAY without its element_type",
    ),
    ("ids out of order", _set("schema.fields.1.field_id", 105), "field ids [100, 105, 102] are not 100, 101"),
    ("two keys", _set("schema.fields.1.is_primary", True), "2 primary key fields, not 1"),
    ("no vector", _set("schema.fields.2.type", "DOUBLE"), "no vector field"),
    ("unknown partition", _set("segments.0.partition", "hot"), "is not one of the entry's partitions"),
    ("bad segment", _set("segments.1", {"segment_id": 5}), "a segment without segment_id and partition_id"),
    ("bad samples", _set("samples.0", [1]), "samples are not [primary key, top-1 id] pairs"),
]


@pytest.mark.parametrize(("case", "edit", "fragment"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_entry_is_named(case, edit, fragment):
    entry = None if case == "not a dict" else changed(LOADED, edit)
    problems = _restore.entry_problems(entry)
    assert problems and any(fragment in p for p in problems), problems


def test_the_dynamic_field_is_no_declared_field():
    meta = {
        "field_id": 103,
        "name": "$meta",
        "type": "JSON",
        "params": {},
        "is_primary": False,
        "is_dynamic": True,
    }
    entry = changed(
        LOADED, lambda e: (e["schema"]["fields"].append(meta), e["schema"].update(enable_dynamic_field=True))
    )
    assert _restore.entry_problems(entry) == []
    spec = _restore.collection_spec(entry)
    assert [f["name"] for f in spec["fields"]] == ["id", "tag", "vec"] and spec["enable_dynamic_field"]


def test_refusals():
    assert _restore.refusals(LOADED, "2.3.5", "2.3.4", "it_copy", ["it_balance"]) == []
    assert _restore.refusals(LOADED, "2.3.5", "2.3.5", "it_balance", ["it_balance"]) == [
        "collection it_balance already exists: drop it, or restore under another name (restore_as)"
    ]
    assert _restore.refusals(LOADED, "2.2.16", "2.3.5", "x", []) == [
        "the backup is of Milvus 2.2 and the cluster runs 2.3: restore onto the same release line"
    ]
    assert _restore.refusals(LOADED, "", "2.3.5", "x", [])[0].startswith("the backup is of Milvus ?")


def test_a_partial_upload_is_refused_with_the_segment():
    assert _restore.refusals(LOADED, "2.3.5", "2.3.5", "x", [], LISTING) == []
    seg = LOADED["segments"][2]["segment_id"]
    partial = [p for p in LISTING if f"/{seg}/101/" not in p]
    refused = _restore.refusals(LOADED, "2.3.5", "2.3.5", "x", [], partial)
    assert refused == [
        f"the uploaded copy is partial: segment {seg} of it_balance: no insert logs for "
        "field(s) 101: upload the backup's insert_log and delta_log trees whole"
    ]
    everything_missing = _restore.refusals(LOADED, "2.3.5", "2.3.5", "x", [], [])[0]
    assert everything_missing.count("no insert logs") == 2 and " and 2 more: " in everything_missing


def test_the_collection_is_created_as_it_was():
    spec = _restore.collection_spec(LOADED)
    assert [(f["name"], f["type"], f["is_primary"], f["params"]) for f in spec["fields"]] == [
        ("id", "INT64", True, {}),
        ("tag", "VARCHAR", False, {"max_length": 32}),
        ("vec", "FLOAT_VECTOR", False, {"dim": 16}),
    ]
    assert (spec["num_shards"], spec["consistency_level"], spec["auto_id"]) == (1, "Bounded", False)
    assert "num_partitions" not in spec and _restore.partitions_to_create(LOADED) == []
    # dims kept as text by an older manifest are numbers again
    assert _restore.collection_spec(changed(LOADED, _set("schema.fields.2.params", {"dim": "16"})))["fields"][
        2
    ]["params"] == {"dim": 16}


def test_partitions_and_partition_keys():
    two = changed(LOADED, lambda e: e["partitions"].update({"99": "hot"}))
    assert _restore.partitions_to_create(two) == ["hot"]
    keyed = changed(two, lambda e: e["schema"]["fields"][1].update(is_partition_key=True))
    keyed["schema"]["num_partitions"] = 16
    assert _restore.partitions_to_create(keyed) == []
    assert _restore.collection_spec(keyed)["num_partitions"] == 16


def test_each_segment_is_imported_from_its_own_dirs():
    seg = LOADED["segments"][0]
    tail = f"{COLL}/{seg['partition_id']}/{seg['segment_id']}/"
    for prefix, start in [
        ("restore/r1", "restore/r1/"),
        ("restore/r1/", "restore/r1/"),
        ("", ""),
        ("/srv/milvus/data/restore", "/srv/milvus/data/restore/"),
    ]:
        first = _restore.imports(LOADED, prefix)[0]
        assert first["files"] == [f"{start}insert_log/{tail}", f"{start}delta_log/{tail}"], prefix
        assert (first["segment_id"], first["partition"], first["num_rows"]) == (
            seg["segment_id"],
            "_default",
            1500,
        )
    assert len(_restore.imports(LOADED, "p")) == 4


def test_a_listing_says_which_segments_have_delete_logs():
    seg = LOADED["segments"][1]
    delta = f"up/delta_log/{COLL}/{seg['partition_id']}/{seg['segment_id']}/470879313690824099"
    items = _restore.imports(LOADED, "up", [*LISTING, delta])
    assert [bool(i["files"][1]) for i in items] == [False, True, False, False]
    assert items[1]["files"][1].endswith(f"/{seg['segment_id']}/")


def test_indexes_are_created_with_their_params():
    assert _restore.index_specs(LOADED["indexes"]) == [
        {
            "field_name": "vec",
            "index_name": "vec",
            "index_type": "HNSW",
            "metric_type": "L2",
            "params": {"M": "8", "efConstruction": "32"},
        }
    ]
    scalar = {
        "field_name": "tag",
        "index_name": "tag_idx",
        "index_type": "Trie",
        "state": "Finished",
        "params": {"x": 1},
    }
    assert _restore.index_specs([scalar]) == [
        {"field_name": "tag", "index_name": "tag_idx", "index_type": "Trie", "params": {"x": 1}}
    ]


def test_load_follows_the_manifest_unless_told():
    assert (_restore.plan(LOADED, "a", "p")["load"], _restore.plan(LOADED, "a", "p")["replica_number"]) == (
        True,
        1,
    )
    assert (
        _restore.plan(UNLOADED, "a", "p")["load"],
        _restore.plan(UNLOADED, "a", "p")["replica_number"],
    ) == (False, 0)
    assert _restore.plan(UNLOADED, "a", "p", load=True)["replica_number"] == 1
    two = changed(LOADED, _set("replica_number", 2))
    assert (
        _restore.plan(two, "a", "p")["replica_number"] == 2
        and not _restore.plan(two, "a", "p", load=False)["replica_number"]
    )


def test_field_ids_of_the_new_collection_are_compared():
    described = {
        "fields": [{"name": f["name"], "field_id": f["field_id"]} for f in LOADED["schema"]["fields"]]
    }
    assert _restore.field_id_problems(LOADED, described) == []
    described["fields"][2]["field_id"] = 103
    assert _restore.field_id_problems(LOADED, described) == ["vec: 103 here, 102 in the backup"]


def test_rows_are_equal_for_a_loaded_backup_and_no_more_for_an_unloaded_one():
    assert _restore.rows_problem(LOADED, 3500, "served") is None
    assert _restore.rows_problem(LOADED, 3520, "served") == "3520 rows served, the backup has 3500"
    assert _restore.rows_problem(UNLOADED, 190, "imported") is None
    assert (
        _restore.rows_problem(UNLOADED, 201, "imported")
        == "201 rows imported, more than the 200 the backup persisted"
    )


def test_samples_find_themselves_or_the_recorded_hit():
    samples = [[1, 1], [2, 7], [3, 3], ["k", "k"]]
    assert _restore.sample_problems(samples, {1: 1, 2: 7, 3: 3, "k": "k"}) == []
    assert _restore.sample_problems(samples, {1: 1, 2: 2, 3: 9}) == [
        "key 3 finds 9 first (the backup found 3)",
        "key 'k' is missing",
    ]


def test_one_line_lists():
    assert _restore.one_line_list("x", ["a", "b"]) == "x: a; b"
    assert _restore.one_line_list("x", list("abcde")) == "x: a; b; c and 2 more"


def test_sample_search_params_take_the_index_metric():
    assert _backup.sample_search_params(LOADED["indexes"], "vec") == {
        "params": {"nprobe": 128, "ef": 128},
        "metric_type": "L2",
    }
    assert _backup.sample_search_params([], "vec") == {"params": {"nprobe": 128, "ef": 128}}
    pk, vector = _backup.key_fields(LOADED["schema"])
    assert (pk["name"], vector["name"]) == ("id", "vec")


def test_an_array_field_keeps_its_element_type():
    from pymilvus import DataType

    fld = {
        "field_id": 103,
        "name": "tags",
        "type": DataType.ARRAY,
        "element_type": DataType.VARCHAR,
        "params": {"max_length": 8, "max_capacity": 4},
    }
    entry = _backup.field_entry(fld)
    assert (entry["type"], entry["element_type"]) == ("ARRAY", "VARCHAR")
    assert "element_type" not in _backup.field_entry({**fld, "element_type": None})


# ------------------------------------------------------------------ the module's run, on a stand-in


class FakeMilvus:
    """Records what a restore asks of the server; each import task ends in `outcome`."""

    def __init__(self, outcome: str = "Completed", ids_shift: int = 0):
        self.outcome = outcome
        self.ids_shift = ids_shift
        self.calls: list[tuple] = []

    def create_collection_like(self, name, spec):
        self.calls.append(("create", name))

    def describe_raw(self, name):
        return {
            "fields": [
                {"name": f["name"], "field_id": f["field_id"] + self.ids_shift}
                for f in LOADED["schema"]["fields"]
            ]
        }

    def create_partition(self, name, partition):
        self.calls.append(("partition", partition))

    def import_backup_files(self, name, partition, files):
        self.calls.append(("import", partition, tuple(files)))
        return len(self.calls)

    def import_state(self, task):
        return {
            "task_id": task,
            "state": self.outcome,
            "row_count": 10,
            "progress": "40",
            "failed_reason": "the field 101 has no binlog file: importing data failed",
        }

    def drop_collection(self, name):
        self.calls.append(("drop", name))


def _run(fake, wait_timeout=5.0):
    from ansible_collections.vectorops.milvus.plugins.modules import milvus_restore_collection as mod

    plan = _restore.plan(changed(LOADED, lambda e: e["partitions"].update({"9": "hot"})), "c2", "up")
    return mod.create_and_import(fake, LOADED, plan, mod.Clock(wait_timeout, 0.01))


def test_the_module_imports_segment_by_segment():
    fake = FakeMilvus()
    done = _run(fake)
    assert [c[0] for c in fake.calls] == ["create", "partition", "import", "import", "import", "import"]
    assert [d["rows"] for d in done] == [10] * 4 and done[0]["task_id"] == 3


@pytest.mark.parametrize(
    ("fake", "fragment"),
    [
        (FakeMilvus("Failed"), "did not import (task 3 Failed): the field 101 has no binlog file"),
        (FakeMilvus("Started"), "still Started (task 3, 40%) after wait_timeout 0.05 s"),
        (FakeMilvus(ids_shift=1), "field ids are not the backup's: id: 101 here, 100 in the backup"),
    ],
)
def test_a_failed_import_drops_the_new_collection(fake, fragment):
    from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import MilvusError

    with pytest.raises(MilvusError) as err:
        _run(fake, wait_timeout=0.05)
    msg = str(err.value)
    assert msg.startswith("restore of c2 failed: ") and fragment in msg, msg
    assert msg.endswith("; the collection c2 it had created was dropped") and fake.calls[-1] == ("drop", "c2")


# --- restore.yml's checks before anything changes (filters milvus_restore_refusals / _selection)

MANIFEST = {
    "format": _backup.MANIFEST_FORMAT,
    "name": "20261202T101500Z",
    "milvus_version": "2.3.5",
    "bucket": {"objects": len(LISTING), "checksums": "bucket.md5", "checksums_sha256": "ab" * 32},
    "collections": COLLECTIONS,
}


def test_a_whole_manifest_may_be_restored_as_text_or_object():
    assert _restore.restore_refusals(MANIFEST) == []
    assert _restore.restore_refusals(json.dumps(MANIFEST), ["it_balance"], {"it_balance": "back"}) == []
    assert _restore.restore_refusals(MANIFEST, [], {}, "v2.3.4", ["other"]) == []


@pytest.mark.parametrize(
    ("manifest", "fragment"),
    [
        ("{not json", "manifest.json is not JSON"),
        ("[]", "holds a list"),
        ({**MANIFEST, "format": 2}, "format 2"),
        ({**MANIFEST, "name": "../x"}, "name '../x'"),
        ({**MANIFEST, "milvus_version": ""}, "milvus_version ''"),
        ({**MANIFEST, "bucket": {}}, "no bucket.checksums_sha256"),
        ({**MANIFEST, "collections": [{"schema": {}}]}, "collections is not a list of named entries"),
    ],
    ids=["text", "list", "format", "name", "version", "checksum", "collections"],
)
def test_a_manifest_that_is_not_whole_is_refused(manifest, fragment):
    refused = _restore.restore_refusals(manifest)
    assert len(refused) == 1 and fragment in refused[0], refused


def test_names_the_backup_lacks_are_refused_with_what_it_holds():
    refused = _restore.restore_refusals(MANIFEST, ["it_balance", "gone", "also_gone"])
    assert refused == [
        "also_gone, gone not in the backup 20261202T101500Z (it holds it_balance, it_unloaded)"
    ]


def test_renames_that_collide_or_rename_nothing_are_refused():
    refused = _restore.restore_refusals(MANIFEST, [], {"it_balance": "it_unloaded"})
    assert refused == [
        "it_balance and it_unloaded would both be restored as it_unloaded: rename one (restore_as)"
    ]
    refused = _restore.restore_refusals(MANIFEST, ["it_unloaded"], {"it_balance": "x"})
    assert refused == ["restore_as renames it_balance, which this run does not restore"]
    assert "restore_as must map" in _restore.restore_refusals(MANIFEST, [], {"it_balance": ""})[0]
    assert "restore_collections must be" in _restore.restore_refusals(MANIFEST, [3])[0]


def test_a_malformed_entry_is_refused_before_the_cluster_is_asked():
    broken = {**MANIFEST, "collections": [changed(LOADED, lambda e: e.pop("segments")), UNLOADED]}
    refused = _restore.restore_refusals(broken, [], {}, "2.4.0", ["it_balance"])
    assert refused == ["the backup's entry of it_balance is malformed: segments missing or of the wrong type"]
    assert _restore.restore_refusals(broken, ["it_unloaded"]) == []


def test_the_cluster_refuses_another_release_line_and_names_that_exist():
    existing = ["it_balance", "u2", "x"]
    refused = _restore.restore_refusals(MANIFEST, [], {"it_unloaded": "u2"}, "2.4.1", existing)
    assert refused[0].startswith("the backup is of Milvus 2.3 and the cluster runs 2.4")
    assert refused[1] == (
        "it_balance, u2 already exist in the cluster: drop them, or restore under other names (restore_as)"
    )
    refused = _restore.restore_refusals(MANIFEST, [], {"it_balance": "b2"}, "2.3.5", ["it_unloaded"])
    assert refused == [
        "it_unloaded already exists in the cluster: drop it, or restore under another name (restore_as)"
    ]


def test_the_selection_keeps_manifest_order_and_renames():
    wanted = ["it_unloaded", "it_balance"]
    chosen = _restore.restore_selection(json.dumps(MANIFEST), wanted, {"it_balance": "b2"})
    assert [(c["name"], c["target"]) for c in chosen] == [
        ("it_balance", "b2"),
        ("it_unloaded", "it_unloaded"),
    ]
    assert chosen[0]["collection_id"] == COLL and chosen[0]["segments"] == len(LOADED["segments"])
    assert chosen[0]["entry"] == LOADED
    assert [c["name"] for c in _restore.restore_selection(MANIFEST, ["it_unloaded"])] == ["it_unloaded"]


def test_restore_reports_missing_parts_failures_and_results():
    from ansible_collections.vectorops.milvus.plugins.filter.backup import (
        milvus_backup_missing_parts,
        milvus_restore_failure,
        milvus_restore_lines,
    )

    stats = {"results": [{"item": "manifest.json", "stat": {"exists": True, "isreg": True}},
                         {"item": "etcd.db", "stat": {"exists": False}},
                         {"item": "bucket.md5", "stat": {"exists": True, "isreg": True}},
                         {"item": "bucket", "stat": {"exists": True, "isdir": False, "isreg": True}}]}
    assert milvus_backup_missing_parts(stats) == ["etcd.db", "bucket/"]

    loop = {"results": [
        {"item": {"name": "a", "target": "a"}, "failed": False, "name": "a", "rows": 5500,
         "segments_imported": 4, "samples_checked": 50, "seconds": 16.0, "imports": [{}] * 4},
        {"item": {"name": "b", "target": "b2"}, "failed": True, "msg": "rows differ: 10 served\ntraceback"},
        {"item": {"name": "c", "target": "c"}, "skipped": True}]}
    assert milvus_restore_failure(loop) == "b: rows differ: 10 served"
    assert milvus_restore_failure({"msg": ""}, "Stage the files") == "'Stage the files': see above"
    assert milvus_restore_lines(loop) == ["a: 5500 rows, 4 segments imported, 50 samples checked, 16.0 s"]
    assert milvus_restore_lines(loop, check_mode=True) == [
        "would restore a: 5500 rows, 4 segments to import, 16.0 s"]
    renamed = {"results": [dict(loop["results"][0], name="a_restored")]}
    assert milvus_restore_lines(renamed)[0].startswith("a as a_restored: 5500 rows")
    assert milvus_restore_lines({}) == ["no collection restored"]
