"""Replacing a host that came back empty (plugins/filter/replace.py), from answers captured on the
sandbox: the whole cluster, node3 lost with its disks, and node3's member added back but not yet
started (tests/unit/fixtures/replace_answers.json)."""

from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vectorops.milvus.plugins.filter.replace import (
    kafka_quorum_replication,
    kafka_voters_caught_up,
    replace_host_plan,
)

from tests.unit.conftest import captured

ANS = captured("replace_answers.json")
ETCD = ["node1", "node2", "node3"]
ADDR = {"node1": "10.213.0.11", "node2": "10.213.0.12", "node3": "10.213.0.13"}
VOTERS = [1, 2, 3]


def plan(host: str, health: str, members: str | None, *, kafka: str = "kafka_replication_lost", **kw):
    args = dict(etcd_hosts=ETCD, etcd_health=ANS[health], etcd_members=ANS[members] if members else None,
                address=ADDR[host], peer_url=f"http://{ADDR[host]}:2380", kafka_hosts=ETCD,
                kafka_node_id=int(host[-1]), kafka_replication=kafka_quorum_replication(ANS[kafka]))
    args.update(kw)
    return replace_host_plan(host, **args)


def test_the_replication_table_is_read_by_its_header():
    rows = kafka_quorum_replication(ANS["kafka_replication_lost"])
    assert [(r["node_id"], r["status"]) for r in rows] == [(2, "Leader"), (1, "Follower"), (3, "Follower")]
    assert [r["lag"] for r in rows] == [0, 0, 134]
    assert kafka_quorum_replication("") == []
    assert kafka_quorum_replication("Error: no leader") == []


def test_a_voter_is_caught_up_only_with_lag_0():
    lost = kafka_quorum_replication(ANS["kafka_replication_lost"])
    assert kafka_voters_caught_up(lost, VOTERS) == ["voter 3 lags 134 records behind the leader"]
    assert kafka_voters_caught_up(lost, VOTERS, skip=3) == []
    assert kafka_voters_caught_up(kafka_quorum_replication(ANS["kafka_replication_whole"]), VOTERS) == []
    assert kafka_voters_caught_up([], VOTERS, skip=3) == ["voter 1 is not in the quorum's table",
                                                          "voter 2 is not in the quorum's table"]


def test_the_lost_host_is_removed_and_added_again():
    got = plan("node3", "etcd_health_lost", "etcd_members_lost")
    assert got == {"problems": [], "quorum_lost": False, "etcd_remove": format(14614906355634587830, "x"),
                   "etcd_add": True}


def test_a_rerun_after_the_member_add_leaves_the_unstarted_member():
    got = plan("node3", "etcd_health_lost", "etcd_members_added")
    assert got == {"problems": [], "quorum_lost": False, "etcd_remove": "", "etcd_add": False}


def test_a_host_that_still_runs_is_refused_unless_forced():
    running = ["vectorops-etcd-etcd-1", "vectorops-kafka-kafka-1", "vectorops-milvus-proxy-1-1",
               "vectorops-milvus-querynode-1-1", "vectorops-milvus-datanode-1-1"]
    got = plan("node2", "etcd_health_whole", "etcd_members_whole", kafka="kafka_replication_whole",
               running=running)
    assert got["problems"] == [
        "node2 still runs 5 cluster container(s) (vectorops-etcd-etcd-1, vectorops-kafka-kafka-1, "
        "vectorops-milvus-datanode-1-1, vectorops-milvus-proxy-1-1, ...): it is not an empty host; stop them "
        "first, or set replace_host_force=true to wipe its etcd and Kafka data and rejoin it"]
    forced = plan("node2", "etcd_health_whole", "etcd_members_whole", kafka="kafka_replication_whole",
                  running=running, force=True)
    assert forced["problems"] == [] and forced["etcd_remove"] == format(1735506865048430160, "x")


def test_a_table_that_names_the_empty_host_leader_is_not_trusted():
    got = plan("node2", "etcd_health_whole", "etcd_members_whole", kafka="kafka_replication_whole")
    assert got["quorum_lost"] and got["problems"] == [
        "Kafka: the KRaft quorum still names node2 (node.id 2) its leader"]


