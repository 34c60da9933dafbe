"""milvus_cluster_info through Ansible against the real standalone."""

from __future__ import annotations

from collections import Counter

from tests.integration.conftest import BALANCED, UNLOADED, run_module, run_tasks

INFO = "milvus_cluster_info"


def test_reports_what_the_server_reports(conn, client, seeded):
    run = run_module(INFO, conn)
    assert run.rc == 0 and not run.failed, run.result
    res = run.result
    assert res["changed"] is False
    assert res["version"] == "2.3.5" and res["server"]["connected_to"] == conn["uri"].split("//")[1]

    query_nodes = [n for n in res["nodes"] if n["role"] == "querynode"]
    assert len(query_nodes) == 1
    qn = {"id": query_nodes[0]["id"], "address": query_nodes[0]["address"]}
    assert qn["address"].rsplit(":", 1)[1].isdigit()
    assert {n["role"] for n in res["nodes"]} >= {"rootcoord", "querycoord", "datacoord", "proxy", "querynode"}

    collections = {c["name"]: c for c in res["collections"]}
    bal = collections[BALANCED]
    # per-node rows equal list_loaded_segments' sums, and the collection's own row count
    sums = Counter()
    for seg in client.loaded_segments(BALANCED):
        for node in seg["node_ids"]:
            sums[node] += seg["num_rows"]
    assert {d["id"]: d["rows"] for d in bal["distribution"]} == dict(sums) == {qn["id"]: 3500}
    assert bal["rows"] == client.row_count(BALANCED) == 3500
    assert bal["segments"] == {"sealed": 4, "growing": 0, "rows": 3500}
    assert bal["load_state"] == "Loaded" and bal["loaded"] is True and bal["replica_number"] == 1
    assert bal["replicas"][0]["nodes"] == [qn]
    assert bal["replicas"][0]["shards"][0]["leader"] == qn
    assert bal["balance"]["balanced"] is True and bal["balance"]["cv"] == 0.0
    assert bal["balance"]["max_node"] == qn

    unloaded = collections[UNLOADED]
    assert unloaded["load_state"] == "NotLoad" and unloaded["distribution"] == [] and unloaded["rows"] == 200

    node = next(d for d in res["distribution"] if d["id"] == qn["id"])
    assert node["address"] == qn["address"] and node["rows"] >= 3500 and node["collections"] >= 1
    assert res["empty_nodes"] == [] and res["balanced"] is True and res["unbalanced_collections"] == []


def test_check_mode_subsets_and_failover(conn, milvus_server, dead_port, seeded):
    failover = {k: v for k, v in conn.items() if k != "uri"}
    failover.update(hosts=[f"127.0.0.1:{dead_port}", milvus_server.address], filter=["version"])
    check, only, without, fallback = run_tasks(
        [
            (INFO, {**conn, "collections": [BALANCED]}, True),
            (INFO, {**conn, "filter": ["version"]}, False),
            (INFO, {**conn, "filter": ["!collections", "!distribution", "!balance"]}, False),
            (INFO, failover, False),
        ]
    )
    # check mode: the same answer, nothing changed
    assert check.rc == 0 and check.result["changed"] is False
    assert check.result["collections"][0]["segments"]["rows"] == 3500
    # subsets
    assert {"version", "server"} <= set(only.result)
    assert not {"nodes", "collections", "balance"} & set(only.result)
    assert {"version", "nodes", "query_nodes"} <= set(without.result)
    assert not {"collections", "distribution", "balance"} & set(without.result)
    # one dead proxy is not an outage
    assert fallback.rc == 0, fallback.result
    assert fallback.result["server"]["connected_to"] == milvus_server.address


