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
    etcd_sessions,
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


# A coordinator handover in which a standby takes some election keys and stalls, played against
# node1's real etcd member under a root path of the test's own (Milvus's keys are not touched):
# the test writes what three mixcoords would register (the old active one at OLD, standbys at
# HALF_WAY and WHOLE) and then plays the standbys; milvus_sessions runs ad hoc on node1 as the
# playbooks run it, through the member's etcdctl.
ETCD = "vectorops-etcd-etcd-1"
MIXCOORD = ("datacoord", "indexcoord", "querycoord", "rootcoord")
STALLS_BEFORE = "indexcoord"  # the key the half-way standby never takes
HALF = tuple(r for r in MIXCOORD if r != STALLS_BEFORE)
OLD, HALF_WAY, WHOLE = "192.0.2.11", "192.0.2.12", "192.0.2.13"
SERVERS = {OLD: 101, HALF_WAY: 102, WHOLE: 103}


def etcd_sh(script: str) -> str:
    return docker_on("node1", "exec", ETCD, "sh", "-c", script)


def staged_sessions(root: str) -> dict[str, str]:
    """Three mixcoords' sessions under `root`, OLD holding every election key; address -> lease."""
    leases = {}
    for ip in SERVERS:
        said = etcd_sh("etcdctl lease grant 300")
        leases[ip] = said.split()[1]  # "lease 694d... granted with TTL(300s)"
    puts = []
    for ip, server in SERVERS.items():
        for role in MIXCOORD:
            value = json.dumps({"ServerID": server, "ServerName": role, "Address": f"{ip}:13333",
                                "Exclusive": True, "TriggerKill": True, "Version": "2.3.5",
                                "LeaseID": int(leases[ip], 16), "HostName": f"probe-{server}"})
            puts.append(f"etcdctl put --lease={leases[ip]} {root}/meta/session/{role}-{server} '{value}'")
            if ip == OLD:
                puts.append(f"etcdctl put --lease={leases[ip]} {root}/meta/session/{role} '{value}'")
    etcd_sh(" && ".join(puts) + " >/dev/null")
    return leases


def holders(root: str) -> dict[str, int]:
    """Election key -> the server holding it, read with etcdctl's JSON (not the module's parser)."""
    return {key.rsplit("/", 1)[-1]: value["ServerID"] for key, value in etcd_sessions(root).items()
            if key.rsplit("/", 1)[-1] in MIXCOORD}


class Standbys:
    """Plays the standbys once OLD's keys are gone: HALF_WAY takes every key but STALLS_BEFORE and
    then does nothing; WHOLE takes every key once HALF_WAY's are gone. Stops by itself after
    `limit` seconds."""

    def __init__(self, root: str, leases: dict[str, str], limit: float = 90):
        import threading

        self.root, self.leases, self.deadline = root, leases, time.monotonic() + limit
        self.moves: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._play, daemon=True)
        self.thread.start()

    def _take(self, ip: str, roles: tuple[str, ...]) -> None:
        server = SERVERS[ip]
        etcd_sh(" && ".join(
            f"etcdctl put --lease={self.leases[ip]} {self.root}/meta/session/{role} "
            f"\"$(etcdctl get --print-value-only {self.root}/meta/session/{role}-{server})\""
            for role in roles) + " >/dev/null")
        self.moves.append(f"{ip} took {', '.join(roles)}")

    def _play(self) -> None:
        stage = 0
        while stage < 2 and time.monotonic() < self.deadline and not self.done.is_set():
            if "rootcoord" not in holders(self.root):
                if stage == 0:
                    self._take(HALF_WAY, HALF)
                else:
                    self._take(WHOLE, MIXCOORD)
                stage += 1
            time.sleep(0.3)

    def join(self) -> list[str]:
        self.done.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the standbys' loop did not stop"
        return self.moves


@pytest.fixture
def probe_root():
    if not READY.exists() and not os.environ.get("VECTOROPS_KEEP_SANDBOX"):
        pytest.skip("no verified cluster: run tests/e2e/test_molecule.py first (see this file's docstring)")
    root = f"vectorops-stall-probe-{time.time_ns()}"
    yield root
    etcd_sh(f"etcdctl del --prefix {root} >/dev/null")


def sessions_on_node1(root: str, **args: Any) -> tuple[Any, dict[str, Any]]:
    return module_on("node1", "milvus_sessions", {"etcd_container": ETCD, "root_path": root,
                                                  "host": OLD, "role": "mixcoord", **args})


@pytest.mark.parametrize("stall_timeout", [0, 5], ids=["stall-timeout-off", "stall-timeout-5s"])
def test_a_standby_that_stalls_half_way_is_ended_so_another_takes_over(probe_root, stall_timeout):
    """With stall_timeout 0 the half-way standby holds the handover up until the wait fails in
    one line (the check can fail); with 5 s its sessions are ended and WHOLE takes every key."""
    leases = staged_sessions(probe_root)
    proc, read = sessions_on_node1(probe_root)
    assert proc.returncode == 0 and read["handover"]["active_here"] == sorted(MIXCOORD), read
    standbys = Standbys(probe_root, leases)
    proc, result = sessions_on_node1(probe_root, state="handed_over", before=read["handover"], timeout=25,
                                     stall_timeout=stall_timeout)
    moves = standbys.join()
    if not stall_timeout:
        assert one_line_failure(proc, result) == (
            f"no standby took over {STALLS_BEFORE} within 25 s of ending the mixcoord sessions at {OLD}")
        assert moves == [f"{HALF_WAY} took {', '.join(HALF)}"], moves
        assert holders(probe_root) == dict.fromkeys(HALF, SERVERS[HALF_WAY])
        return
    assert proc.returncode == 0 and not result.get("failed"), result
    assert result["stalled"] == [{"server": SERVERS[HALF_WAY], "host": HALF_WAY, "holds": list(HALF),
                                  "vacant": [STALLS_BEFORE]}]
    assert result["pending"] == [] and stall_timeout <= result["waited"] < 25, result["waited"]
    assert leases[HALF_WAY] in result["revoked"] and leases[OLD] in result["revoked"]
    assert any("its sessions were ended so that another standby takes over" in w
               for w in result.get("warnings", [])), result.get("warnings")
    assert moves == [f"{HALF_WAY} took {', '.join(HALF)}", f"{WHOLE} took {', '.join(MIXCOORD)}"]
    assert holders(probe_root) == dict.fromkeys(MIXCOORD, SERVERS[WHOLE])
