"""The preflight's group checks (roles/preflight/tasks/groups.yml) through ansible-playbook on
localhost, with a throw-away inventory: a missing group, or a quorum group (etcd, Kafka's or
Pulsar's) of an even size, is refused in one line before anything changes (the preflight play
comes first in site.yml, with any_errors_fatal)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import VENV_BIN, ansible_json

PLAY = [{
    "hosts": "milvus_cluster",
    "gather_facts": False,
    "tasks": [
        {"ansible.builtin.include_role": {"name": "vectorops.milvus.preflight", "tasks_from": "groups.yml"}}
    ],
}]
THREE = ["node1", "node2", "node3"]
GOOD = {"etcd": THREE, "kafka": THREE, "pulsar": THREE, "milvus_coord": THREE, "milvus_proxy": THREE,
        "milvus_querynode": THREE, "milvus_datanode": THREE}


def check(tmp_path: Path, groups: dict[str, list[str]], *extra: str):
    local = {"ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")}
    hosts = {h: dict(local) for h in ("node1", "node2", "node3", "node4")}
    children = {name: {"hosts": dict.fromkeys(members)} for name, members in groups.items()}
    children["milvus_cluster"] = {"hosts": hosts}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": children}}))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY))
    proc, data = ansible_json([str(VENV_BIN / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                               str(tmp_path / "play.yml"), *extra], timeout=120)
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc, data


def failure(answer) -> str:
    """The one message the run failed with (a looped check's failed item's)."""
    proc, data = answer
    assert proc.returncode != 0, proc.stdout[-3000:]
    msgs = set()
    for task in data["plays"][0]["tasks"]:
        for result in task["hosts"].values():
            for item in result.get("results", [result]):
                if item.get("failed"):
                    msgs.add(item["msg"])
    assert len(msgs) == 1, msgs
    return msgs.pop()


def test_a_whole_inventory_passes(tmp_path):
    proc, _data = check(tmp_path, GOOD)
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.parametrize(("change", "extra", "message"), [
    ({"etcd": ["node1", "node2"]}, [],
     "group etcd holds 2 hosts: etcd needs an odd count (1, 3, 5) to keep a quorum"),
    ({"kafka": [*THREE, "node4"]}, [],
     "group kafka holds 4 hosts: the KRaft controller quorum needs an odd count (1, 3, 5) to keep a quorum"),
    ({"kafka": []}, [],
     "group kafka holds 0 hosts: the KRaft controller quorum needs an odd count (1, 3, 5) to keep a quorum"),
    ({"pulsar": ["node1", "node2"]}, ["-e", "milvus_mq_type=pulsar"],
     "group pulsar holds 2 hosts: the ZooKeeper ensemble needs an odd count (1, 3, 5) to keep a quorum"),
    ({"milvus_proxy": []}, [], "inventory group milvus_proxy is missing or empty: every cluster needs it"),
], ids=["even-etcd", "even-kafka", "no-kafka", "even-pulsar", "no-proxy-group"])
def test_a_bad_group_is_refused_in_one_line(tmp_path, change, extra, message):
    groups = {name: members for name, members in {**GOOD, **change}.items() if members}
    assert failure(check(tmp_path, groups, *extra)) == message


def test_the_queue_not_in_use_is_not_checked(tmp_path):
    # Kafka's group does not count on the Pulsar path, nor Pulsar's on the Kafka path.
    groups = {**GOOD, "kafka": ["node1", "node2"]}
    assert check(tmp_path, groups, "-e", "milvus_mq_type=pulsar")[0].returncode == 0
    groups = {**GOOD, "pulsar": ["node1", "node2"]}
    assert check(tmp_path, groups)[0].returncode == 0