def test_survivors_without_quorum_point_to_the_restore():
    # node3 lost, and node1 is asked to be replaced: only node2 would be left of etcd.
    got = plan("node1", "etcd_health_lost", "etcd_members_lost", kafka_reached=False)
    assert got["quorum_lost"] is True
    assert got["problems"][:2] == ["etcd: 1 of the other 2 members are healthy, a quorum needs 2",
                                   "Kafka: no surviving broker answered for the KRaft quorum"]
    nobody = plan("node3", "etcd_health_lost", None)
    assert nobody["quorum_lost"] is False or nobody["problems"]
    silent = plan("node3", "etcd_health_lost", None, etcd_health=[])
    assert silent["quorum_lost"] and silent["problems"][0].startswith("etcd: 0 of the other 2 members")


def test_a_check_that_could_not_run_says_why_instead_of_a_count():
    # The survivor's engine did not run the command: no member was counted, so none is claimed.
    got = plan("node2", "etcd_health_lost", "etcd_members_lost", etcd_health=[], kafka_reached=False,
               etcd_error="on node1: Error response from daemon: container is restarting",
               kafka_error="on node1: rc 1")
    assert got["quorum_lost"] is True
    assert got["problems"][:2] == [
        "etcd: the other members' health could not be read (on node1: Error response from daemon: "
        "container is restarting)",
        "Kafka: no surviving broker answered for the KRaft quorum (on node1: rc 1)"]


def test_a_changed_address_is_refused():
    members = copy.deepcopy(ANS["etcd_members_lost"])
    got = replace_host_plan("node3", etcd_hosts=ETCD, etcd_health=ANS["etcd_health_lost"],
                            etcd_members=members, address="10.213.0.23", peer_url="http://10.213.0.23:2380")
    assert got["problems"] == ["node3's etcd member advertises 10.213.0.13, the inventory says 10.213.0.23: "
                               "replace_host keeps a host's address (give the new machine the old one)"]


def test_a_host_outside_the_quorum_groups_needs_no_member_step():
    got = replace_host_plan("node4", etcd_hosts=ETCD, etcd_health=ANS["etcd_health_whole"],
                            etcd_members=ANS["etcd_members_whole"], address="10.213.0.14",
                            peer_url="http://10.213.0.14:2380")
    assert got == {"problems": [], "quorum_lost": False, "etcd_remove": "", "etcd_add": False}


def test_bad_arguments_are_one_clear_error():
    with pytest.raises(AnsibleFilterError, match="etcd_hosts must be the etcd group's list of hosts"):
        replace_host_plan("node3", etcd_hosts="node1", etcd_health=[], etcd_members=None, address="x",
                          peer_url="y")


def test_collections_wait_until_a_replica_holds_the_new_query_node():
    from ansible_collections.vectorops.milvus.plugins.filter.replace import replace_host_unserved

    # milvus_cluster_info's collections, shaped after the sandbox's answer once node3's new query node (20)
    # registered: rehearse_two's second replica had taken it, rehearse_one's replica not yet.
    collections = [
        {"name": "rehearse_one", "loaded": True, "replicas": [
            {"id": 470891232709050369, "nodes": [{"id": 6, "address": "10.213.0.12:21123"},
                                                 {"id": 3, "address": "10.213.0.11:21123"}]}]},
        {"name": "rehearse_two", "loaded": True, "replicas": [
            {"id": 470891232709050370, "nodes": [{"id": 3, "address": "10.213.0.11:21123"},
                                                 {"id": 6, "address": "10.213.0.12:21123"}]},
            {"id": 470891232709050371, "nodes": [{"id": 20, "address": "10.213.0.13:21123"}]}]},
        {"name": "not_loaded", "loaded": False, "replicas": []},
    ]
    assert replace_host_unserved(collections, [20]) == ["rehearse_one"]
    collections[0]["replicas"][0]["nodes"].append({"id": 20, "address": "10.213.0.13:21123"})
    assert replace_host_unserved(collections, [20]) == []
    assert replace_host_unserved(collections, []) == ["rehearse_one", "rehearse_two"]


def _asked(host: str, rc: int, stdout: str = "", stderr: str = "", **kw):
    return {"item": host, "rc": rc, "stdout": stdout, "stderr": stderr, "stdout_lines": stdout.splitlines(),
            "stderr_lines": stderr.splitlines(), **kw}


