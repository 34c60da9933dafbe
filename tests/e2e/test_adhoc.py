"""Ad-hoc health facts on the sandbox cluster (issue #19): `ansible milvus_proxy -i inventories/test
-m vectorops.milvus.milvus_facts`, as an operator types it, with nothing but the inventory.

Needs the cluster that test_molecule.py converged and verified (its READY mark): run it after
that file and before test_operations.py, which removes the hosts at the end, e.g.
`pytest tests/e2e/test_molecule.py tests/e2e/test_adhoc.py tests/e2e/test_operations.py`, or on a
kept cluster (VECTOROPS_KEEP_SANDBOX=1) on its own.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import VENV_BIN, ansible_json
from tests.e2e.conftest import (
    DEPLOYED_VERSION,
    HOSTS,
    INVENTORY,
    PASSWORD,
    PROXIES,
    READY,
    connect,
    docker_on,
    proxy_facts,
)
from tests.milvus_data import fresh_collection, index_and_load

pytestmark = pytest.mark.e2e
NAME = "adhoc_facts"  # this file's own collection, dropped at the end
DIM = 16
PARTITIONS, ROWS = 3, 1000  # 2 shards x 3 partitions: six sealed segments over the query nodes
PROXY_CONTAINER = "vectorops-milvus-proxy-1"


@pytest.fixture(scope="module")
def collection():
    """A small loaded collection of flushed segments, through plain pymilvus; dropped after."""
    import numpy as np
    from pymilvus import MilvusClient

    if not READY.exists() and not os.environ.get("VECTOROPS_KEEP_SANDBOX"):
        pytest.skip("no verified cluster: run tests/e2e/test_molecule.py first (see this file's docstring)")
    try:
        connect().close()
    except Exception as exc:  # noqa: BLE001 - the reason is the failure message
        pytest.fail(f"the verified test cluster does not answer: {exc}")
    client = MilvusClient(uri=f"http://{PROXIES[0]}", user="root", password=PASSWORD)
    try:
        fresh_collection(client, NAME, DIM)
        rng = np.random.default_rng(19)
        for k in range(PARTITIONS):
            client.create_partition(NAME, f"p{k}")
            vecs = rng.random((ROWS, DIM), dtype="float32")
            client.insert(
                NAME, [{"id": k * ROWS + i, "vector": vecs[i]} for i in range(ROWS)], partition_name=f"p{k}"
            )
            client.flush(NAME)
        index_and_load(client, NAME, "vector", "IVF_FLAT", {"nlist": 16})
        yield client
    finally:
        try:
            if client.has_collection(NAME):
                client.drop_collection(NAME)
        finally:
            client.close()


def rows_by_node(client: Any) -> dict[int, int]:
    """Milvus's own answer through raw pymilvus: rows per query node from list_loaded_segments."""
    out: Counter = Counter()
    for seg in client.list_loaded_segments(NAME):
        for node in seg.node_ids or []:
            out[node] += seg.num_rows
    return dict(out)


def one_line_failure(proc: Any, result: dict[str, Any]) -> str:
    msg = result.get("msg", "")
    assert result.get("failed") and proc.returncode != 0, result
    assert msg and "\n" not in msg, msg
    assert "Traceback" not in proc.stdout + proc.stderr and "module_stderr" not in result, result
    return msg


