"""The judgements that keep a playbook from taking away what the cluster cannot spare: the health
gate before a rolling restart or a drill (milvus_gate_problems), and the orphan removal that a
converge refuses (milvus_orphan_refusals). Inputs are answers captured from the sandbox cluster
(tests/unit/fixtures): etcd's endpoint health with one member stopped, Kafka's TopicCommand
with a broker down, milvus_cluster_info's distribution."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml
from ansible_collections.vectorops.milvus.plugins.filter.operations import (
    kafka_partition_problems,
    milvus_gate_problems,
    milvus_orphan_refusals,
)

from plugins.filter.topology import milvus_host_services
from tests.conftest import ROOT

FIXTURES = Path(__file__).parent / "fixtures"
GATE = json.loads((FIXTURES / "gate_answers.json").read_text())
INFO = json.loads((FIXTURES / "cluster_info_sandbox.json").read_text())
TOPO = yaml.safe_load((ROOT / "roles/milvus/vars/main.yml").read_text())["_milvus_topologies"]["2.3"]
PORTS = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())["cluster_milvus_ports"]


def kafka(stdout: str, rc: int = 0, stderr: str = "") -> dict:
    return {"rc": rc, "stdout": stdout, "stderr": stderr}


HEALTHY = {
    "etcd": {"rc": 0, "stdout": GATE["etcd_healthy"], "stderr": ""},
    "kafka": kafka(GATE["kafka_describe_whole"]),
    "collections": {
        "failed": False, "unavailable_collections": [], "unsearchable_collections": [],
        "collections": [{"name": "docs", "search": {"ok": 3, "failed": 0, "vector_field": "vec"}}],
    },
}


def problems(**changes) -> list[str]:
    args = {**copy.deepcopy(HEALTHY), **changes}
    return milvus_gate_problems(args.pop("etcd"), 3, **args)


def test_a_whole_cluster_has_no_problem():
    assert problems() == []


def test_a_stopped_etcd_member_is_named():
    etcd = {"rc": 1, "stdout": GATE["etcd_one_down"], "stderr": GATE["etcd_one_down_stderr"]}
    found = problems(etcd=etcd)
    assert len(found) == 1 and found[0].startswith("etcd: 2 of 3 members healthy (unhealthy: http://"), found


def test_etcd_that_does_not_answer_counts_as_unhealthy():
    found = problems(etcd={"rc": 1, "stdout": "", "stderr": "Error: context deadline exceeded"})
    assert found == ["etcd: 0 of 3 members healthy (Error: context deadline exceeded)"]


def test_under_replicated_and_leaderless_partitions_are_counted():
    # The lines of a describe with a broker down (captured): each has a replica out of the ISR.
    lines = GATE["kafka_under_replicated"].strip().splitlines()
    assert kafka_partition_problems(GATE["kafka_describe_whole"]) == []
    found = kafka_partition_problems(GATE["kafka_under_replicated"])
    assert len(found) == len(lines), found
    assert found[0] == "by-dev-rootcoord-dml_0/0: in sync 2,1 of replicas 1,2,3", found
    whole_but_one = GATE["kafka_describe_whole"] + lines[0] + "\n"
    assert problems(kafka=kafka(whole_but_one)) == [
        "Kafka: 1 partitions not whole (by-dev-rootcoord-dml_0/0: in sync 2,1 of replicas 1,2,3)"]
    # A partition whose leader is gone: the tool prints "none" there.
    leaderless = lines[1].replace("Leader: 2", "Leader: none")
    assert kafka_partition_problems(leaderless) == ["by-dev-rootcoord-dml_1/0: no leader"]
    many = problems(kafka=kafka(GATE["kafka_under_replicated"]))
    assert len(many) == 1 and many[0].startswith(f"Kafka: {len(lines)} partitions not whole (") and \
        many[0].endswith(f"; {len(lines) - 3} more)"), many
    assert problems(kafka=kafka("", rc=1, stderr="x\nTimeoutException: timed out")) == [
        "Kafka: partitions not readable (TimeoutException: timed out)"]
    # A topic's header line names no partition: never counted.
    header = GATE["kafka_describe_whole"].splitlines()[0]
    assert header.startswith("Topic: ") and kafka_partition_problems(header) == []


def test_pulsar_clusters_skip_the_kafka_checks():
    assert problems(kafka={"skipped": True, "changed": False}) == []


def test_unreadable_or_unavailable_collections_and_failed_searches():
    assert problems(collections={"failed": True, "msg": "cannot connect to any of 10.0.0.1:19530"}) == [
        "collections: cannot connect to any of 10.0.0.1:19530"]
    assert problems(collections={"unavailable_collections": ["docs"]}) == ["collections unavailable: docs"]
    # The gate registers with failed_when: false, which turns a failed call's "failed" to false.
    unreachable = {"failed": False, "changed": False, "msg": "proxy 10.0.0.1:19530 is unreachable"}
    assert problems(collections=unreachable) == ["collections: proxy 10.0.0.1:19530 is unreachable"]
    # search_count: each failing collection named with its first failure, in one line.
    searched = {
        "unavailable_collections": [],
        "unsearchable_collections": ["faq", "news"],
        "collections": [
            {"name": "docs", "search": {"ok": 3, "failed": 0, "vector_field": "vec"}},
            {"name": "faq", "search": {"ok": 1, "failed": 2, "vector_field": "vec",
                                       "error": "search returned 0 of 10 hits"}},
            {"name": "news", "search": {"ok": 0, "failed": 3, "error": "no proxy answered"}},
        ],
    }
    assert problems(collections=searched) == [
        "searches fail on faq (search returned 0 of 10 hits), news (no proxy answered)"]
    # An answer that lacks the search keys (a call that failed) is the collections problem alone.
    assert problems(collections={"failed": False, "msg": "timed out"}) == ["collections: timed out"]


def services(querynodes: int, coordinator: int = 1) -> list[dict]:
    placement = {"coordinator": coordinator, "proxy": 1, "querynode": querynodes, "datanode": 0,
                 "indexnode": 1}
    return milvus_host_services(placement, "10.213.0.13", TOPO, PORTS, "mixture")


RUNNING = ["proxy proxy", "querynode-1 querynode", "indexnode-1 indexnode"]


def distribution(segments_on_node3: int) -> list[dict]:
    dist = copy.deepcopy(INFO["distribution"])
    for node in dist:
        if node["address"] == "10.213.0.13:21123":
            node.update(segments=segments_on_node3, rows=1000 * segments_on_node3)
    return dist


def test_nothing_to_refuse_when_nothing_is_removed():
    assert milvus_orphan_refusals(RUNNING, services(1), "10.213.0.13", distribution(4), 1) == []


def test_a_removed_query_node_with_segments_is_refused_by_address():
    found = milvus_orphan_refusals(RUNNING, services(0), "10.213.0.13", distribution(4), 1)
    assert found == ["query node 10 (10.213.0.13:21123), which still holds 4 segments (4000 rows)"]


def test_a_drained_query_node_may_go():
    assert milvus_orphan_refusals(RUNNING, services(0), "10.213.0.13", distribution(0), 1) == []


def test_the_last_coordinators_are_refused():
    running = [*RUNNING, "mixcoord mixcoord"]
    assert milvus_orphan_refusals(running, services(1, coordinator=0), "10.213.0.13", [], 1) == []
    assert milvus_orphan_refusals(running, services(1, coordinator=0), "10.213.0.13", [], 0) == [
        "mixcoord, which would leave the cluster without coordinators"]


def test_root_credential_record_is_milvus_format_and_verifies():
    import bcrypt
    from ansible_collections.vectorops.milvus.plugins.filter.milvus import milvus_credential

    record = json.loads(milvus_credential("sandbox-Root-7d41c9"))
    assert list(record) == ["encrypted_password"]  # the shape rootcoord keeps (read from etcd)
    hashed = record["encrypted_password"].encode()
    assert hashed.startswith(b"$2b$10$")
    assert bcrypt.checkpw(b"sandbox-Root-7d41c9", hashed) and not bcrypt.checkpw(b"Milvus", hashed)
    assert milvus_credential("sandbox-Root-7d41c9") != milvus_credential("sandbox-Root-7d41c9")  # salted
