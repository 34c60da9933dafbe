"""Member ids of the quorum services (plugins/filter/members.py): pinned or by position, and
the preflight's refusal of a change under a running quorum."""

from __future__ import annotations

from ansible_collections.vectorops.milvus.plugins.filter.members import (
    cluster_member_ids,
    cluster_member_problems,
)

HOSTS = ["node1", "node2", "node3"]


def test_ids_follow_the_position_unless_pinned():
    assert cluster_member_ids(HOSTS, {}, "kafka_node_id") == {"node1": 1, "node2": 2, "node3": 3}
    pinned = {"node1": {"kafka_node_id": 7}, "node3": {"kafka_node_id": ""}}
    assert cluster_member_ids(HOSTS, pinned, "kafka_node_id") == {"node1": 7, "node2": 2, "node3": 3}


def test_a_reversed_group_is_refused_naming_every_moved_id():
    recorded = {h: {"kafka_node_id": i} for i, h in enumerate(HOSTS, start=1)}
    reversed_ids = cluster_member_ids(HOSTS[::-1], {}, "kafka_node_id")
    (problem,) = cluster_member_problems({"kafka_node_id": reversed_ids}, recorded)
    assert problem == ("kafka_node_id would change (node1 1 -> 3; node3 3 -> 1), which the running quorum "
                       "does not allow (was the group reordered?); pin them in the inventory: "
                       "kafka_node_id: 1 for node1, kafka_node_id: 3 for node3")
    # Pinned as the refusal says, the reversed group is fine.
    pinned = {"node1": {"kafka_node_id": 1}, "node3": {"kafka_node_id": 3}}
    ids = cluster_member_ids(HOSTS[::-1], pinned, "kafka_node_id")
    assert cluster_member_problems({"kafka_node_id": ids}, recorded) == []


def test_new_and_replaced_hosts_have_no_record_and_take_any_free_id():
    ids = {"zookeeper_myid": {"node1": 1, "node2": 2, "node4": 4}}
    recorded = {"node1": {"zookeeper_myid": 1}, "node2": {"zookeeper_myid": "2"}}
    assert cluster_member_problems(ids, recorded) == []


def test_duplicates_and_non_numbers_are_named():
    assert cluster_member_problems({"kafka_node_id": {"node1": 2, "node2": 2, "node3": 3}}, {}) == [
        "kafka_node_id 2 is given to node1 and node2"]
    assert cluster_member_problems({"zookeeper_myid": {"node1": "one", "node2": 0, "node3": 3}}, {}) == [
        "zookeeper_myid must be a whole number from 1: node1 has 'one', node2 has 0"]


def test_records_come_from_each_members_slurp():
    import base64
    import json

    from ansible_collections.vectorops.milvus.plugins.filter.members import cluster_member_records

    def slurped(record):
        return base64.b64encode(json.dumps(record).encode()).decode()

    results = [
        {"__member": "node1", "content": slurped({"kafka_node_id": 1, "etcd_initial_cluster_state": "new"})},
        {"__member": "node2", "failed": False, "msg": "file not found: /opt/vectorops/members.json"},
        {"__member": "node3", "content": base64.b64encode(b"{not json").decode()},
    ]
    assert cluster_member_records(results) == {
        "node1": {"kafka_node_id": 1, "etcd_initial_cluster_state": "new"}, "node2": {}, "node3": {}}