def test_each_proxy_reports_the_cluster_and_the_cache_keeps_it(collection, tmp_path: Path):
    proc, hosts = proxy_facts()
    assert proc.returncode == 0 and sorted(hosts) == sorted(HOSTS), proc.stdout[-3000:]
    want = rows_by_node(collection)
    assert sum(want.values()) == PARTITIONS * ROWS
    for host, res in hosts.items():
        assert not res.get("failed"), res
        facts = res["ansible_facts"]["milvus_cluster"]
        own = f"{HOSTS[host]['ip']}:19530"
        assert facts["version"] == DEPLOYED_VERSION, facts["server"]
        assert facts["server"]["connected_to"] == own, facts["server"]
        (mine,) = [c for c in facts["collections"] if c["name"] == NAME]
        assert {d["id"]: d["rows"] for d in mine["distribution"] if d["rows"]} == want, (host, mine)
        assert {n["role"] for n in facts["nodes"]} >= {"querynode", "datanode", "indexnode", "proxy"}
        assert sorted(p["address"] for p in facts["proxies"] if not p["failed"]) == sorted(PROXIES)
        # no expected processes ad hoc: nothing missing; imbalance is the only alert a whole cluster may have
        assert {a["name"] for a in facts["alerts"]} <= {"imbalance"}, facts["alerts"]
        assert res["summary"] == facts["summary"]
        assert res["summary"].startswith(f"Milvus {DEPLOYED_VERSION} via {own}: "), res["summary"]
        assert (" no alerts" in res["summary"]) == (not facts["alerts"]), res["summary"]
    assert PASSWORD not in proc.stdout + proc.stderr

    # A later playbook with gather_facts false: each host's fact from the jsonfile cache.
    play = tmp_path / "cached.yml"
    play.write_text(
        json.dumps(
            [
                {
                    "hosts": "milvus_proxy",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "cached",
                            "ansible.builtin.debug": {
                                "msg": "{{ _mc.server.connected_to }} {{ _mc.summary }}"
                            },
                            "vars": {"_mc": "{{ hostvars[inventory_hostname]['milvus_cluster'] }}"},
                        }
                    ],
                }
            ]
        )
    )
    proc, data = ansible_json(
        [str(VENV_BIN / "ansible-playbook"), str(play), "-i", str(INVENTORY)], timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    cached = data["plays"][0]["tasks"][0]["hosts"]
    for host in HOSTS:
        assert cached[host]["msg"] == f"{HOSTS[host]['ip']}:19530 {hosts[host]['summary']}", cached[host]


def test_a_stopped_proxy_fails_its_host_only(collection):
    docker_on("node3", "stop", PROXY_CONTAINER)
    try:
        proc, hosts = proxy_facts("-a", json.dumps({"timeout": 5}))
        msg = one_line_failure(proc, hosts["node3"])
        assert f"{HOSTS['node3']['ip']}:19530" in msg, msg
        assert not any(f"{HOSTS[h]['ip']}:19530" in msg for h in ("node1", "node2")), msg
        for host in ("node1", "node2"):
            res = hosts[host]
            assert not res.get("failed"), res
            facts = res["ansible_facts"]["milvus_cluster"]
            assert facts["server"]["connected_to"] == f"{HOSTS[host]['ip']}:19530"
            assert {"address": f"{HOSTS['node3']['ip']}:19530", "failed": True} in facts["proxies"]
    finally:
        docker_on("node3", "start", PROXY_CONTAINER)
        deadline = time.monotonic() + 180
        while True:
            try:
                connect([f"{HOSTS['node3']['ip']}:19530"]).close()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(3)


def test_no_password_fails_with_one_line_naming_the_variable(collection):
    proc, hosts = proxy_facts("-e", json.dumps({"milvus_root_password": None}))
    assert sorted(hosts) == sorted(HOSTS)
    for res in hosts.values():
        assert one_line_failure(proc, res).startswith("milvus_root_password is not defined"), res
    assert PASSWORD not in proc.stdout + proc.stderr


def module_on(host_pattern: str, module: str, args: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """`ansible HOST -i inventories/test -m vectorops.milvus.MODULE -a ARGS`: the first host's result."""
    cmd = [str(VENV_BIN / "ansible"), host_pattern, "-i", str(INVENTORY), "-m", f"vectorops.milvus.{module}",
           "-a", json.dumps(args)]
    proc, data = ansible_json(cmd, timeout=600)
    return proc, next(iter(data["plays"][0]["tasks"][0]["hosts"].values()))


# Bad input through each module, as a new user would type it, against the real cluster (#12):
# module, arguments, the start of its one-line refusal.
BAD_INPUT = [
    ("milvus_cluster_info", {"hosts": []}, "hosts is empty: name at least one Milvus proxy"),
    ("milvus_cluster_info", {"hosts": [f"{HOSTS['node1']['ip']}:19530", ""]},
     "hosts has an empty entry (item 2 of 2)"),
    ("milvus_cluster_info", {"collections": ["no_such_collection"]},
     "collection no_such_collection does not exist in database default"),
    ("milvus_cluster_info", {"password": "not-the-password"}, "authentication failed at "),
    ("milvus_rebalance", {"drain": "999999"}, 'unknown query node "999999" to drain (query nodes: '),
    ("milvus_loadtest", {"collection": NAME, "phases": ["insert"], "duration": 5},
     f"the insert phase would add random rows to {NAME}, a collection this run did not create"),
    ("milvus_loadtest", {"collection": NAME, "create": True, "phases": ["insert"], "duration": 5},
     f"collection {NAME} already exists and this run did not create it"),
]


@pytest.mark.parametrize(("module", "args", "refusal"), BAD_INPUT,
                         ids=[f"{m}-{'-'.join(a)}" for m, a, _unused in BAD_INPUT])
def test_bad_module_input_is_refused_in_one_line_and_changes_nothing(collection, module, args, refusal):
    before = (rows_by_node(collection), collection.query(NAME, output_fields=["count(*)"],
                                                         consistency_level="Strong")[0]["count(*)"])
    proc, result = module_on("milvus_proxy[0]", module, args)
    assert one_line_failure(proc, result).startswith(refusal), result["msg"]
    assert "not-the-password" not in proc.stdout + proc.stderr and PASSWORD not in proc.stdout + proc.stderr
    after = (rows_by_node(collection), collection.query(NAME, output_fields=["count(*)"],
                                                        consistency_level="Strong")[0]["count(*)"])
    assert after == before == (after[0], PARTITIONS * ROWS)


@pytest.mark.parametrize(("args", "refusal"), [
    ({"timeout": -1}, "timeout must be more than 0 and at most"),
    ({"ports": [70000]}, "ports out of range 1-65535: [70000]"),
])
def test_port_reach_refuses_impossible_numbers_on_a_host(collection, args, refusal):
    peers = {h: HOSTS[h]["ip"] for h in ("node2", "node3")}
    proc, result = module_on("node1", "port_reach", {"peers": peers, "ports": [2379], **args})
    assert one_line_failure(proc, result).startswith(refusal), result["msg"]