def test_failures_are_one_line(conn, dead_port, seeded):
    unreachable, wrong_password, unknown, bad_filter = run_tasks(
        [
            (INFO, {**conn, "uri": f"http://127.0.0.1:{dead_port}", "timeout": 3}, False),
            (INFO, {**conn, "password": "definitely-wrong"}, False),
            (INFO, {**conn, "collections": ["nope"]}, False),
            (INFO, {**conn, "filter": ["segmentz"]}, False),
        ]
    )
    unreachable.assert_clean_failure("no Milvus proxy reachable", f"127.0.0.1:{dead_port}")
    wrong_password.assert_clean_failure("authentication failed")
    assert "definitely-wrong" not in wrong_password.stdout  # never logged
    unknown.assert_clean_failure("collection nope does not exist")
    bad_filter.assert_clean_failure("unknown filter item")


def test_empty_hosts_fail_instead_of_trying_localhost(conn, seeded):
    """hosts: [] or [""] (an inventory group that came out empty) is refused in one line."""
    base = {k: v for k, v in conn.items() if k != "uri"}
    none, blank = run_tasks([(INFO, {**base, "hosts": []}, False), (INFO, {**base, "hosts": [""]}, False)])
    none.assert_clean_failure("hosts is empty")
    blank.assert_clean_failure("hosts has an empty entry (item 1 of 1)")
    for run in (none, blank):
        assert "localhost:19530" not in run.result["msg"]


def test_count_rows_reports_what_searches_see_not_what_was_persisted(conn, client):
    """scale_in.yml's "no row lost" check (issue #12, item 11) compares served rows: count(*) at
    Strong consistency. Deleted rows still count in the persisted number until a compaction."""
    from tests.milvus_data import fresh_collection, index_and_load

    name = "it_count_rows"
    mc = client.client
    try:
        fresh_collection(mc, name, 8)
        mc.insert(name, [{"id": i, "vector": [float(i % 7)] * 8} for i in range(1000)])
        mc.flush(name)
        mc.delete(name, ids=list(range(100)))  # by key: a filter would need the collection loaded
        mc.flush(name)
        index_and_load(mc, name, "vector", "FLAT", {})
        counted, plain = run_tasks(
            [
                (INFO, {**conn, "collections": [name], "filter": ["collections"], "count_rows": True}, False),
                (INFO, {**conn, "collections": [name], "filter": ["collections"]}, False),
            ]
        )
        assert counted.rc == 0 and plain.rc == 0, (counted.result, plain.result)
        (entry,) = counted.result["collections"]
        assert entry["served_rows"] == 900 and entry["rows"] == 1000, entry
        (entry,) = plain.result["collections"]
        assert "served_rows" not in entry and entry["rows"] == 1000, entry
    finally:
        if mc.has_collection(name):
            mc.drop_collection(name)


def test_search_count_searches_every_loaded_collection_and_names_those_that_fail(conn, client, seeded):
    """The operations playbooks' health gate (playbooks/tasks/cluster_healthy.yml) in one call:
    each loaded collection answers search_count searches, whole; an unloaded one is not searched;
    a collection smaller than top_k answers every row it serves."""
    from tests.milvus_data import fresh_collection, index_and_load

    name = "it_search_small"
    mc = client.client
    try:
        fresh_collection(mc, name, 8)
        mc.insert(name, [{"id": i, "vector": [float(i)] * 8} for i in range(6)])
        mc.flush(name)
        mc.delete(name, ids=[0, 1])
        mc.flush(name)
        index_and_load(mc, name, "vector", "FLAT", {})
        searched, bad = run_tasks(
            [
                (INFO, {**conn, "collections": [BALANCED, UNLOADED, name], "filter": ["collections"],
                        "search_count": 3}, False),
                (INFO, {**conn, "search_count": 101}, False),
            ]
        )
        assert searched.rc == 0 and not searched.failed, searched.result
        by_name = {c["name"]: c for c in searched.result["collections"]}
        assert by_name[BALANCED]["search"] == {"ok": 3, "failed": 0, "vector_field": "vec"}
        assert by_name[name]["search"] == {"ok": 3, "failed": 0, "vector_field": "vector"}
        assert "search" not in by_name[UNLOADED]
        assert searched.result["unsearchable_collections"] == []
        assert bad.failed and bad.result["msg"] == "search_count must be between 0 and 100, got 101"
    finally:
        if mc.has_collection(name):
            mc.drop_collection(name)
