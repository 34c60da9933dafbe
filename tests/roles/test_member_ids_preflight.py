"""The member-id guard through ansible-playbook on localhost: the kafka role's record task writes
each host's node.id (idempotent), and the preflight's check (roles/preflight/tasks/members.yml)
refuses a reordered kafka group in one line that names the ids, until they are pinned."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import VENV_BIN, run

HOSTS = ["node1", "node2", "node3"]


def inventory(tmp_path: Path, order: list[str], pins: dict[str, int] | None = None) -> Path:
    """Three local hosts, each with its own cluster_base_dir, in a kafka group of the given order."""
    hosts = {}
    for h in HOSTS:
        hosts[h] = {"ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python"),
                    "cluster_base_dir": str(tmp_path / h)}
        (tmp_path / h).mkdir(exist_ok=True)
        if pins and h in pins:
            hosts[h]["kafka_node_id"] = pins[h]
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": hosts, "children": {"milvus_cluster": {"children": {
        "kafka": {"hosts": {h: None for h in order}}, "etcd": {"hosts": {h: None for h in HOSTS}}}}}}},
        sort_keys=False))
    return inv


def play(tmp_path: Path, inv: Path, tasks_from: str, role: str, extra: dict | None = None):
    book = tmp_path / f"{tasks_from}.yml"
    book.write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False, "vars": extra or {}, "tasks": [
        {"ansible.builtin.include_role": {"name": f"vectorops.milvus.{role}", "tasks_from": tasks_from}}]}]))
    res = run(["ansible-playbook", "-i", str(inv), str(book)], timeout=180)
    assert "Traceback" not in res.stdout + res.stderr
    return res


def record(tmp_path: Path, inv: Path):
    """What the kafka role's last task does on each host, with the role's own node.id rule."""
    return play(tmp_path, inv, "record_members.yml", "cluster", {
        "__members": {"kafka_node_id": "{{ (groups['kafka'] | vectorops.milvus.cluster_member_ids(hostvars, "
                                       "'kafka_node_id'))[inventory_hostname] }}"}})


def test_a_reordered_group_is_refused_until_the_ids_are_pinned(tmp_path):
    inv = inventory(tmp_path, HOSTS)
    first = record(tmp_path, inv)
    assert first.returncode == 0 and "changed=1" in first.stdout, first.stdout
    assert {h: json.loads((tmp_path / h / "members.json").read_text()) for h in HOSTS} == {
        "node1": {"kafka_node_id": 1}, "node2": {"kafka_node_id": 2}, "node3": {"kafka_node_id": 3}}
    again = record(tmp_path, inv)
    assert again.returncode == 0 and "changed=1" not in again.stdout, again.stdout  # idempotent
    assert play(tmp_path, inv, "members.yml", "preflight").returncode == 0

    reordered = inventory(tmp_path, HOSTS[::-1])
    refused = play(tmp_path, reordered, "members.yml", "preflight")
    assert refused.returncode == 2, refused.stdout
    out = " ".join(refused.stdout.split())
    assert ("member ids: kafka_node_id would change (node1 1 -> 3; node3 3 -> 1), which the running quorum "
            "does not allow (was the group reordered?); pin them in the inventory: kafka_node_id: 1 for "
            "node1, kafka_node_id: 3 for node3; nothing was changed") in out, refused.stdout
    assert refused.stdout.count("fatal:") == 1  # one line, from one host

    pinned = inventory(tmp_path, HOSTS[::-1], pins={"node1": 1, "node3": 3})
    assert play(tmp_path, pinned, "members.yml", "preflight").returncode == 0


def test_a_duplicate_id_is_refused(tmp_path):
    inv = inventory(tmp_path, HOSTS, pins={"node1": 2})
    refused = play(tmp_path, inv, "members.yml", "preflight")
    assert refused.returncode == 2
    assert "member ids: kafka_node_id 2 is given to node1 and node2; nothing was changed" in refused.stdout


def test_a_member_that_came_back_empty_is_refused_until_replace_host_records_it(tmp_path):
    inv = inventory(tmp_path, HOSTS)
    # What the etcd role records at its end on each member it bootstrapped.
    assert play(tmp_path, inv, "record_members.yml", "cluster", {
        "__members": {"etcd_initial_cluster_state": "new"}}).returncode == 0
    assert record(tmp_path, inv).returncode == 0
    assert json.loads((tmp_path / "node2" / "members.json").read_text()) == {
        "etcd_initial_cluster_state": "new", "kafka_node_id": 2}
    assert play(tmp_path, inv, "members.yml", "preflight").returncode == 0

    (tmp_path / "node3" / "members.json").unlink()  # node3's disk is gone
    refused = play(tmp_path, inv, "members.yml", "preflight")
    assert refused.returncode == 2
    out = " ".join(refused.stdout.split())
    assert ("member ids: node3 has no record of etcd_initial_cluster_state, kafka_node_id while node1, node2 "
            "do: it came back empty (a new disk or machine?); rejoin with playbooks/replace_host.yml -e "
            "replace_host=node3; nothing was changed") in out, refused.stdout
    assert refused.stdout.count("fatal:") == 1

    # What replace_host.yml records on the host before site.yml: it joins a running cluster.
    (tmp_path / "node3" / "members.json").write_text(json.dumps(
        {"etcd_initial_cluster_state": "existing", "kafka_node_id": 3}))
    assert play(tmp_path, inv, "members.yml", "preflight").returncode == 0