def test_the_first_survivor_that_answers_is_taken_in_order():
    from ansible_collections.vectorops.milvus.plugins.filter.replace import survivor_answer

    # node3 came back empty: no docker on it (the survivors' order may put it first).
    empty = _asked("node3", 127, stderr='/bin/sh: 1: docker: not found')
    health = _asked("node1", 1, stdout='[{"endpoint":"http://10.213.0.11:2379","health":true}]',
                    stderr="Error: unhealthy cluster")
    got = survivor_answer([empty, health], "[")
    assert got == {"answered": True, "host": "node1", "stdout": health["stdout"], "error": ""}
    # exit code alone (Kafka's tool): the first with exit 0 and output
    assert survivor_answer([empty, _asked("node2", 0, stdout="NodeId ...")])["host"] == "node2"


def test_no_answer_names_each_host_and_its_reason():
    from ansible_collections.vectorops.milvus.plugins.filter.replace import survivor_answer

    got = survivor_answer([
        _asked("node3", 127, stderr="/bin/sh: 1: docker: not found"),
        _asked("node1", 126, stdout="OCI runtime exec failed: read init-p: connection reset by peer"),
        {"item": "node2", "unreachable": True, "msg": "Failed to connect"},
        {"item": "node4", "skipped": True},
        _asked("node5", 1),
    ], "[")
    assert got["answered"] is False and got["host"] == "" and got["stdout"] == ""
    assert got["error"] == ("asked on node3: /bin/sh: 1: docker: not found; node1: OCI runtime exec failed: "
                            "read init-p: connection reset by peer; node2: unreachable; node5: exit 1")
    assert survivor_answer([], "[")["error"] == "no survivor to ask"


# Retiring a whole host (scale_in.yml, group milvus_retire): the compose project of each running
# container on node1 and node3 of the test cluster, captured with
# `docker ps --format '{{.Label "com.docker.compose.project"}}'` (tests/unit/fixtures).
PLACING = ["etcd", "kafka", "pulsar", "milvus_coord", "milvus_proxy", "milvus_querynode", "milvus_datanode",
           "milvus_indexnode", "endpoint", "monitoring"]
RETIRABLE = ["vectorops-milvus", "vectorops-endpoint", "vectorops-node-exporter"]


def retire(host: str, projects, groups=("milvus_retire",)):
    from ansible_collections.vectorops.milvus.plugins.filter.replace import milvus_retire_refusals

    return milvus_retire_refusals(host, projects, groups=list(groups), placing=PLACING, retirable=RETIRABLE)


def fixture_text(name: str) -> str:
    from tests.unit.conftest import FIXTURES

    return (FIXTURES / name).read_text()


def test_a_host_that_runs_only_stateless_processes_can_be_retired():
    node = [line for line in fixture_text("docker_ps_projects_node1.txt").splitlines()
            if line in RETIRABLE or not line.startswith("vectorops-")]
    assert node and retire("node4", "\n".join(node)) == []
    assert retire("node4", "") == []  # nothing runs any more: a second run changes nothing


def test_a_quorum_member_or_prometheus_is_refused_by_name():
    only = ("(only vectorops-milvus, vectorops-endpoint, vectorops-node-exporter): a quorum host is "
            "replaced, not retired (playbooks/replace_host.yml rebuilds it on a new machine at the same "
            "address)")
    assert retire("node1", fixture_text("docker_ps_projects_node1.txt")) == [
        "node1 runs vectorops-etcd, vectorops-kafka, vectorops-monitoring, which a retirement does not "
        "remove " + only]
    assert retire("node3", fixture_text("docker_ps_projects_node3.txt").splitlines()) == [
        "node3 runs vectorops-etcd, vectorops-kafka, which a retirement does not remove " + only]


def test_a_host_still_placed_is_refused_whatever_it_runs():
    groups = ["milvus_retire", "milvus_proxy", "milvus_querynode", "milvus_cluster"]
    assert retire("node4", "", groups=groups) == [
        "node4 is still in milvus_proxy, milvus_querynode: take it out of every group that places processes "
        "first"]
    # Containers of other projects (not the collection's) are none of its business.
    assert retire("node4", "someone-else\n\n") == []
