"""milvus_loadtest through Ansible against the real standalone (small, bounded loads)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import BALANCED, UNLOADED, placement, run_module, run_tasks

LOAD = "milvus_loadtest"
QUICK = {"duration": 3, "warmup": 1, "concurrency": 2, "processes": 2}


def test_search_load_with_recall(conn, client, seeded):
    before = (placement(client, BALANCED), client.row_count(BALANCED))
    run = run_module(
        LOAD,
        {
            **conn,
            **QUICK,
            "collection": BALANCED,
            "top_k": 5,
            "recall": True,
            "recall_queries": 20,
            "thresholds": {"max_error_rate": 0.0},
        },
    )
    assert run.rc == 0, run.result
    res = run.result
    search = res["search"]
    assert res["changed"] is False and res["created"] is False and "insert" not in res
    assert search["ok"] > 0 and search["errors"] == 0 and search["qps"] > 0
    assert search["duration_s"] == pytest.approx(3, abs=0.5)
    lat = search["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert search["warmup_requests"] > 0 and search["processes"] == 2
    assert search["client_cpu_s_per_1000"] > 0
    assert res["parameters"]["metric_type"] == "L2" and res["parameters"]["vector_field"] == "vec"
    assert res["recall"]["rows"] == 3500 and res["recall"]["value"] >= 0.9
    assert res["thresholds"]["passed"] is True
    assert (placement(client, BALANCED), client.row_count(BALANCED)) == before


def test_created_collections_insert_search_and_drop(conn, client):
    kept, dropped, never = "it_loadtest_tmp", "it_loadtest_dropped", "it_never_created"
    args = {
        **conn,
        "collection": kept,
        "create": True,
        "dim": 8,
        "phases": ["insert", "search"],
        "count": 20,
        "batch_size": 50,
        "duration": 30,
        "warmup": 0,
        "concurrency": 2,
        "processes": 1,
        "flush": True,
        "index_type": "HNSW",
        "index_params": {"M": 8, "efConstruction": 32},
    }
    try:
        first, second, drop, check = run_tasks(
            [
                (LOAD, args, False),
                # the collection exists now: a second run inserts again (fresh ids), only when
                # told to, and never drops it
                (LOAD, {**args, "count": 2, "drop": True, "phases": ["insert"], "insert_into_existing": True},
                 False),
                (
                    LOAD,
                    {
                        **conn,
                        "collection": dropped,
                        "create": True,
                        "drop": True,
                        "dim": 4,
                        "phases": ["insert"],
                        "count": 2,
                        "batch_size": 10,
                        "warmup": 0,
                        "concurrency": 1,
                    },
                    False,
                ),
                (LOAD, {**conn, "collection": never, "create": True, "dim": 4}, True),
            ]
        )
        assert first.rc == 0, first.result
        res = first.result
        assert res["changed"] is True and res["created"] is True and res["dropped"] is False
        assert res["insert"]["ok"] == 20 and res["insert"]["rows"] == 1000 and res["insert"]["errors"] == 0
        assert res["insert"]["rows_per_sec"] > 0 and res["search"]["ok"] == 20
        assert second.rc == 0 and second.result["created"] is False and second.result["dropped"] is False
        assert second.result["insert"]["rows"] == 100
        assert client.row_count(kept) == 1100  # flushed rows, as the server counts them

        assert drop.rc == 0, drop.result
        assert drop.result["created"] is True and drop.result["dropped"] is True and drop.result["changed"]
        assert not client.has_collection(dropped)

        check.assert_clean_failure("cannot run in check mode")
        assert not client.has_collection(never)
    finally:
        for name in (kept, dropped, never):
            if client.has_collection(name):
                client.drop_collection(name)


BAD_INPUT = [
    ({"dim": 32}, "dim mismatch: dim is 32 but field vec of it_balance has dim 16"),
    ({"vector_field": "embedding"}, "unknown field embedding in collection it_balance"),
    ({"vector_field": "tag"}, "field tag is VARCHAR, not FLOAT_VECTOR"),
    ({"metric_type": "IP"}, "metric_type IP does not match the index metric L2"),
    ({"search_params": {"ef": -5}}, "probe search failed"),
    ({"collection": "nope"}, "collection nope does not exist"),
    ({"collection": UNLOADED}, f"collection {UNLOADED} is not loaded"),
    ({"count": 0}, "count must be >= 1"),
    ({"duration": 99999}, "duration must be in (0, 3600] seconds"),
]


def test_bad_input_fails_before_any_load(conn, client, seeded):
    before = (placement(client, BALANCED), client.row_count(BALANCED), sorted(client.list_collections()))
    base = {**conn, **QUICK, "collection": BALANCED, "phases": ["insert", "search"]}
    runs = run_tasks([(LOAD, {**base, **override}, False) for override, _unused in BAD_INPUT])
    for run, (_unused, fragment) in zip(runs, BAD_INPUT, strict=True):
        run.assert_clean_failure(fragment)
        assert "search" not in run.result and "insert" not in run.result
    after = (placement(client, BALANCED), client.row_count(BALANCED), sorted(client.list_collections()))
    assert after == before


def test_thresholds_and_a_dead_proxy(conn, milvus_server, dead_port, seeded):
    spread = {k: v for k, v in conn.items() if k != "uri"}
    spread.update(
        QUICK, duration=2, collection=BALANCED, hosts=[f"127.0.0.1:{dead_port}", milvus_server.address]
    )
    missed, skipped_dead = run_tasks(
        [
            (
                LOAD,
                {
                    **conn,
                    **QUICK,
                    "duration": 2,
                    "collection": BALANCED,
                    "thresholds": {"p99_ms": 0.001, "min_qps": 1},
                },
                False,
            ),
            (LOAD, spread, False),  # worker 0 starts with the dead proxy, falls back to the live one
        ]
    )
    msg = missed.assert_clean_failure("thresholds missed: search p99_ms")
    assert "min_qps" not in msg
    assert missed.result["search"]["ok"] > 0
    assert [c["passed"] for c in missed.result["thresholds"]["checks"]] == [False, True]
    assert skipped_dead.rc == 0, skipped_dead.result
    assert skipped_dead.result["search"]["ok"] > 0 and skipped_dead.result["search"]["errors"] == 0


def test_inserts_into_a_collection_the_run_did_not_create_are_refused(conn, client, seeded):
    """create: true on an existing collection used to insert random rows into it; an insert phase
    into any existing collection now needs insert_into_existing."""
    before = (placement(client, BALANCED), client.row_count(BALANCED), sorted(client.list_collections()))
    base = {**conn, **QUICK, "collection": BALANCED, "phases": ["insert"], "count": 1, "batch_size": 10}
    created, existing, search_only = run_tasks(
        [
            (LOAD, {**base, "create": True, "dim": 16, "drop": True}, False),
            (LOAD, base, False),
            (LOAD, {**base, "create": True, "dim": 16, "phases": ["search"], "count": 1}, False),
        ]
    )
    created.assert_clean_failure(f"collection {BALANCED} already exists and this run did not create it",
                                 "insert_into_existing: true")
    existing.assert_clean_failure(f"the insert phase would add random rows to {BALANCED}",
                                  "insert_into_existing: true")
    for run in (created, existing):
        assert run.result["changed"] is False and run.result["dropped"] is False
    assert search_only.rc == 0 and search_only.result["created"] is False, search_only.result
    after = (placement(client, BALANCED), client.row_count(BALANCED), sorted(client.list_collections()))
    assert after == before


def test_a_failed_index_build_drops_what_the_run_created(conn, client):
    """The collection exists before its index is built: a failure there must not leave it behind."""
    dropped, kept = "it_loadtest_bad_index", "it_loadtest_bad_index_kept"
    bad = {**conn, **QUICK, "create": True, "dim": 8, "phases": ["insert"], "count": 1,
           "index_type": "HNSW", "index_params": {"M": -3, "efConstruction": 0}}
    try:
        with_drop, without = run_tasks(
            [(LOAD, {**bad, "collection": dropped, "drop": True}, False),
             (LOAD, {**bad, "collection": kept, "drop": False}, False)]
        )
        with_drop.assert_clean_failure(f"create collection {dropped}")
        assert with_drop.result["created"] is True and with_drop.result["dropped"] is True
        assert not client.has_collection(dropped)
        without.assert_clean_failure(f"create collection {kept}")
        assert without.result["created"] is True and without.result["dropped"] is False
        assert client.has_collection(kept)  # drop: false keeps it, and says it created it
    finally:
        for name in (dropped, kept):
            if client.has_collection(name):
                client.drop_collection(name)
