"""Filters of the operations playbooks and the load tester's outage maths.

The cluster answer is milvus_cluster_info's result captured from the sandbox cluster
(tests/unit/fixtures/cluster_info_sandbox.json: 3 query nodes, 2 data nodes, 2 index nodes on
10.213.0.11-13, and the one proxy that answered: GetMetrics through a proxy lists only itself,
so playbooks/health.yml replaces the proxies with those that accept connections, as here).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vectorops.milvus.plugins.filter.operations import (
    FilterModule,
    milvus_coordinator_handover,
    milvus_distribution_row,
    milvus_health_alerts,
    milvus_session_nodes,
    milvus_surplus_nodes,
    milvus_unhealthy,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._loadtest import merge_outages

CAPTURED = json.loads((Path(__file__).parent / "fixtures" / "cluster_info_sandbox.json").read_text())
IPS = {"node1": "10.213.0.11", "node2": "10.213.0.12", "node3": "10.213.0.13"}
INFO = dict(
    CAPTURED,
    nodes=[n for n in CAPTURED["nodes"] if n["role"] != "proxy"]
    + [{"role": "proxy", "address": f"{ip}:19530"} for ip in IPS.values()],
)
PLACEMENT = {
    "proxy": ["node1", "node2", "node3"],
    "querynode": ["node1", "node2", "node3"],
    "datanode": ["node1", "node2"],
    "indexnode": ["node2", "node3"],
}
EXPECTED = [
    {"role": role, "host": h, "ip": IPS[h], "count": 1} for role, hosts in PLACEMENT.items() for h in hosts
]
LIMITS = {"nodes_down": 1, "imbalance": 0.3, "p99_ms": 500, "min_rows_per_sec": 5000, "max_error_rate": 0.0}


def without(info, role, ip):
    out = copy.deepcopy(info)
    out["nodes"] = [n for n in out["nodes"] if not (n["role"] == role and n["address"].startswith(ip + ":"))]
    return out


def test_registered():
    assert set(FilterModule().filters()) == {
        "milvus_health_alerts",
        "milvus_surplus_nodes",
        "milvus_distribution_row",
        "milvus_session_nodes",
        "milvus_coordinator_handover",
        "milvus_gate_problems",
        "kafka_partition_problems",
        "pulsar_member_problems",
        "milvus_orphan_refusals",
        "milvus_proxy_addresses",
        "milvus_expected_processes",
        "milvus_retired_processes",
        "milvus_rebalance_lines",
        "milvus_loadtest_line",
        "milvus_probe_failures",
        "milvus_drill_collections",
        "milvus_querynode_hold",
        "milvus_unhealthy",
    }


def test_session_nodes_from_captured_etcd_output():
    # `etcdctl get --prefix by-dev/meta/session/` on the sandbox cluster: the election keys
    # (".../session/querycoord") are skipped, every process session is kept.
    lines = (Path(__file__).parent / "fixtures" / "etcd_sessions_sandbox.txt").read_text().splitlines()
    nodes = milvus_session_nodes(lines)
    roles = Counter(n["role"] for n in nodes)
    coordinators = {"rootcoord": 2, "querycoord": 2, "datacoord": 2, "indexcoord": 2}
    assert roles == dict(coordinators, proxy=3, querynode=3, datanode=2, indexnode=2)
    assert {n["address"].split(":")[0] for n in nodes if n["role"] == "querynode"} == set(IPS.values())
    # Each with its lease as `etcdctl lease revoke` takes it (hex of the unsigned id).
    key = next(x for x in lines if x.endswith(f"/{nodes[0]['role']}-{nodes[0]['id']}"))
    first = json.loads(lines[lines.index(key) + 1])
    assert nodes[0]["lease"] == format(first["LeaseID"] & 0xFFFFFFFFFFFFFFFF, "x")
    assert all(n["lease"] and int(n["lease"], 16) > 0 for n in nodes)
    # Sessions count once even when GetMetrics lists the same process too.
    both = dict(INFO, nodes=INFO["nodes"] + nodes)
    assert milvus_health_alerts(both, EXPECTED, LIMITS) == []


def test_coordinator_handover_from_captured_etcd_output():
    # Captured on the sandbox after a coordinator restart: mixcoord 29 (node1) holds the
    # rootcoord, datacoord and indexcoord election keys, mixcoord 30 (node2) querycoord's.
    lines = (Path(__file__).parent / "fixtures" / "etcd_sessions_split_active.txt").read_text().splitlines()
    node1 = milvus_coordinator_handover(lines, IPS["node1"])
    assert node1["active_here"] == ["datacoord", "indexcoord", "rootcoord"]
    assert node1["no_standby"] == []
    node2 = milvus_coordinator_handover(lines, IPS["node2"])
    assert node2["active_here"] == ["querycoord"] and node2["no_standby"] == []
    # Each session has its own lease; every coordinator session of the host is revoked, and
    # the ids are etcdctl's hex form of the decimal LeaseID.
    assert len(node1["leases"]) == 4 and not set(node1["leases"]) & set(node2["leases"])
    assert all(int(x, 16) > 0 for x in node1["leases"])
    assert "5239553474993712256" not in node1["leases"]
    assert format(5239553474993712256, "x") in node1["leases"]  # node1's datacoord session
    # A host without coordinators has nothing to hand over.
    assert node1["servers"] == [29] and node2["servers"] == [30]
    assert node1["active"] == {"rootcoord": 29, "datacoord": 29, "indexcoord": 29, "querycoord": 30}
    # After node1's revocation: pending until another server holds each key node1 held.
    assert milvus_coordinator_handover(lines, IPS["node1"], node1)["pending"] == node1["active_here"]
    moved = [line.replace('"ServerID":29', '"ServerID":31') for line in lines]
    assert milvus_coordinator_handover(moved, IPS["node1"], node1)["pending"] == []
    pairs = zip(lines[::2], lines[1::2], strict=False)
    vacant = [x for k, v in pairs if not k.endswith("/rootcoord") for x in (k, v)]
    assert "rootcoord" in milvus_coordinator_handover(vacant, IPS["node2"], node1)["pending"]
    node3 = milvus_coordinator_handover(lines, IPS["node3"])
    assert (node3["active_here"], node3["no_standby"], node3["leases"], node3["servers"]) == ([], [], [], [])


def test_coordinator_handover_of_one_separate_coordinator_process():
    # Separate coordinator processes: restarting node1's rootcoord revokes only its session and
    # leaves node1's datacoord and indexcoord (other processes) registered and active.
    lines = (Path(__file__).parent / "fixtures" / "etcd_sessions_split_active.txt").read_text().splitlines()
    every = milvus_coordinator_handover(lines, IPS["node1"])
    root = milvus_coordinator_handover(lines, IPS["node1"], roles=["rootcoord"])
    assert root["active_here"] == ["rootcoord"] and root["no_standby"] == []
    assert len(root["leases"]) == 1 and set(root["leases"]) < set(every["leases"])
    query = milvus_coordinator_handover(lines, IPS["node1"], roles=["querycoord"])
    assert query["active_here"] == [] and len(query["leases"]) == 1  # node1's querycoord is a standby
    assert milvus_coordinator_handover(lines, IPS["node1"], roles=[]) == every  # empty: every role


def test_coordinator_handover_without_a_standby():
    # The only coordinator host: nothing can take over, which the playbook must not pretend.
    lines = (Path(__file__).parent / "fixtures" / "etcd_sessions_split_active.txt").read_text().splitlines()
    only_node1 = []
    for key, value in zip(lines[::2], lines[1::2], strict=False):
        if "coord" in key and IPS["node2"] in value:
            continue
        only_node1 += [key, value]
    handover = milvus_coordinator_handover(only_node1, IPS["node1"])
    assert handover["active_here"] == ["datacoord", "indexcoord", "rootcoord"]
    assert handover["no_standby"] == handover["active_here"]


def test_captured_cluster_matches_the_inventory_so_no_alert():
    assert milvus_health_alerts(INFO, EXPECTED, LIMITS) == []


def test_getmetrics_alone_sees_one_proxy():
    alerts = milvus_health_alerts(CAPTURED, EXPECTED, LIMITS)
    assert [a["name"] for a in alerts] == ["proxy_down"] and alerts[0]["value"] == 2


def test_a_stopped_query_node_is_named_by_its_host():
    alerts = milvus_health_alerts(without(INFO, "querynode", IPS["node3"]), EXPECTED, LIMITS)
    assert [a["name"] for a in alerts] == ["querynode_down"]
    assert alerts[0]["value"] == 1
    assert "node3 (10.213.0.13) 0/1 registered" in alerts[0]["message"]


def test_nodes_down_threshold_counts_processes_per_role():
    info = without(without(INFO, "querynode", IPS["node3"]), "proxy", IPS["node2"])
    assert {a["name"] for a in milvus_health_alerts(info, EXPECTED, dict(LIMITS, nodes_down=2))} == set()
    names = {a["name"] for a in milvus_health_alerts(info, EXPECTED, LIMITS)}
    assert names == {"querynode_down", "proxy_down"}


def test_imbalance_uses_the_coefficient_of_variation():
    info = copy.deepcopy(INFO)
    info["balance"] = {"count": 3, "total": 300, "cv": 0.35, "min": 50, "max": 150}
    alerts = milvus_health_alerts(info, EXPECTED, LIMITS)
    assert [a["name"] for a in alerts] == ["imbalance"]
    info["balance"]["cv"] = 0.3  # at the limit: not above it
    assert milvus_health_alerts(info, EXPECTED, LIMITS) == []
    info["balance"] = {"count": 3, "total": 0, "cv": 0.0}  # nothing loaded: nothing to judge
    assert milvus_health_alerts(info, EXPECTED, LIMITS) == []


@pytest.mark.parametrize(
    ("probes", "names"),
    [
        ({"search": {"latency_ms": {"p99": 120.0}, "error_rate": 0.0}}, []),
        ({"search": {"latency_ms": {"p99": 501.0}, "error_rate": 0.0}}, ["search_p99"]),
        (
            {"search": {"latency_ms": {"p99": 20.0}, "error_rate": 0.01, "errors": 1, "requests": 100}},
            ["search_errors"],
        ),
        ({"insert": {"rows_per_sec": 4999.9, "error_rate": 0.0}}, ["insert_throughput"]),
        ({"insert": {"rows_per_sec": 5000.0, "error_rate": 0.0}}, []),
    ],
)
def test_probe_thresholds(probes, names):
    assert [a["name"] for a in milvus_health_alerts(INFO, EXPECTED, LIMITS, probes)] == names


def test_a_collection_milvus_cannot_serve_is_an_alert():
    error = "replicas of docs: no available nodes in replica"
    info = dict(INFO, collections=[{"name": "docs", "error": error}])
    alerts = milvus_health_alerts(info, EXPECTED, LIMITS)
    assert [a["name"] for a in alerts] == ["collection_unavailable"]
    assert "docs: replicas of docs: no available nodes" in alerts[0]["message"]


def test_node_reporting_an_error():
    info = copy.deepcopy(INFO)
    info["nodes"][0]["has_error"] = True
    info["nodes"][0]["error_reason"] = "disk full"
    alerts = milvus_health_alerts(info, EXPECTED, LIMITS)
    assert [a["name"] for a in alerts] == ["node_error"]
    assert "disk full" in alerts[0]["message"]


def test_surplus_nodes_follow_the_inventory():
    nodes = INFO["nodes"]
    assert milvus_surplus_nodes(nodes, EXPECTED, "querynode") == []
    scaled_in = [e for e in EXPECTED if not (e["role"] == "querynode" and e["host"] == "node3")]
    surplus = milvus_surplus_nodes(nodes, scaled_in, "querynode")
    assert [s["address"].split(":")[0] for s in surplus] == ["10.213.0.13"]
    assert [s["host"] for s in surplus] == ["node3"]  # still placed there in other roles


def test_every_query_node_of_a_host_to_retire_is_surplus_and_named_with_it():
    from ansible_collections.vectorops.milvus.plugins.filter.operations import milvus_retired_processes

    # node4 (10.213.0.14) joined with a query node, then left every group: a registered query
    # node at its address, which the inventory places nowhere.
    nodes = [*INFO["nodes"], {"role": "querynode", "id": 31, "address": "10.213.0.14:21123"}]
    hostvars = {"node4": {"cluster_host_ip": "10.213.0.14"}, "node5": {}}
    retired = milvus_retired_processes(["node4", "node5"], hostvars)
    assert retired == [{"role": "retired", "host": "node4", "ip": "10.213.0.14", "count": 0}]
    surplus = milvus_surplus_nodes(nodes, EXPECTED + retired, "querynode")
    assert surplus == [{"id": 31, "address": "10.213.0.14:21123", "host": "node4"}]
    # Without the entries the node is still surplus, but with no host to stop it on.
    assert milvus_surplus_nodes(nodes, EXPECTED, "querynode")[0]["host"] is None


def test_surplus_takes_the_highest_ports_of_a_host_that_keeps_some():
    nodes = [
        {"role": "querynode", "id": 7, "address": "10.0.0.1:21133"},
        {"role": "querynode", "id": 3, "address": "10.0.0.1:21123"},
        {"role": "querynode", "id": 9, "address": "10.0.0.1:21143"},
    ]
    expected = [{"role": "querynode", "host": "a", "ip": "10.0.0.1", "count": 1}]
    assert [n["id"] for n in milvus_surplus_nodes(nodes, expected, "querynode")] == [7, 9]
    assert {n["host"] for n in milvus_surplus_nodes(nodes, expected, "querynode")} == {"a"}


def test_distribution_row():
    row = milvus_distribution_row({"id": 12, "address": "10.0.0.1:21123", "segments": 4, "rows": 50000})
    assert row.split() == ["querynode", "12", "10.0.0.1:21123", "segments", "4", "rows", "50000"]


def test_outages_merge_across_threads():
    spans = [[10.0, 14.0, 3, 1], [11.0, 15.5, 5, 1], [30.0, 31.0, 1, 1], [40.0, 45.0, 2, 0]]
    out = merge_outages(spans, 5.0)
    assert out == [
        {"start_s": 5.0, "seconds": 5.5, "failures": 8, "recovered": True},
        {"start_s": 25.0, "seconds": 1.0, "failures": 1, "recovered": True},
        {"start_s": 35.0, "seconds": 5.0, "failures": 2, "recovered": False},
    ]
    assert merge_outages([], 0.0) == []


def test_proxy_addresses_and_expected_processes_follow_the_inventory():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.vectorops.milvus.plugins.filter.operations import (
        milvus_expected_processes,
        milvus_proxy_addresses,
    )

    hostvars = {"node1": {"cluster_host_ip": "10.0.0.11", "milvus_querynode_count": 2},
                "node2": {"ansible_host": "10.0.0.12", "milvus_ops_proxy_port": 29530},
                "node3": {"cluster_host_ip": "", "milvus_querynode_count": "0"}}
    assert milvus_proxy_addresses(["node1", "node2", "node3"], hostvars, 19530) == [
        "10.0.0.11:19530", "10.0.0.12:29530", "node3:19530"]
    roles = {"proxy": {"group": "milvus_proxy", "count_var": ""},
             "querynode": {"group": "milvus_querynode", "count_var": "milvus_querynode_count"}}
    groups = {"milvus_proxy": ["node2"], "milvus_querynode": ["node1", "node3"]}
    assert milvus_expected_processes(roles, groups, hostvars) == [
        {"role": "proxy", "host": "node2", "ip": "10.0.0.12", "count": 1},
        {"role": "querynode", "host": "node1", "ip": "10.0.0.11", "count": 2},
        {"role": "querynode", "host": "node3", "ip": "node3", "count": 0}]
    hostvars["node2"]["milvus_ops_proxy_port"] = "nope"
    with pytest.raises(AnsibleFilterError, match="milvus_ops_proxy_port of node2 must be a port number"):
        milvus_proxy_addresses(["node2"], hostvars)


def test_rebalance_lines_say_each_verdict():
    from ansible_collections.vectorops.milvus.plugins.filter.operations import milvus_rebalance_lines

    summary = [{"collection": "a", "replica_id": 1, "cv_before": 1.0, "cv_after": 0.0, "balanced": True,
                "best_possible": True},
               {"collection": "b", "replica_id": 2, "cv_before": 1.4142, "cv_after": 0.7071,
                "balanced": False, "best_possible": True},
               {"collection": "c", "replica_id": 3, "cv_before": 0.9, "cv_after": 0.5, "balanced": False,
                "best_possible": False}]
    assert milvus_rebalance_lines(summary, 0.2) == [
        "a (replica 1): cv 1.0 before, 0.0 after; balanced (tolerance 0.2)",
        "b (replica 2): cv 1.4142 before, 0.7071 after; above the tolerance 0.2, but the best that segment "
        "granularity allows (too few or too uneven segments for the query nodes)",
        "c (replica 3): cv 0.9 before, 0.5 after; not balanced yet (max_moves reached, or the distribution "
        "changed meanwhile): run again"]
    assert milvus_rebalance_lines([], 0.2) == []


def test_loadtest_line():
    from ansible_collections.vectorops.milvus.plugins.filter.operations import milvus_loadtest_line

    result = {"search": {"ok": 1000, "errors": 0, "duration_s": 2.1, "qps": 476.2, "rows_per_sec": 0,
                         "latency_ms": {"p50": 18.2, "p99": 40.1}}}
    assert milvus_loadtest_line(result, ["search"]) == (
        "search: 1000 ok, 0 errors in 2.1 s, 476.2 req/s, 0 rows/s, p50 18.2 ms, p99 40.1 ms.")


def test_probe_failures_name_each_probe_that_gave_no_figures():
    from ansible_collections.vectorops.milvus.plugins.filter.operations import milvus_probe_failures

    ran = {"search": {"ok": 3, "errors": 0}, "changed": False}
    assert milvus_probe_failures(ran, {"skipped": True}) == []
    failed = {"failed": True, "msg": "collection vectorops_health_probe: Local: Unknown partition"}
    assert milvus_probe_failures(ran, failed) == [
        {"name": "insert_probe_failed", "value": 1, "limit": 0,
         "message": "insert probe failed: collection vectorops_health_probe: Local: Unknown partition"}]
    alerts = milvus_probe_failures({}, {"skipped": True})
    assert [a["message"] for a in alerts] == ["search probe failed: no answer"]


def test_drill_collections_take_the_figures_from_the_kill_on():
    from ansible_collections.vectorops.milvus.plugins.filter.operations import milvus_drill_collections

    def info(rows):
        return {"collections": [
            {"name": "one", "replica_number": 1, "served_rows": rows,
             "distribution": [{"address": "10.0.0.13:21123", "rows": 300},
                              {"address": "10.0.0.11:21123", "rows": 700},
                              {"address": "10.0.0.131:21123", "rows": 5}]},
            {"name": "two", "replica_number": 2, "served_rows": rows}]}

    probes = {"results": [
        {"item": {"item": "one", "ansible_job_id": "j1"},
         "search": {"started_at": 1000.0, "ok": 90, "errors": 12, "resent": 3, "longest_outage_s": 4.5,
                    "outages": [{"start_s": 12.0, "seconds": 4.5}, {"start_s": 20.0, "seconds": 1.0}]}},
        {"item": {"item": "two", "ansible_job_id": "j2"}, "msg": "probe timed out"}]}
    one, two = milvus_drill_collections(probes, info(1000), info(1000), "1010.5", "10.0.0.13")
    assert one == {"name": "one", "replica_number": 1, "rows_on_host": 300, "rows_before": 1000,
                   "rows_after": 1000, "searches_ok": 90, "searches_failed": 12, "resent": 3,
                   "probe_lead_s": 10.5,
                   "failed_search_window_s": 10.5, "longest_outage_s": 4.5,
                   "outages": probes["results"][0]["search"]["outages"], "probe_error": ""}
    assert two["failed_search_window_s"] == 0.0 and two["probe_lead_s"] == 0.0 and two["rows_on_host"] == 0
    assert two["probe_error"] == "probe timed out" and two["replica_number"] == 2


def _replica(*nodes, leaders=()):
    return {"nodes": [{"id": n, "address": a} for n, a in nodes],
            "shards": [{"channel": f"ch{i}", "leader": {"id": n, "address": a}}
                       for i, (n, a) in enumerate(leaders)]}


def test_querynode_hold_counts_what_other_hosts_can_take_and_names_lone_replicas():
    from ansible_collections.vectorops.milvus.plugins.filter.operations import milvus_querynode_hold

    one, two, three = (13, "10.0.0.11:21123"), (14, "10.0.0.12:21123"), (15, "10.0.0.13:21123")
    collections = [
        # 1 replica over three nodes: node 13's 2 segments and its shard leadership can move
        {"name": "data", "replicas": [_replica(one, two, three, leaders=[one, two])],
         "distribution": [{"id": 13, "segments": 2}, {"id": 14, "segments": 3}, {"id": 15, "segments": 1}]},
        # 2 replicas over three nodes: node 13 is a replica alone
        {"name": "replicated",
         "replicas": [_replica(one, leaders=[one, one]), _replica(two, three, leaders=[two, three])],
         "distribution": [{"id": 13, "segments": 4}, {"id": 14, "segments": 2}, {"id": 15, "segments": 2}]},
    ]
    assert milvus_querynode_hold(collections, "10.0.0.11") == {"movable": 3, "alone_in": ["replicated"]}
    assert milvus_querynode_hold(collections, "10.0.0.12") == {"movable": 4 + 3, "alone_in": []}
    # once handed over: nothing movable left, the lone replica still named
    collections[0]["distribution"][0]["segments"] = 0
    collections[0]["replicas"][0]["shards"][0]["leader"] = {"id": 14, "address": "10.0.0.12:21123"}
    assert milvus_querynode_hold(collections, "10.0.0.11") == {"movable": 0, "alone_in": ["replicated"]}
    assert milvus_querynode_hold([], "10.0.0.11") == {"movable": 0, "alone_in": []}


# ------------------------------------------------------------------ milvus_unhealthy

_WAITED = [
    {"name": "rootcoord-1", "healthz": "http://127.0.0.1:9100/healthz"},
    {"name": "querycoord-1", "healthz": "http://127.0.0.1:9180/healthz"},
    {"name": "datacoord-1", "healthz": "http://127.0.0.1:9130/healthz"},
]


def test_unhealthy_names_the_processes_wait_healthz_left():
    # wait_healthz.py's line when querycoord stayed in its first state (CI of 2026-12-05)
    wait = {"rc": 1, "stderr": "", "stdout": json.dumps({
        "healthy": 2, "polls": 101,
        "unhealthy": {"http://127.0.0.1:9180/healthz": "500 component querycoord state is Abnormal"}})}
    assert milvus_unhealthy(wait, _WAITED) == [_WAITED[1]]
    assert milvus_unhealthy(wait, _WAITED, describe=True) == (
        "querycoord-1 answered 500 component querycoord state is Abnormal")


def test_unhealthy_keeps_the_services_order():
    wait = {"rc": 1, "stdout": json.dumps({"unhealthy": {
        "http://127.0.0.1:9130/healthz": "0 [Errno 111] Connection refused",
        "http://127.0.0.1:9100/healthz": "500 component rootcoord state is Initializing"}})}
    assert [s["name"] for s in milvus_unhealthy(wait, _WAITED)] == ["rootcoord-1", "datacoord-1"]


def test_unhealthy_without_an_answer_names_nothing_and_says_the_error():
    # the module itself failed on the host: nothing to restart, its error in one line
    wait = {"msg": "Module result deserialization failed:\nNo start of json char found", "failed": True}
    assert milvus_unhealthy(wait, _WAITED) == []
    assert milvus_unhealthy(wait, _WAITED, describe=True) == (
        "Module result deserialization failed: No start of json char found")
    assert milvus_unhealthy({"rc": 1, "stdout": "{not json", "stderr": ""}, _WAITED) == []


def test_unhealthy_refuses_what_is_not_a_result():
    with pytest.raises(AnsibleFilterError, match="registered command result"):
        milvus_unhealthy("oops", _WAITED)
