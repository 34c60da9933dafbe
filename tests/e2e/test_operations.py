"""Operations on the sandbox cluster that molecule/default converged (test_molecule.py runs
first): rebalance under search load, bounded load tests, health alerts, failover drills with 1
and 2 replicas, an upgrade (a rolling restart onto a new image) under search and insert load,
scale-in then scale-out. Each drives the
operator's playbook with ansible-playbook; figures go to .cache/e2e/operations.json.

The tests run in file order on one cluster (as Molecule steps would), the suite's own
(inventories/test, never the user's sandbox), and its hosts are removed at the end (set
VECTOROPS_KEEP_SANDBOX=1 to keep them).
"""

from __future__ import annotations

import calendar
import itertools
import json
import os
import re
import shutil
import struct
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, inventory_hosts, project_env, run
from tests.e2e.conftest import (
    DEPLOYED_VERSION,
    HOSTS,
    INVENTORY,
    MADE,
    PASSWORD,
    PROXIES,
    READY,
    SPARES,
    TARGET_VERSION,
    InsertLoop,
    PlainSearchLoop,
    SearchLoop,
    active_coordinators,
    connect,
    container_starts,
    docker_on,
    etcd_root,
    playbook,
    proxy_facts,
    registered_querynodes,
)
from tests.milvus_data import fresh_collection, index_and_load

pytestmark = pytest.mark.e2e
DIM = 64
PUBLISH = "Publish it as the fact milvus_cluster, with the alerts"
PILED = "ops_data"  # 1 replica, 2 shards, 6 partitions: a dozen sealed segments
REPLICATED = "ops_replicated"  # 2 replicas
QUERYNODE = "vectorops-milvus-querynode-1-1"
FIGURES: dict[str, Any] = {}
OVERLAYS = ROOT / "tests" / "e2e" / "inventories"
JOINS = OVERLAYS / "node4_joins.yml"  # node4 gets a proxy and a query node


def record(name: str, value: Any) -> None:
    FIGURES[name] = value
    out = ROOT / ".cache" / "e2e"
    out.mkdir(parents=True, exist_ok=True)
    (out / "operations.json").write_text(json.dumps(FIGURES, indent=1, default=str))
    print(f"{name}: {json.dumps(value, default=str)}")


@pytest.fixture(scope="module")
def cluster():
    """The suite's own running cluster (inventories/test), emptied of collections left by an
    interrupted earlier run; its hosts are removed after the last test of this file."""

    def teardown() -> None:
        READY.unlink(missing_ok=True)
        if not os.environ.get("VECTOROPS_KEEP_SANDBOX"):
            run(["bash", "tools/sandbox.sh", "down"], timeout=900)  # the test hosts: see project_env

    if not READY.exists() and not os.environ.get("VECTOROPS_KEEP_SANDBOX"):
        teardown()
        pytest.skip("no verified cluster: test_molecule.py failed or did not run")
    try:
        conn = connect()
        conn.version()
    except Exception as exc:  # noqa: BLE001 - the reason is the failure message
        # A cluster that Molecule verified and that no longer answers is a defect, not a skip.
        teardown()
        pytest.fail(f"the verified test cluster does not answer: {exc}")
    for name in conn.client.list_collections():
        conn.client.drop_collection(name)  # a known state: only what these tests create
    yield conn
    conn.close()
    teardown()


def seed(name: str, flushes: int, rows: int, replicas: int) -> int:
    """A 2-shard collection with `flushes` partitions of one flushed batch each, IVF_FLAT, loaded.

    Each partition holds its own sealed segment per shard; compaction never merges segments
    across partitions, so the collection keeps 2 x flushes segments to move around.
    """
    import numpy as np
    from pymilvus import MilvusClient

    client = MilvusClient(uri=f"http://{PROXIES[0]}", user="root", password=PASSWORD)
    try:
        fresh_collection(client, name, DIM)
        rng = np.random.default_rng(7)
        for k in range(flushes):
            client.create_partition(name, f"p{k}")
            vecs = rng.random((rows, DIM), dtype="float32")
            batch = [{"id": k * rows + i, "vector": vecs[i]} for i in range(rows)]
            client.insert(name, batch, partition_name=f"p{k}")
            client.flush(name)
        index_and_load(client, name, "vector", "IVF_FLAT", {"nlist": 64}, replica_number=replicas)
    finally:
        client.close()
    return flushes * rows


def rows_by_node(conn, name: str) -> dict[int, int]:
    """Milvus's own answer, through pymilvus alone: rows per query node from list_loaded_segments."""
    out: Counter = Counter()
    for seg in conn.client.list_loaded_segments(name):
        for node in seg.node_ids or []:
            out[node] += seg.num_rows
    return dict(out)


def served_rows(conn, name: str) -> int:
    """count(*) at Strong consistency through pymilvus: the rows a search sees."""
    return int(conn.client.query(name, output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"])


def querynodes(_conn=None) -> dict[str, dict[str, Any]]:
    """host name -> its registered query node (id, address)."""
    return registered_querynodes()


def wait_for(what: str, check, timeout: float = 300, every: float = 3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(every)


@pytest.fixture(scope="module")
def data(cluster):
    return {PILED: seed(PILED, 6, 4000, 1), REPLICATED: seed(REPLICATED, 3, 4000, 2)}


def test_rebalance_after_piling_keeps_searches_succeeding(cluster, data):
    nodes = querynodes(cluster)
    assert set(nodes) == set(HOSTS), nodes
    target = nodes["node1"]["id"]
    # Pile every segment onto node1's query node with Milvus's LoadBalance, node by node.
    for host in ("node2", "node3"):
        source = nodes[host]["id"]
        segs = [s.segment_id for s in cluster.client.list_loaded_segments(PILED) if source in s.node_ids]
        if segs:
            cluster.load_balance(PILED, source, [target], segs)
    wait_for("segments piled on node1", lambda: set(rows_by_node(cluster, PILED)) == {target}, 120)
    segments = len(cluster.client.list_loaded_segments(PILED))

    loop, plain = SearchLoop(PILED, DIM), PlainSearchLoop(PILED, DIM, data[PILED])
    try:
        run_ = playbook("rebalance", {"rebalance_collections": [PILED], "rebalance_tolerance": 0.2})
        outlasted = loop.running() and plain.running()
    finally:
        searches = loop.stop()
        plain.stop()
    assert outlasted, "a search loop stopped before the playbook ended"
    plain_figures = plain.figures()
    assert run_.rc == 0, run_.failure()
    res = run_.result("Plan and move segments")
    after = res["after"][0]["stats"]
    assert res["changed"] and len(res["moves"]) == len(res["plan"]) > 0
    assert res["balanced"] and after["cv"] <= 0.2, after
    assert searches["errors"] == 0 and searches["ok"] > 0, searches
    # A plain client (no resends) sees no failure either: segment moves are hitless.
    assert plain_figures["failed"] == 0 and plain_figures["ok"] > 0, plain_figures
    # The module's numbers are Milvus's own.
    by_node = rows_by_node(cluster, PILED)
    assert {n["id"]: n["rows"] for n in res["after"][0]["nodes"]} == by_node
    assert sum(by_node.values()) == data[PILED]
    again = playbook("rebalance", {"rebalance_collections": [PILED]})
    assert again.rc == 0 and again.changed == 0
    assert again.result("Plan and move segments")["moves"] == []
    record(
        "rebalance",
        {
            "segments": segments,
            "moves_planned": len(res["plan"]),
            "moves_made": len(res["moves"]),
            "cv_before": res["before"][0]["stats"]["cv"],
            "cv_after": after["cv"],
            "rows_per_node_after": by_node,
            "seconds": round(run_.seconds, 1),
            "searches": searches,
            "plain_client": plain_figures,
        },
    )


def test_rebalance_says_when_segment_granularity_allows_no_better(cluster):
    """Issue #12 (module output): 2 segments on 3 query nodes cannot get within the tolerance; the
    run says so per collection, with the CV before and after, instead of 'not balanced'."""
    name = "ops_two_segments"
    seed(name, 1, 2000, 1)  # 2 shards, one flush: one sealed segment per shard
    try:
        assert len(cluster.client.list_loaded_segments(name)) == 2
        run_ = playbook("rebalance", {"rebalance_collections": [name], "rebalance_tolerance": 0.2})
        assert run_.rc == 0, run_.failure()
        res = run_.result("Plan and move segments")
        (summary,) = res["summary"]
        assert summary["balanced"] is False and summary["best_possible"] is True, summary
        show = "Show the plan and, per collection, the spread of the load before and after"
        lines = run_.result(show)["msg"]
        expected = (f"{name} (replica {summary['replica_id']}): cv {summary['cv_before']} before, "
                    f"{summary['cv_after']} after; above the tolerance 0.2, but the best that segment "
                    "granularity allows")
        assert any(str(line).startswith(expected) for line in lines), lines
        assert sum(rows_by_node(cluster, name).values()) == 2000
    finally:
        cluster.client.drop_collection(name)


def test_loadtest_30_seconds_through_ansible(cluster, data):
    run_ = playbook(
        "loadtest",
        {
            "loadtest_collection": PILED,
            "loadtest_create": False,
            "loadtest_drop": False,
            "loadtest_phases": ["search"],
            "loadtest_searches": 10_000_000,
            "loadtest_duration": 30,
            "loadtest_warmup": 2,
            "loadtest_workers": 8,
            "loadtest_search_params": {"nprobe": 8},
            "loadtest_max_error_rate": 0.0,
        },
    )
    assert run_.rc == 0, run_.failure()
    search = run_.result("Run the load test")["search"]
    assert 29.0 <= search["duration_s"] <= 30.5, search
    assert search["errors"] == 0 and search["ok"] > 0, search
    keys = ("ok", "qps", "latency_ms", "duration_s", "client_cpu_s_per_1000")
    record("loadtest_30s", {k: search[k] for k in keys})


def test_loadtest_reference_defaults(cluster):
    run_ = playbook("loadtest")
    assert run_.rc == 0, run_.failure()
    res = run_.result("Run the load test")
    assert res["created"] and res["dropped"]
    assert res["insert"]["rows"] == 100 * 1000 and res["insert"]["errors"] == 0, res["insert"]
    assert res["search"]["ok"] == 1000 and res["search"]["errors"] == 0, res["search"]
    assert not cluster.client.has_collection("vectorops_loadtest")
    record(
        "loadtest_reference",
        {
            "insert_rows_per_sec": res["insert"]["rows_per_sec"],
            "insert_p99_ms": res["insert"]["latency_ms"]["p99"],
            "search_qps": res["search"]["qps"],
            "search_p99_ms": res["search"]["latency_ms"]["p99"],
            "seconds": round(run_.seconds, 1),
        },
    )


def test_loadtest_drops_its_collection_when_the_index_build_fails(cluster):
    """Issue #12 (module input): the collection exists before its index is built; a failed build
    must not leave it behind, and the run fails in one line."""
    bad = {"loadtest_phases": ["insert"], "loadtest_insert_batches": 1, "loadtest_batch_size": 100,
           "loadtest_dim": 8, "loadtest_index_type": "HNSW",
           "loadtest_index_params": {"M": -3, "efConstruction": 0}}
    run_ = playbook("loadtest", bad)
    assert run_.rc != 0
    why = run_.failure()
    assert len(why.splitlines()) == 1 and "create collection vectorops_loadtest" in why, why
    res = run_.result("Run the load test")
    assert res["created"] is True and res["dropped"] is True, res
    assert not cluster.client.has_collection("vectorops_loadtest")


GATEWAY = "10.213.4.1"  # this machine on the test network: the controller, in firewall_admin_networks
STRANGER = {"name": "vectorops-test-stranger", "ip": "10.213.4.40"}
REACH = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def reach(target):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=float(sys.argv[1])).close()
        return True
    except ConnectionRefusedError:
        return True  # an answer: nothing listens, but the packet got through
    except OSError:
        return False
with ThreadPoolExecutor(16) as pool:
    print(json.dumps(dict(zip(sys.argv[2:], pool.map(reach, sys.argv[2:])))))
"""


def reaches(targets: list[str], from_stranger: bool, timeout: float = 2.0) -> dict[str, bool]:
    """host:port -> whether a TCP connection gets an answer (accepted or refused) from the test
    network's stranger container (in no firewall list) or from this machine (the controller)."""
    import sys

    cmd = (["docker", "exec", STRANGER["name"], "python3"] if from_stranger else [sys.executable])
    res = run([*cmd, "-c", REACH, str(timeout), *targets], timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_firewall_guards_the_cluster_ports(cluster):
    """The default scenario converged with the firewall on (inventories/sandbox's settings: the
    controller is the admin network, confirmation through etcd's port)."""
    node1, node2 = HOSTS["node1"]["ip"], HOSTS["node2"]["ip"]
    guarded = {f"{node1}:2379": "etcd", f"{node1}:9092": "kafka", f"{node2}:9191": "querynode metrics",
               f"{node2}:21123": "querynode grpc", f"{node1}:9091": "proxy metrics",
               f"{node1}:9090": "prometheus", f"{node1}:9097": "alertmanager",
               f"{node2}:9100": "node exporter"}
    client = f"{node1}:19530"
    res = run(["docker", "run", "-d", "--rm", "--name", STRANGER["name"], "--network", "vectorops-test",
               "--ip", STRANGER["ip"], "--entrypoint", "sleep", "vectorops/host:trixie", "900"], timeout=120)
    assert res.returncode == 0, res.stderr
    figures: dict[str, Any] = {}
    try:
        seen = reaches([*guarded, client], from_stranger=True)
        assert seen == {**dict.fromkeys(guarded, False), client: True}, seen
        assert all(reaches([*guarded, client], from_stranger=False).values())  # the controller: all

        # Applications narrowed to the controller: the stranger loses the proxies' port.
        narrow = playbook("firewall", {"firewall_client_networks": [f"{GATEWAY}/32"]}, timeout=600)
        assert narrow.rc == 0 and narrow.changed > 0, narrow.failure()
        assert reaches([client], from_stranger=True) == {client: False}
        assert cluster.version()  # the controller's own client still connects
        figures["narrow_s"] = round(narrow.seconds, 1)
        back = playbook("firewall", timeout=600)  # the inventory's settings again: every client
        assert back.rc == 0 and back.changed > 0, back.failure()
        assert reaches([client], from_stranger=True) == {client: True}
        # (their second run's changed=0: node1's in the drift run below, every host's after the lockout)

        # A table flushed by hand is loaded again (only on that host).
        host_shell("node2", "nft", "flush", "chain", "inet", "vectorops", "input")
        assert reaches([f"{node2}:9191"], from_stranger=True) == {f"{node2}:9191": True}
        drift = playbook("firewall", timeout=600)
        assert drift.rc == 0, drift.failure()
        assert drift.data["stats"]["node2"]["changed"] > 0 and drift.data["stats"]["node1"]["changed"] == 0
        assert reaches([f"{node2}:9191"], from_stranger=True) == {f"{node2}:9191": False}

        # A timer shorter than the confirmation would undo a good change: refused before any change.
        short = playbook("firewall", {"firewall_rollback_seconds": 15}, limit="node1", timeout=600)
        assert short.rc != 0 and short.changed == 0
        assert ("firewall_rollback_seconds (15) must be at least firewall_confirm_timeout (10) + 10"
                in short.failure()), short.failure()

        # A change that cuts the controller off, on node1 alone: refused in one line, then the
        # timer loads the previous table back; the same confirmed settings then change nothing.
        table = host_shell("node1", "nft", "list", "table", "inet", "vectorops")
        cut = {"firewall_admin_networks": [], "firewall_rollback_seconds": 25,
               "firewall_rollback_immediately": False}
        started = time.monotonic()
        lockout = playbook("firewall", cut, limit="node1", timeout=600)
        assert lockout.rc != 0
        failure = lockout.failure()
        assert ("node1: vectorops.milvus.firewall : Report why the rules were not kept: the new firewall "
                f"rules cut the controller off from node1 ({node1}:2379: timed out); the previous table "
                "comes back within 25 s") in failure, failure
        assert reaches([f"{node1}:2379"], from_stranger=False, timeout=1) == {f"{node1}:2379": False}
        deadline = started + 120
        while not reaches([f"{node1}:2379"], from_stranger=False, timeout=1)[f"{node1}:2379"]:
            assert time.monotonic() < deadline, "node1's etcd port still silent 120 s after the lockout run"
            time.sleep(1)
        figures["rollback_after_s"] = round(time.monotonic() - started, 1)
        assert host_shell("node1", "nft", "list", "table", "inet", "vectorops") == table
        kept = playbook("firewall", timeout=600)
        assert kept.rc == 0 and kept.changed == 0, kept.stdout[-3000:]

        # The same lockout with the default immediate rollback: the controller is back at once.
        now = playbook("firewall", {"firewall_admin_networks": []}, limit="node1", timeout=600)
        assert now.rc != 0 and "the previous table comes back now" in now.failure(), now.failure()
        assert reaches([f"{node1}:2379"], from_stranger=False) == {f"{node1}:2379": True}
        assert host_shell("node1", "nft", "list", "table", "inet", "vectorops") == table
        figures["playbook_s"] = round(kept.seconds, 1)
    finally:
        run(["docker", "rm", "-f", STRANGER["name"]], timeout=120)
    record("firewall", figures)


def expr_answer(host_port: str, auth: str) -> tuple[int, str]:
    """GET /expr on a metrics port (Milvus before 2.5.27 / 2.6.10: its password is the etcd root
    path) with a harmless expression; status and body."""
    import urllib.error
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode({"code": "1+1", "auth": auth})
    try:
        with urllib.request.urlopen(f"http://{host_port}/expr?{query}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_metrics_ports_expr_guard_is_the_clusters_own_root_path(cluster):
    # The controller is on the firewall's admin list; the guard itself is what is checked here:
    # Milvus's well-known default root path must not open it, the cluster's random one does.
    root = etcd_root()
    assert re.fullmatch(r"vo-[a-z0-9]{20}", root), root
    proxy_metrics = f"{HOSTS['node1']['ip']}:9091"
    status, body = expr_answer(proxy_metrics, "by-dev")
    assert status != 200 and "failed to execute expression" in body, (status, body)
    status, body = expr_answer(proxy_metrics, root)
    assert status == 200 and json.loads(body)["output"] == "2", (status, body)


HEALTH_LIMITS = {"health_fail_on_alert": True, "health_insert_rows_per_sec_min": 500,
                 "health_p99_ms_max": 5000}


def test_health_reports_a_whole_cluster_with_its_probes(cluster, data):
    # The rules' arithmetic is unit-tested; here the nested 2-core sandbox gets generous latency
    # and throughput limits so only a missing process can fire. A missing one fires after the
    # drill: test_a_lost_host_is_reported_and_refused.
    limits = HEALTH_LIMITS
    # A healthy start is a balanced one: the sandbox runs without Milvus's automatic balancer.
    balanced = playbook("rebalance")
    assert balanced.rc == 0, balanced.failure()
    healthy = playbook("health", dict(limits, health_probe_insert=True))
    assert healthy.rc == 0, healthy.failure()
    fact = healthy.result(PUBLISH)["ansible_facts"]["milvus_cluster"]
    assert fact["alerts"] == [] and {"search", "insert"} <= set(fact["probes"])
    assert not cluster.client.has_collection("vectorops_health_probe")
    record(
        "health_probes",
        {
            "search_p99_ms": fact["probes"]["search"]["latency_ms"]["p99"],
            "search_qps": fact["probes"]["search"]["qps"],
            "insert_rows_per_sec": fact["probes"]["insert"]["rows_per_sec"],
        },
    )


MONITORING = "node1"  # inventories/test: the monitoring group's host
PROMETHEUS = f"http://{HOSTS[MONITORING]['ip']}:9090"


def http_json(url: str, timeout: float = 10) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (the sandbox's own)
        return json.loads(answer.read())


def promql(query: str) -> list[dict]:
    import urllib.parse

    answer = http_json(f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def sink_alerts() -> list[dict]:
    """What the sandbox's alert receiver got from Alertmanager, oldest first."""
    return http_json(f"http://{SANDBOX_VARS['sandbox_alerts_ip']}:{SANDBOX_VARS['sandbox_alerts_port']}/alerts")


def yaml_file(path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text())


SANDBOX_VARS = yaml_file(INVENTORY / "group_vars" / "all" / "sandbox.yml")


def expected_targets() -> int:
    """Prometheus's targets, counted from the inventory itself: a target per Milvus process (each
    placement group a host is in runs one, milvus_*_count being 1 here), per etcd member, per
    Kafka broker, per cluster host (node exporter), and Prometheus and Alertmanager per monitoring
    host."""
    groups = json.loads(run(["ansible-inventory", "-i", str(INVENTORY), "--list"], timeout=120).stdout)

    def members(group: str) -> list[str]:
        entry = groups.get(group, {})
        found = list(entry.get("hosts", []))
        for child in entry.get("children", []):
            found += members(child)
        return sorted(set(found))

    placement = ("milvus_coord", "milvus_proxy", "milvus_querynode", "milvus_datanode", "milvus_indexnode")
    milvus = sum(len(members(g)) for g in placement)
    return (milvus + len(members("etcd")) + len(members("kafka")) + len(members("milvus_cluster"))
            + 2 * len(members("monitoring")))


def browse(url: str, screenshot: Path) -> tuple[str, dict]:
    """The DOM that headless Chromium (Debian's, installed by tools/test.sh) builds from a page,
    and a screenshot of it: its PNG's width, height and size."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed (tools/test.sh installs Debian's package for the e2e tier)"
    with tempfile.TemporaryDirectory() as profile:
        # Root needs --no-sandbox; the others keep it off this machine's closed network.
        flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1280,1400"]
        dom = run([*flags, "--dump-dom", url], timeout=90)
        assert dom.returncode == 0, dom.stderr[-2000:]
        screenshot.unlink(missing_ok=True)
        shot = run([*flags, f"--screenshot={screenshot}", url], timeout=90)
        assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    head = screenshot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head
    width, height = struct.unpack(">II", head[16:24])
    return dom.stdout, {"width": width, "height": height, "bytes": screenshot.stat().st_size}


def test_prometheus_scrapes_every_process_the_inventory_places(cluster, data):
    # Every target up, as many as the inventory places; rows per query node as Prometheus reads
    # them from the query nodes' own metrics (the balanced cluster the health test left).
    expected = expected_targets()
    deadline, seen = time.monotonic() + 120, None
    while True:
        active = http_json(f"{PROMETHEUS}/api/v1/targets?state=active")["data"]["activeTargets"]
        seen = (len(active), [f"{t['labels'].get('job')} {t['scrapeUrl']}: {t['lastError']}"
                              for t in active if t["health"] != "up"])
        if seen == (expected, []):
            break
        assert time.monotonic() < deadline, f"Prometheus: not {expected} targets up after 120 s: {seen}"
        time.sleep(3)
    rows = {}

    def three_query_nodes():
        found = promql("vectorops:querynode_rows:sum")
        rows.update({r["metric"]["host"]: float(r["value"][1]) for r in found})
        return len(found) == 3 and all(v > 0 for v in rows.values())

    wait_for("rows on each of the three query nodes in Prometheus", three_query_nodes, 120)
    # The overview page (a console template Prometheus serves) shows the same three query nodes,
    # as a person sees it: the DOM headless Chromium builds from it, and a screenshot, both kept
    # with the run's figures.
    dom, shot = browse(f"{PROMETHEUS}/consoles/vectorops.html", ROOT / ".cache" / "e2e" / "overview.png")
    (ROOT / ".cache" / "e2e" / "overview.html").write_text(dom)
    row = r'<tr class="querynode">\s*<td>(\w+)</td><td>[^<]*</td><td class="num rows">(\d+)<'
    in_browser = dict(re.findall(row, dom))
    assert set(in_browser) == {"node1", "node2", "node3"}, dom[-3000:]
    assert all(int(v) > 0 for v in in_browser.values()), in_browser
    assert shot["width"] == 1280 and shot["height"] == 1400 and shot["bytes"] > 20000, shot
    # The Grafana dashboard's queries run on this Prometheus; those about what always exists here
    # (processes, hosts, rows, etcd) answer with series.
    board = json.loads((ROOT / "roles/monitoring/files/grafana/vectorops-milvus.json").read_text())
    answered = {p["title"]: len(promql(t["expr"])) for p in board["panels"] for t in p["targets"]}
    always = ("Targets down", "Rows per query node", "Processes up", "Host CPU busy", "Host memory available",
              "Fullest filesystem per host", "etcd members with a leader")
    assert all(answered[title] > 0 for title in always), answered
    cv = promql("vectorops:querynode_rows:cv")
    scrape = promql("sum(scrape_duration_seconds)") + promql("max(scrape_duration_seconds)")
    record("prometheus", {"targets_up": expected, "rows_per_query_node": rows, "dashboard_series": answered,
                          "screenshot": shot,
                          "cv": float(cv[0]["value"][1]) if cv else None,
                          "scrape_seconds_sum": float(scrape[0]["value"][1]),
                          "scrape_seconds_max": float(scrape[1]["value"][1])})


def watchdog_journal(host: str, since: float = 0) -> list[str]:
    """The watchdog unit's journal lines on a host (since a time, in seconds since the epoch)."""
    return host_shell(host, "journalctl", "-u", "vectorops-watchdog.service", "-o", "cat", "--no-pager",
                      f"--since=@{int(since)}").splitlines()


def watchdog_lines(host: str, name: str, since: float = 0) -> list[str]:
    """The watchdog's journal lines on a host that name one container."""
    return [line for line in watchdog_journal(host, since) if line.startswith(f"{name}:")]


def docker_time(stamp: str) -> float:
    """Seconds since the epoch of a time Docker prints (RFC 3339, UTC, up to nanoseconds)."""
    whole, _dot, fraction = stamp.strip().rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + (fraction or "0"))


def test_watchdog_restarts_a_frozen_query_node_and_holds_a_crash_loop(cluster, data):
    # Docker restarts a container that exits, never one that runs unhealthy. node2's query node is
    # frozen (docker pause: its health check then fails): the watchdog restarts it once Docker
    # has called it unhealthy for watchdog_unhealthy_s, and it serves again. Beside it, on every
    # host, a container of a watched project whose health check never passes (a cause that
    # reaches every host at once) is restarted on one host at a time, at least
    # watchdog_peer_gap_s apart (claimed in etcd), and on each host once, then left alone by the
    # loop guard (one restart an hour here), which the metrics file shows. The guard counts by
    # name (a recreated container is the same service), so each run names its own probe.
    probe = f"vectorops-watchdog-probe-{int(time.time())}"  # a watched project's name: ^vectorops-
    gap = 10
    # A short gap and stop timeout (the probe's sleep ignores SIGTERM) keep the three hosts' turns
    # short; each is still told from the others by the gap.
    fast = {"watchdog_unhealthy_s": 30, "watchdog_interval_s": 5, "watchdog_max_restarts_per_hour": 1,
            "watchdog_stop_timeout": 1, "watchdog_peer_gap_s": gap}
    quick = playbook("watchdog", fast)
    assert quick.rc == 0, quick.failure()

    def started(host: str, name: str) -> str:
        return docker_on(host, "inspect", "-f", "{{.State.StartedAt}}", name).strip()

    began_at = time.time()  # the journal is read from here: a cluster kept from a run before has more

    def held(host: str) -> bool:
        return any("left alone" in line for line in watchdog_lines(host, probe, began_at))

    image = docker_on("node2", "inspect", "-f", "{{.Config.Image}}", "vectorops-etcd-etcd-1").strip()
    frozen_first = started("node2", QUERYNODE)
    docker_on("node2", "pause", QUERYNODE)
    frozen_at = time.time()  # against Docker's StartedAt (this machine's clock)
    first = {}
    for host in HOSTS:
        docker_on(host, "run", "-d", "--name", probe, "--label", f"com.docker.compose.project={probe}",
                  "--health-cmd", "test -f /tmp/healthy", "--health-interval", "2s", "--health-retries", "1",
                  "--entrypoint", "sleep", image, "100000")
        first[host] = started(host, probe)
    try:
        began = time.monotonic()
        wait_for("the watchdog's first restart of a probe",
                 lambda: any(started(h, probe) != first[h] for h in HOSTS), 120, every=1)
        first_restart_s = round(time.monotonic() - began, 1)
        assert first_restart_s >= 25, f"restarted {first_restart_s} s after it started: before the window"
        wait_for("the loop guard's hold on every host", lambda: all(held(h) for h in HOSTS),
                 60 + 3 * gap + 60, every=2)
        held_at = {h: started(h, probe) for h in HOSTS}
        # Docker calls the frozen node unhealthy after its check's retries (3 of 15 s), then the
        # watchdog waits watchdog_unhealthy_s; no other host restarted a query node, so no claim
        # defers it.
        wait_for("the watchdog's restart of the frozen query node",
                 lambda: started("node2", QUERYNODE) != frozen_first, 240, every=2)
        frozen_restart_s = round(docker_time(started("node2", QUERYNODE)) - frozen_at, 1)
        assert 30 <= frozen_restart_s <= 150, frozen_restart_s
        state = docker_on("node2", "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", QUERYNODE).strip()
        assert state == "running false", state
        time.sleep(15)  # three runs of the timer: the probes held, not restarted again
        assert {h: started(h, probe) for h in HOSTS} == held_at
        # The restarts, one a host, in the order they happened: each at least the gap after the
        # one before (the hosts share this machine's clock).
        restarts = sorted(docker_time(held_at[h]) for h in HOSTS)
        apart = [round(b - a, 1) for a, b in itertools.pairwise(restarts)]
        assert all(s >= gap - 1 for s in apart), f"probe restarts {apart} s apart, not {gap} s: all at once"
        # Each host that waited named the other host it waited for, once per host.
        lines = {h: watchdog_lines(h, probe, began_at) for h in HOSTS}
        waited = {}
        for host, said in lines.items():
            ends = [line.rsplit(": ", 1)[-1] for line in said
                    if "left alone" not in line and "deferred" not in line]
            assert ends == ["restarted"], said
            assert sum("left alone" in line for line in said) == 1, said
            waited[host] = [re.search(r"restart deferred: (\S+) restarted it", line).group(1)
                            for line in said if "deferred" in line]
            assert host not in waited[host] and len(set(waited[host])) == len(waited[host]), said
        assert sorted(len(w) > 0 for w in waited.values()) == [False, True, True], lines
        metrics = host_shell("node2", "cat", "/var/lib/vectorops-watchdog/watchdog.prom")
        assert f'vectorops_watchdog_held{{container="{probe}"}} 1' in metrics, metrics
        assert f'vectorops_watchdog_restarts_last_hour{{container="{probe}"}} 1' in metrics, metrics
        # Nothing else of the cluster's was restarted meanwhile (systemd's own lines about the
        # unit are in its journal too: only the script's outcomes are counted).
        for host in HOSTS:
            every = watchdog_journal(host, began_at)
            outcomes = sorted(line.split(":", 1)[0] for line in every
                              if line.endswith(": restarted") or "restart failed" in line)
            assert outcomes == sorted([probe] + ([QUERYNODE] if host == "node2" else [])), every
        wait_for("node2's query node registered again", lambda: "node2" in querynodes(cluster), 180)
    finally:
        if "true" in docker_on("node2", "inspect", "-f", "{{.State.Paused}}", QUERYNODE):
            docker_on("node2", "unpause", QUERYNODE)
        for host in HOSTS:
            docker_on(host, "rm", "-f", probe)
        back = playbook("watchdog")
        assert back.rc == 0, back.failure()
    # Its segments went to the other query nodes meanwhile: the next tests start balanced.
    balanced = playbook("rebalance")
    assert balanced.rc == 0, balanced.failure()
    record("watchdog", {"first_restart_s": first_restart_s, "frozen_query_node_restart_s": frozen_restart_s,
                        "probe_restarts_apart_s": apart, "journal": lines})


def host_shell(host: str, *cmd: str) -> str:
    """A command inside a sandbox host container itself (not its nested engine); stdout."""
    res = run(["docker", "exec", HOSTS[host]["container"], *cmd], timeout=60)
    assert res.returncode == 0, f"{' '.join(cmd)} on {host}: {res.stderr}"
    return res.stdout


BACKUPS = ROOT / ".cache" / "e2e" / "backups"
DELETED = "ops_deleted"  # 2 flushed batches of 3000 rows, then 500 rows deleted and flushed


def etcd_get(key: str) -> str:
    """etcdctl's own answer for one key on node1's member: its name and value, empty when absent."""
    return docker_on("node1", "exec", "vectorops-etcd-etcd-1", "etcdctl", "get", key).strip()


def test_backup_then_restore_collections(cluster, data):
    """backup.yml records every collection. A collection with rows deleted before the backup is
    dropped and restore.yml brings it back under its own name; the 2-replica collection comes
    back beside itself under a new name. Both are checked against the manifest, the collections
    not restored keep their segments, and a name the cluster holds is refused in one line, as is
    a backup with no room for it."""
    import shutil

    import numpy as np
    from pymilvus import MilvusClient

    shutil.rmtree(BACKUPS, ignore_errors=True)
    client = MilvusClient(uri=f"http://{PROXIES[0]}", user="root", password=PASSWORD)
    restored = {DELETED: DELETED, REPLICATED: f"{REPLICATED}_restored"}
    try:
        fresh_collection(client, DELETED, DIM)
        rng = np.random.default_rng(11)
        for k in range(2):
            vecs = rng.random((3000, DIM), dtype="float32")
            client.insert(DELETED, [{"id": k * 3000 + i, "vector": vecs[i]} for i in range(3000)])
            client.flush(DELETED)
        client.delete(DELETED, ids=list(range(500)))  # by key: a filter needs the collection loaded
        client.flush(DELETED)
        index_and_load(client, DELETED, "vector", "IVF_FLAT", {"nlist": 64})
        assert served_rows(cluster, DELETED) == 5500

        # No room (a margin no disk has): refused in one line before anything is written.
        short = playbook("backup", {"backup_dir": str(BACKUPS), "backup_free_space_margin": 1e12})
        assert short.rc != 0
        why = short.failure()
        assert "not enough free space: localhost:" in why and "nothing was backed up" in why, why
        assert len(why.splitlines()) == 1, why
        assert not BACKUPS.exists() or not any(BACKUPS.iterdir()), sorted(BACKUPS.iterdir())

        backup = playbook("backup", {"backup_dir": str(BACKUPS), "backup_samples": 50})
        assert backup.rc == 0, backup.failure()
        root = etcd_root()
        assert etcd_get(f"{root}/config/dataCoord/compaction/enableAutoCompaction") == "", \
            "backup.yml left automatic compaction switched off"
        (path,) = [p for p in BACKUPS.iterdir() if p.is_dir()]
        manifest = json.loads((path / "manifest.json").read_text())
        assert manifest["etcd_root_path"] == root, manifest.get("etcd_root_path")
        by_name = {c["name"]: c for c in manifest["collections"]}
        assert set(by_name) == {PILED, REPLICATED, DELETED}, sorted(by_name)
        assert by_name[PILED]["rows"] == data[PILED] and by_name[REPLICATED]["rows"] == data[REPLICATED]
        assert by_name[DELETED]["rows"] == 5500, by_name[DELETED]["rows"]
        assert (path / "etcd.db").stat().st_size > 0 and int(manifest["etcd"]["revision"]) > 0
        assert int(manifest["bucket"]["objects"]) == len((path / "bucket.md5").read_text().splitlines())

        client.drop_collection(DELETED)
        untouched = {name: sorted(s.segment_id for s in client.list_loaded_segments(name))
                     for name in (PILED, REPLICATED)}
        restore = playbook("restore", {"backup_path": str(path), "restore_collections": sorted(restored),
                                       "restore_as": {REPLICATED: restored[REPLICATED]}})
        assert restore.rc == 0, restore.failure()
        for name, target in restored.items():
            assert served_rows(cluster, target) == by_name[name]["rows"], target
        assert len(client.describe_replica(restored[REPLICATED])) == 2  # as the backup found it
        assert set(client.list_partitions(restored[REPLICATED])) >= {"p0", "p1", "p2"}
        deleted_back = client.query(DELETED, filter="id < 500", output_fields=["id"],
                                    consistency_level="Strong")
        assert deleted_back == [], f"{len(deleted_back)} rows deleted before the backup came back"
        for name, segments in untouched.items():
            assert sorted(s.segment_id for s in client.list_loaded_segments(name)) == segments, name
        lines = restore.result("Say what was restored")["msg"]
        assert len(lines) == 2 and all("50 samples checked" in line for line in lines), lines

        # A name the cluster holds: refused in one line before anything is uploaded or created.
        before = sorted(client.list_collections())
        refused = playbook("restore", {"backup_path": str(path), "restore_collections": [REPLICATED]})
        assert refused.rc != 0
        why = refused.failure()
        assert "nothing was changed" in why and REPLICATED in why and len(why.splitlines()) == 1, why
        assert sorted(client.list_collections()) == before
        record("backup_restore", {
            "backup_s": round(backup.seconds, 1), "objects": manifest["bucket"]["objects"],
            "mib": round(int(manifest["bucket"]["bytes"]) / 1048576, 2),
            "restore_s": round(restore.seconds, 1),
            "restored": lines, "refusal_s": round(refused.seconds, 1),
        })
    finally:
        # Later tests count the segments of the two seeded collections only.
        for name in (DELETED, f"{REPLICATED}_restored"):
            if client.has_collection(name):
                client.drop_collection(name)
        client.close()


def test_preflight_refuses_a_held_port_and_another_etcd_root(cluster):
    # (A peer port that a firewall drops is refused when node4 joins: the scale-out test.)
    before = container_starts()
    # The local end of a connection on rootcoord's port (inside the ephemeral range), on node3,
    # which runs no coordinator: nothing could listen there, and the peers would see 53100
    # refused (run Z). The preflight reserved the cluster's ports, so the kernel never picks it
    # for a connection now; this one binds it on purpose. Named on node3, with both ends.
    node3, node1 = HOSTS["node3"]["ip"], HOSTS["node1"]["ip"]
    box = HOSTS["node3"]["container"]
    # SO_REUSEADDR: an earlier preflight's peer check may have left 53100's accepted connections
    # in TIME-WAIT (a listener reusing addresses binds over them, and so does this). The first of
    # node1's ports whose pair with node3:53100 is not itself in TIME-WAIT takes it.
    holder = "\n".join([
        "import socket, time",
        "for port in (2379, 2380, 9092):",
        "    s = socket.socket()",
        "    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
        f"    s.bind(('{node3}', 53100))",
        "    try:",
        f"        s.connect(('{node1}', port))",
        "        break",
        "    except OSError:",
        "        s.close()",
        "time.sleep(120)  # vectorops-port-holder",
    ])
    run(["docker", "exec", "-d", box, "python3", "-c", holder], timeout=60, check=True)

    def holding() -> str:
        said = host_shell("node3", "ss", "-Htn", "state", "established", "( sport = :53100 )").split()
        return said[3] if len(said) >= 4 else ""

    try:
        wait_for("the connection on 53100", lambda: holding() != "", 20, every=1)
        peer = holding()
        held = playbook("site", tags="preflight", timeout=600)
    finally:
        run(["docker", "exec", box, "pkill", "-f", "vectorops-port-holder"], timeout=60)
    assert peer.startswith(f"{node1}:"), peer
    assert one_line_refusal(held, (
        "node3: cluster port(s) held by the local end of a connection, so nothing can listen on them "
        f"until it closes: 53100 ({node3}:53100 -> {peer}, ESTAB)"))
    assert "53100" in host_shell("node3", "cat", "/proc/sys/net/ipv4/ip_local_reserved_ports")

    # Another etcd root path for the running cluster would orphan every collection: one line,
    # before anything changes.
    root = etcd_root()
    moved = playbook("site", {"milvus_etcd_root_path": "prod-b"}, tags="preflight", timeout=600)
    assert one_line_refusal(moved, (
        f"milvus_etcd_root_path is 'prod-b', but this cluster's Milvus metadata is under '{root}' in etcd: "
        f"another root path would orphan every collection; remove the setting, or set it to '{root}'; "
        "nothing was changed"))
    assert container_starts() == before and etcd_root() == root
    record("preflight_refusals", {"port_held_s": round(held.seconds, 1),
                                  "root_path_s": round(moved.seconds, 1)})


def one_line_refusal(run_, words: str) -> str:
    """The refusal every failed host gave: one line, the same on each, holding `words`."""
    assert run_.rc != 0, run_.stdout[-2000:]
    failure = run_.failure()
    reasons = {line.split(": ", 2)[-1] for line in failure.splitlines()}
    assert len(reasons) == 1 and words in failure, failure
    return reasons.pop()


def test_preflight_refuses_a_reordered_kafka_group(cluster):
    # The operator's inventory with the kafka group's hosts reversed: node1 and node3 would swap
    # KRaft node.ids. Preflight compares with what each broker recorded at its last converge.
    import yaml

    inv = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    kafka = inv["all"]["children"]["milvus_cluster"]["children"]["kafka"]
    kafka["hosts"] = dict(reversed(list(kafka["hosts"].items())))
    # Two levels under the checkout, as inventories/test is: its group_vars find the image cache
    # relative to the inventory's folder.
    reordered = ROOT / ".cache" / "reordered-inventory"
    shutil.rmtree(reordered, ignore_errors=True)
    reordered.mkdir(parents=True)
    (reordered / "hosts.yml").write_text(yaml.safe_dump(inv, sort_keys=False))
    (reordered / "group_vars").symlink_to((INVENTORY / "group_vars").resolve())
    before = container_starts()
    refused = playbook("site", tags="preflight", timeout=600, base=reordered)
    assert container_starts() == before  # it stopped at preflight: nothing restarted
    first, last = list(HOSTS)[0], list(HOSTS)[-1]
    words = (f"member ids: kafka_node_id would change ({first} 1 -> 3; {last} 3 -> 1), which the running "
             f"quorum does not allow (was the group reordered?); pin them in the inventory: "
             f"kafka_node_id: 1 for {first}, kafka_node_id: 3 for {last}; nothing was changed")
    assert one_line_refusal(refused, words)
    record("preflight_reordered_kafka", {"seconds": round(refused.seconds, 1), "refusal": refused.failure()})


class EtcdWriter:
    """Puts a key every 0.5 s through every member (etcd's JSON gateway) until stop(); counts
    rounds in which no member accepted the write (a lost quorum), and the most members that
    were down in one round (more than one: a member went down before the previous was back).
    A member is down when its port refuses or drops the connection; one that answers late
    (a leader election on a slow machine) is slow, not down: timeouts count apart."""

    def __init__(self, max_seconds: float = 900):
        import threading

        self.stop_event = threading.Event()
        self.rounds = self.lost = self.most_down = self.slow = 0
        self.end = time.monotonic() + max_seconds
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _put(self, ip: str) -> str:
        """"ok", "slow" (no answer within 5 s, or an answer without a header) or "down"."""
        import base64
        import urllib.error
        import urllib.request

        body = json.dumps({"key": base64.b64encode(b"vectorops-test/writer").decode(),
                           "value": base64.b64encode(str(self.rounds).encode()).decode()}).encode()
        req = urllib.request.Request(f"http://{ip}:2379/v3/kv/put", data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return "ok" if "header" in json.loads(resp.read()) else "slow"
        except urllib.error.HTTPError:
            return "slow"  # the member answered: it is up, the put failed (no leader yet)
        except urllib.error.URLError as exc:
            return "slow" if isinstance(exc.reason, TimeoutError) else "down"
        except (TimeoutError, ValueError):
            return "slow"
        except OSError:
            return "down"  # refused, reset, no route: the member is not there

    def _loop(self) -> None:
        while not self.stop_event.is_set() and time.monotonic() < self.end:
            self.rounds += 1
            states = [self._put(h["ip"]) for h in HOSTS.values()]
            if "ok" not in states:
                self.lost += 1
            self.slow += states.count("slow")
            self.most_down = max(self.most_down, states.count("down"))
            self.stop_event.wait(0.5)

    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> dict[str, int]:
        self.stop_event.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the etcd writer did not finish"
        return {"rounds": self.rounds, "lost": self.lost, "most_members_down": self.most_down,
                "slow_puts": self.slow}


def etcd_starts() -> dict[str, float]:
    """host -> when its etcd container started (epoch seconds)."""
    from datetime import datetime

    out = {}
    for host in HOSTS:
        stamp = docker_on(host, "inspect", "-f", "{{.State.StartedAt}}", "vectorops-etcd-etcd-1").strip()
        out[host] = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
    return out


ETCD_CONTAINER = "vectorops-etcd-etcd-1"


def image_under_the_same_tag(host: str, ref: str, label: str) -> None:
    """Commit `ref` again under its own tag with one more label, as a rebuild under the same tag
    leaves it (no layer changes)."""
    name = "vectorops-e2e-rebuild"
    docker_on(host, "rm", "-f", name)
    docker_on(host, "create", "--name", name, ref)
    try:
        docker_on(host, "commit", "--change", f"LABEL {label}", name, ref)
    finally:
        docker_on(host, "rm", "-f", name)


def etcd_images() -> dict[str, tuple[str, str]]:
    """host -> (the Id of the image its etcd container runs, the Id its reference names now)."""
    out = {}
    for host in HOSTS:
        ref, runs = docker_on(host, "inspect", "-f", "{{.Config.Image}} {{.Image}}", ETCD_CONTAINER).split()
        out[host] = (runs, docker_on(host, "image", "inspect", "-f", "{{.Id}}", ref).strip())
    return out


def test_etcd_changes_reach_the_members_one_at_a_time(cluster, data, images):
    # Three changes that recreate every member, each handed by the etcd role to one host at a
    # time, each healthy before the next, so the quorum holds:
    # - "rebuilt": an image rebuilt under the same tag, with the same compose file;
    # - "changed": a compose-level change (the healthcheck's start interval);
    # - "reverted": the compose file back, and a host image whose recipe label is not the
    #   archive's, which milvus_images loads again from the archive first.
    ref = images["etcd"]["image"]
    original = {host: pair[1] for host, pair in etcd_images().items()}
    figures = {}
    # round, extra vars, the label each host's image is committed again with first, tags
    rounds = (("rebuilt", None, "org.vectorops.e2e=rebuilt", "etcd"),
              ("changed", {"etcd_health_start_interval": "3s"}, None, "etcd"),
              ("reverted", None, "org.vectorops.recipe=stale", "milvus_images,etcd"))
    for label, extra, host_image_label, tags in rounds:
        if host_image_label:
            for host in HOSTS:
                image_under_the_same_tag(host, ref, host_image_label)
        before = etcd_starts()
        writer, searches = EtcdWriter(960), SearchLoop(REPLICATED, DIM, max_seconds=960)
        plain = PlainSearchLoop(REPLICATED, DIM, data[REPLICATED], max_seconds=960)
        try:
            run_ = playbook("site", extra, tags=tags, timeout=900)
            outlasted = writer.running() and searches.running() and plain.running()
        finally:
            writes, found = writer.stop(), searches.stop()
            plain.stop()
        assert run_.rc == 0, run_.failure()
        assert outlasted, "the etcd writer or a search loop stopped before the playbook ended"
        after = etcd_starts()
        assert all(after[h] > before[h] for h in HOSTS), (label, before, after)  # every member recreated
        order = sorted(after.values())
        gaps = [round(b - a, 2) for a, b in zip(order, order[1:], strict=False)]
        assert min(gaps) >= 2, (label, gaps)  # one after another, each waited on until healthy
        assert writes["rounds"] > 0 and writes["lost"] == 0, writes
        assert writes["most_members_down"] <= 1, writes  # each member back before the next went down
        running = etcd_images()
        assert all(runs == named for runs, named in running.values()), running  # on the tag's image
        if label == "rebuilt":
            probe = run_.results(
                "vectorops.milvus.docker : Find the running containers that compose would recreate")
            said = [r["stdout_lines"] for r in probe]
            assert said == [[f"etcd: a new image under {ref}"]] * len(HOSTS), said
        if label == "reverted":  # the archive's image again, under its recipe label
            assert {host: pair[0] for host, pair in running.items()} == original, (running, original)
        figures[label] = {"seconds": round(run_.seconds, 1), "start_gaps_s": gaps, "etcd_writes": writes,
                          "searches_ok": found["ok"], "searches_failed": found["errors"],
                          "plain_client": plain.figures()}
        assert found["ok"] > 0 and found["errors"] == 0, found
        assert figures[label]["plain_client"]["failed"] == 0, figures[label]["plain_client"]
    record("etcd_changes", figures)


SETTLE_S = 15


WRITES = "ops_upgrade_writes"  # the insert loop's collection during the upgrade


def milvus_images_on_hosts() -> dict[str, str]:
    """host/container -> image of every Milvus container on the sandbox hosts."""
    out = {}
    for host in HOSTS:
        listing = docker_on(host, "ps", "-a", "--filter", "label=com.docker.compose.project=vectorops-milvus",
                            "--format", "{{.Names}} {{.Image}}")
        for line in listing.splitlines():
            name, image = line.split()
            out[f"{host}/{name}"] = image
    return out


def test_upgrade_is_a_rolling_restart_onto_the_new_image(cluster, data):
    # Molecule deployed DEPLOYED_VERSION; the inventory says TARGET_VERSION. First the refusals,
    # on the real cluster: each one line, and nothing restarts.
    starts = container_starts()
    refusals = {
        "downgrade": (playbook("upgrade", {"milvus_version": "2.3.3"}),
                      f"upgrade to 2.3.3 refused: 2.3.3 is older than {DEPLOYED_VERSION}, which a node runs"),
        "layout": (playbook("upgrade", {"milvus_version": "2.6.3"}),
                   f"refused: {DEPLOYED_VERSION} to 2.6.3 is not a rolling upgrade this playbook does"),
        "no_image": (playbook("upgrade", {"milvus_version": "2.3.9"}),
                     "milvus_images: no archive for vectorops/milvus:v2.3.9"),
    }
    said = {kind: one_line_refusal(run_, words) for kind, (run_, words) in refusals.items()}
    assert container_starts() == starts
    assert set(milvus_images_on_hosts().values()) == {f"vectorops/milvus:v{DEPLOYED_VERSION}"}

    # The upgrade: every host in turn, its Milvus processes role by role onto the new image
    # (coordinators first, handing over to their standbys), under a search loop on a 2-replica
    # collection (the product's resends, and a plain client) and a plain insert loop.
    coordinators = active_coordinators()
    fresh_collection(cluster.client, WRITES, DIM)
    index_and_load(cluster.client, WRITES, "vector", "FLAT", {})
    snapshots = ROOT / ".cache" / "e2e" / "upgrade-snapshots"
    loop = SearchLoop(REPLICATED, DIM)
    plain = PlainSearchLoop(REPLICATED, DIM, data[REPLICATED])
    writes = InsertLoop(WRITES, DIM)
    try:
        run_ = playbook("upgrade", {"upgrade_snapshot_dir": str(snapshots)})
        time.sleep(SETTLE_S)  # searches must be served again after the run, not only during it
        outlasted = loop.running() and plain.running() and writes.running()
    finally:
        searches = loop.stop()
        plain.stop()
        inserts = writes.stop()
    assert run_.rc == 0, run_.failure()
    assert outlasted, "a search or insert loop stopped before the playbook ended"

    # Every Milvus container was recreated on the new image; etcd, Kafka and S3 kept running.
    after = container_starts()
    assert set(after) == set(starts), (set(after) ^ set(starts))
    milvus = set(milvus_images_on_hosts())
    assert milvus and [k for k in milvus if after[k] == starts[k]] == []
    assert [k for k in starts if k not in milvus and after[k] != starts[k]] == []
    assert set(milvus_images_on_hosts().values()) == {f"vectorops/milvus:v{TARGET_VERSION}"}
    # Every node reports the new version; they all reported the old one before.
    before_nodes = run_.result("Work out the version step")["ansible_facts"]["upgrade_before"]
    after_nodes = run_.result("Wait until every node reports the target version")["nodes"]
    # (the PyPI wheel's build says v2.3.5-lite)
    assert {n["build_version"].split("-")[0] for n in before_nodes} == {f"v{DEPLOYED_VERSION}"}, before_nodes
    assert {n["build_version"].split("-")[0] for n in after_nodes} == {f"v{TARGET_VERSION}"}, after_nodes
    assert {n["role"] for n in after_nodes} >= {"rootcoord", "querycoord", "datacoord", "proxy", "querynode",
                                                "datanode", "indexnode"}
    # The etcd snapshot was taken first, and its path printed.
    said_snapshot = run_.result("Say where the snapshot is")["msg"]
    path = re.search(r"(/\S+/etcd\.db)", said_snapshot).group(1)
    assert path.startswith(str(snapshots)) and os.path.getsize(path) > 0, said_snapshot
    # The active coordinators handed over and came back: new server ids, on the same hosts.
    back = active_coordinators()
    assert set(back) == set(coordinators) and coordinators, back
    assert all(back[r]["id"] != coordinators[r]["id"] for r in back), (coordinators, back)
    assert {r: v["address"] for r, v in back.items()} == {r: v["address"] for r, v in coordinators.items()}
    # Host by host, role by role, in milvus_ops_upgrade_order (Milvus's rolling-update order).
    import yaml

    order = yaml.safe_load((ROOT / "playbooks/vars/milvus_ops.yml").read_text())["milvus_ops_upgrade_order"]
    stops = [m.groups() for m in (re.match(r"Stop the (\w+) (?:processes )?of (\w+)", name)
                                  for name in run_.task_names()) if m]
    assert [h for h, _unused in itertools.groupby(host for _unused, host in stops)] == list(HOSTS), stops
    for host in HOSTS:
        roles = [role for role, h in stops if h == host]
        assert roles == sorted(roles, key=order.index) and len(roles) == len(set(roles)), (host, roles)
    # Every acknowledged row is there.
    cluster.client.flush(WRITES)
    lost = writes.missing(cluster.client)
    for outage in searches["outages"]:  # which steps the failures belong to
        start = loop.t0 + outage["start_s"]
        outage["during"] = run_.during(start, start + outage["seconds"])
    spans = plain.failure_spans()
    for span in spans:  # which steps the plain client's failures belong to
        span["during"] = run_.during(span["start"], span["end"])
        span["seconds"] = round(span["end"] - span["start"], 3)
    (ROOT / ".cache" / "e2e" / "upgrade_plain_failures.json").write_text(json.dumps(spans, indent=1))
    (ROOT / ".cache" / "e2e" / "upgrade_playbook.json").write_text(json.dumps(run_.data))

    # A re-run with the same version changes nothing and restarts nothing.
    settled = container_starts()
    again = playbook("upgrade", {"upgrade_snapshot_dir": str(snapshots)})
    record("upgrade", {"from": DEPLOYED_VERSION, "to": TARGET_VERSION, "seconds": round(run_.seconds, 1),
                       "slowest_tasks": run_.slowest(), "searches": searches, "plain_client": plain.figures(),
                       "plain_client_failure_spans": len(spans), "inserts": dict(inserts, lost=len(lost)),
                       "rerun_seconds": round(again.seconds, 1), "rerun_changed": again.changed,
                       "refusals": said})
    assert again.rc == 0 and again.changed == 0, (again.failure(), again.changed)
    assert container_starts() == settled
    assert inserts["acknowledged_rows"] > 0 and lost == [], (inserts, lost[:10])
    cluster.client.drop_collection(WRITES)
    assert set(querynodes(cluster)) == set(HOSTS)
    # Issue #5: 0 failed searches (a search counts as failed when its resends failed too). A search
    # answered with too few hits counts as failed: Milvus 2.3 answers a 2-replica collection with
    # 0 hits for 1 to 3 s around a query node's stop and return (measured with a plain client
    # too, .cache/e2e/upgrade_plain_failures.json). Until that is solved this one kind is an
    # expected failure; any other failure fails the test.
    kinds = searches["errors_by_kind"]
    if searches["errors"] and set(kinds) == {"short"}:
        total = searches["ok"] + searches["errors"]
        pytest.xfail(f"{kinds['short']} of {total} searches answered with too few hits around query node "
                     "restarts (issue #20)")
    assert searches["ok"] > 0 and searches["errors"] == 0, searches["outages"]


VIP = SANDBOX_VARS["sandbox_vip"]
ENDPOINT = f"{VIP}:{yaml_file(ROOT / 'roles/cluster/defaults/main.yml')['cluster_endpoint_port']}"


def vip_holder() -> str | None:
    """The host whose network interface holds the endpoint's virtual IP."""
    for host in HOSTS:
        res = run(["docker", "exec", HOSTS[host]["container"], "ip", "-4", "-o", "addr", "show"], timeout=60)
        if res.returncode == 0 and f" {VIP}/" in res.stdout:
            return host
    return None


def test_failover_drill_with_one_and_two_replicas(cluster, data):
    # One host loss, a probe per collection: PILED has 1 replica, REPLICATED 2. Beside the
    # playbook's own probes (the product's resend policy), plain pymilvus clients search both
    # collections through the surviving proxies, as an application would. The host stays down
    # (drill_restore=false): the next test has health.yml report it and the operations refuse,
    # then test_replace_a_lost_host rebuilds it from empty disks with replace_host.yml.
    survivors = [p for p in PROXIES if not p.startswith(HOSTS["node3"]["ip"] + ":")]
    plain = {name: PlainSearchLoop(name, DIM, data[name], proxies=survivors) for name in (PILED, REPLICATED)}
    # node3 holds the endpoint's virtual IP (inventories/test: its highest priority): a plain
    # client searching the 2-replica collection through the VIP sees the VIP move.
    assert vip_holder() == "node3"
    plain["vip"] = PlainSearchLoop(REPLICATED, DIM, data[REPLICATED], proxies=[ENDPOINT])
    try:
        run_ = playbook(
            "drill_failover",
            {"drill_host": "node3", "drill_collections": [PILED, REPLICATED], "drill_probe_seconds": 60,
             "drill_restore": False},
        )
        outlasted = all(loop.running() for loop in plain.values())
    finally:
        for loop in plain.values():
            loop.stop()
    assert run_.rc == 0, run_.failure()
    assert outlasted, "a search loop stopped before the playbook ended"
    result = run_.result("Publish the drill's figures")["ansible_facts"]["drill_result"]
    killed = float(result["killed_at"])
    assert int(result["etcd_healthy_survivors"]) == 2
    assert result["kafka_leader"] not in (None, "")
    # The failure detection the figures were taken with: the killed host's processes' own (the
    # role's defaults here), though the host stays down.
    assert (str(result["session_ttl"]), str(result["check_node_session_interval"])) == ("10", "5"), result
    by_name = {c["name"]: c for c in result["collections"]}
    assert set(by_name) == {PILED, REPLICATED}
    # The VIP moved to the next host, and searches through it went on.
    assert vip_holder() == "node1"
    through_vip = plain["vip"].figures(since=killed)
    assert through_vip["ok"] > 0, through_vip
    record("vip_failover", through_vip)
    for name, figures in by_name.items():
        # Rows a search sees (count(*), Strong), before and after, and what the test inserted.
        assert int(figures["rows_after"]) == int(figures["rows_before"]) == data[name], figures
        assert int(figures["rows_on_host"]) > 0, figures
        figures["plain_client_after_kill"] = plain[name].figures(since=killed)
        assert figures["plain_client_after_kill"]["ok"] > 0, figures  # served again after the kill
    assert served_rows(cluster, PILED) == data[PILED] and served_rows(cluster, REPLICATED) == data[REPLICATED]
    assert (by_name[PILED]["replica_number"], by_name[REPLICATED]["replica_number"]) == (1, 2)
    # With one replica the host's segments are lost until reloaded: a probe that saw no failure
    # measured nothing.
    one, two = by_name[PILED]["plain_client_after_kill"], by_name[REPLICATED]["plain_client_after_kill"]
    assert one["failed"] > 0 and int(by_name[PILED]["searches_failed"]) > 0, by_name[PILED]
    record("failover", dict(result, seconds=round(run_.seconds, 1)))
    # With two replicas the other replica serves. Both plain loops search at the same pace through
    # the same proxies over the same time, so the 1-replica collection's failures measure the
    # outage, and the 2-replica collection must fare far better: at most a quarter as many
    # errors, and a shorter longest stall. (A share of all searches would depend on the loops'
    # pace: each failed search waits out its RPC error, up to the 5 s deadline.)
    total = two["ok"] + two["failed"]
    short = two["failed_by_kind"].get("short", 0)
    one_errors = one["failed"] - one["failed_by_kind"].get("short", 0)
    two_errors = two["failed"] - short
    assert 4 * two_errors <= one_errors and two["longest_stall_s"] < one["longest_stall_s"], \
        {"one_replica": one, "two_replicas": two}
    # The goal is none at all (issue #21). Milvus 2.3.5 still fails a few: a search that reaches
    # the dead query node after its session ended fails instead of trying the other replica, and
    # one that waits for the stalled time ticks can outlast the 5 s deadline (0 to 2 a run here;
    # docs/measurements.md). It also answers some searches with too few hits while the dead
    # host's segments are still assigned (none in some runs, 4% in others). Either is an
    # expected failure until issue #21 solves it; the bounds above hold meanwhile.
    if two_errors or short > 0.01 * total:
        pytest.xfail(f"{two_errors} failed and {short} short of {total} searches of the 2-replica collection "
                     "after the host loss (issue #21)")


# What Alertmanager sends for a lost host (roles/monitoring's rules), firing then resolved.
HOST_LOSS_ALERTS = frozenset({"MilvusProcessDown", "HostDown", "EtcdMemberDown", "MessageQueueBrokerDown"})


def test_a_lost_host_is_reported_and_refused(cluster, data):
    """The drill left node3 down (its whole host container stopped). health.yml names its query
    node down; the rolling restart and a drill of another host refuse in one line before they
    touch anything, as they would with any member missing; a drill naming several hosts too."""
    survivors = ("node1", "node2")
    wait_for("node3's query node session expired", lambda: "node3" not in querynodes(cluster), 120)
    failing = playbook("health", HEALTH_LIMITS)
    assert failing.rc != 0
    alerts = failing.result(PUBLISH)["ansible_facts"]["milvus_cluster"]["alerts"]
    down = [a for a in alerts if a["name"] == "querynode_down"]
    expected = f"node3 ({HOSTS['node3']['ip']}) 0/1"
    assert down and expected in down[0]["message"], alerts
    failed = failing.result("Fail on alerts when asked (for monitoring)")
    assert expected in failed["msg"], failed
    report_only = playbook("health")
    assert report_only.rc == 0, report_only.failure()
    record("health_alert", down[0]["message"])
    # Prometheus saw it too: Alertmanager sent node3's alerts to the sandbox's receiver.

    def node3_alerts():
        got = {a["alertname"] for a in sink_alerts()
               if a["status"] == "firing" and a["labels"].get("host") == "node3"}
        return got if got >= HOST_LOSS_ALERTS else None

    record("alerts_fired", sorted(wait_for("node3's alerts at the alert receiver", node3_alerts, 240)))

    before = container_starts(survivors)
    several = playbook("drill_failover", {"drill_host": "milvus_querynode", "drill_collections": [PILED]})
    # One look at the cluster each (a gate timeout below 3 s is a single try): the answer is known.
    restart = playbook("rolling_restart", {"rolling_restart_gate_timeout": 1})
    drill = playbook("drill_failover",
                     {"drill_host": "node2", "drill_collections": [PILED], "drill_gate_timeout": 1})
    assert several.rc != 0
    assert "drill_host must name exactly one host; it names 3" in several.failure(), several.failure()
    expected = "the cluster is not healthy, nothing was changed: etcd: 2 of 3 members healthy"
    for run_ in (restart, drill):
        assert run_.rc != 0
        assert expected in run_.failure(), run_.failure()
        assert run_.failure().count("\n") == 0, run_.failure()  # one line
    assert container_starts(survivors) == before  # nothing restarted on the hosts still up
    record("refusals", {"drill_several_hosts": several.failure(), "unhealthy": restart.failure()})


REPLACE_WRITES = "ops_replace_writes"  # the insert loop's collection while node3 is lost and replaced


class QuorumWatch:
    """Polls from node1 whether etcd has every member healthy (every `every` s) and then whether
    no Kafka partition is under-replicated (every `isr_every` s: each check starts a JVM, which
    a 2-core machine feels; the moments are figures, the playbook's own gates decide), and keeps
    the first moment each became true. Bounded by max_seconds; stop() joins the thread."""

    def __init__(self, every: float = 3.0, isr_every: float = 30.0, max_seconds: float = 1500):
        self.every, self.isr_every, self.end = every, isr_every, time.time() + max_seconds
        self.isr_checked = 0.0
        self.etcd_whole: float | None = None
        self.isr_whole: float | None = None
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop_event.is_set() and time.time() < self.end:
            if self.etcd_whole is None and len(etcd_healthy()) == len(HOSTS):
                self.etcd_whole = time.time()
            if self.etcd_whole is not None and time.time() - self.isr_checked >= self.isr_every:
                self.isr_checked = time.time()
                if under_replicated() == "":
                    self.isr_whole = time.time()
            if self.isr_whole is not None:
                return
            self.stop_event.wait(self.every)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the quorum watch did not finish"


def etcd_healthy() -> list[str]:
    """The etcd endpoints that answer healthy, asked from node1's member (etcdctl's own view)."""
    import subprocess

    endpoints = ",".join(f"http://{h['ip']}:2379" for h in HOSTS.values())
    res = subprocess.run(["docker", "exec", HOSTS["node1"]["container"], "docker", "exec",
                          "vectorops-etcd-etcd-1", "etcdctl", f"--endpoints={endpoints}", "endpoint",
                          "health", "-w", "json"],
                         capture_output=True, text=True, timeout=60, check=False)
    try:
        return [e["endpoint"] for e in json.loads(res.stdout) if e.get("health")]
    except ValueError:
        return []


def kafka_tool(tool: str, *args: str) -> str:
    """A Kafka tool run in node1's broker container against every broker; stdout ("" on failure
    is not possible: it asserts)."""
    servers = ",".join(f"{h['ip']}:9092" for h in HOSTS.values())
    return docker_on("node1", "exec", "vectorops-kafka-kafka-1", "kafka-run-class", tool,
                     "--bootstrap-server", servers, *args, timeout=120)


def under_replicated() -> str | None:
    try:
        return kafka_tool("org.apache.kafka.tools.TopicCommand", "--describe",
                          "--under-replicated-partitions").strip()
    except AssertionError:
        return None


def test_replace_a_lost_host(cluster, data):
    # The drill left node3 down. Now its disks are gone too: its host container and both volumes
    # (/var/lib/docker, /srv) are removed, and the same name and address come back empty, as a
    # new machine in the rack would. A plain insert loop and a plain search loop on the 2-replica
    # collection run through the surviving proxies throughout.
    lost = HOSTS["node3"]
    survivors = [p for p in PROXIES if not p.startswith(lost["ip"] + ":")]
    fresh_collection(cluster.client, REPLACE_WRITES, DIM)
    index_and_load(cluster.client, REPLACE_WRITES, "vector", "FLAT", {}, replica_number=2)
    plain = PlainSearchLoop(REPLICATED, DIM, data[REPLICATED], proxies=survivors)
    writes = InsertLoop(REPLACE_WRITES, DIM, proxies=survivors)
    watch = None
    try:
        started = time.time()
        assert run(["docker", "rm", "-f", "-v", lost["container"]], timeout=180).returncode == 0
        for volume in ("docker", "data"):
            removed = run(["docker", "volume", "rm", f"{lost['container']}-{volume}"], timeout=180)
            assert removed.returncode == 0, removed.stderr
        hosts = run(["bash", "tools/sandbox.sh", "hosts"], timeout=900)
        assert hosts.returncode == 0, hosts.stdout[-2000:] + hosts.stderr[-2000:]

        # Refusals, each one line, before anything changes: replacing node2 now would leave etcd
        # one member; a plain converge must not start the empty host as a new member.
        no_quorum = playbook("replace_host", {"replace_host": "node2"})
        refused_quorum = one_line_refusal(
            no_quorum, "replace node2 refused: etcd: 1 of the other 2 members are healthy, a quorum needs 2")
        assert "playbooks/restore.yml" in refused_quorum
        plain_converge = playbook("site", tags="preflight", timeout=600)
        refused_converge = one_line_refusal(
            plain_converge,
            "node3 has no record of etcd_initial_cluster_state, kafka_node_id while node1, node2 do: "
            "it came back empty")
        assert "replace_host.yml -e replace_host=node3" in refused_converge

        watch = QuorumWatch()
        run_ = playbook("replace_host", {"replace_host": "node3"})
        watch.stop()
        time.sleep(SETTLE_S)
        outlasted = plain.running() and writes.running()
    finally:
        if watch is not None:
            watch.stop()
        plain.stop()
        inserts = writes.stop()
    assert run_.rc == 0, run_.failure()
    assert outlasted, "a search or insert loop stopped before the playbook ended"
    result = run_.result("Publish the replacement's figures")["ansible_facts"]["replace_result"]
    assert result["etcd_member_removed"], result  # the lost member was removed and added again
    # site.yml inside it changed nothing on the other hosts (delegated steps count to node3).
    assert {h: run_.data["stats"][h]["changed"] for h in ("node1", "node2")} == {"node1": 0, "node2": 0}

    # 3 healthy etcd members; 3 KRaft voters, each holding the leader's whole log. The leader
    # appends a no-op record to the metadata log every 500 ms, so one describe can catch a
    # follower one record behind: the voters are asked again (bounded) until one answer shows
    # each with lag 0. A voter that does not replicate never gets there.
    assert len(etcd_healthy()) == 3
    answers: list[str] = []

    def voters_caught_up() -> bool:
        quorum = kafka_tool("org.apache.kafka.tools.MetadataQuorumCommand", "describe", "--replication")
        answers.append(quorum)
        voters = [line.split() for line in quorum.splitlines()[1:]
                  if line.split()[-1:] in (["Leader"], ["Follower"])]
        return sorted(v[0] for v in voters) == ["1", "2", "3"] and all(v[3] == "0" for v in voters)

    try:
        wait_for("3 KRaft voters with lag 0 in one answer", voters_caught_up, timeout=60, every=1)
    except pytest.fail.Exception as exc:
        pytest.fail(f"{exc}; the last answer:\n{answers[-1]}")
    # Every partition's ISR holds all three brokers.
    topics = kafka_tool("org.apache.kafka.tools.TopicCommand", "--describe")
    isrs = re.findall(r"\tIsr: (\S+)", topics)
    assert isrs and all(sorted(i.split(",")) == ["1", "2", "3"] for i in isrs), topics[-2000:]
    # Every acknowledged row is there, and so is every seeded row.
    cluster.client.flush(REPLACE_WRITES)
    missing = writes.missing(cluster.client)
    assert inserts["acknowledged_rows"] > 0 and missing == [], (inserts, missing[:10])
    assert served_rows(cluster, PILED) == data[PILED] and served_rows(cluster, REPLICATED) == data[REPLICATED]
    # Searches work through every proxy, the replaced host's included, and it holds segments again.
    from pymilvus import MilvusClient

    for proxy in PROXIES:
        client = MilvusClient(uri=f"http://{proxy}", user="root", password=PASSWORD, timeout=30)
        try:
            hits = client.search(REPLICATED, data=[[0.5] * DIM], limit=5, anns_field="vector")
        finally:
            client.close()
        assert len(hits[0]) == 5, (proxy, hits)
    nodes = querynodes(cluster)
    assert set(nodes) == set(HOSTS)
    assert rows_by_node(cluster, PILED).get(nodes["node3"]["id"], 0) > 0, rows_by_node(cluster, PILED)

    # A whole host is refused: it is not empty.
    starts = container_starts()
    healthy = playbook("replace_host", {"replace_host": "node2"})
    refused_healthy = one_line_refusal(healthy, "replace node2 refused: node2 still runs")
    assert container_starts() == starts
    # A converge of the replaced host would change nothing: site.yml in check mode, which also
    # proves every shared role runs in check mode on a converged host (the others showed
    # changed=0 above).
    again = playbook("site", limit="node3", check=True)
    cluster.client.drop_collection(REPLACE_WRITES)
    figures = plain.figures(since=started)
    record("replace_host", {
        "playbook_s": round(run_.seconds, 1), "result": result, "slowest_tasks": run_.slowest(),
        "etcd_whole_s": round(watch.etcd_whole - started, 1) if watch.etcd_whole else None,
        "isr_whole_s": round(watch.isr_whole - started, 1) if watch.isr_whole else None,
        "plain_client": figures, "inserts": dict(inserts, lost=len(missing)),
        "site_rerun_s": round(again.seconds, 1), "site_rerun_changed": again.changed,
        "refusals": {"no_quorum": refused_quorum, "converge": refused_converge, "healthy": refused_healthy}})
    assert again.rc == 0 and again.changed == 0, (again.failure(), again.changed)
    # node3's alerts resolve once its processes answer Prometheus again.
    resolved_after = time.time()

    def node3_resolved():
        resolved = {a["alertname"] for a in sink_alerts() if a["status"] == "resolved"
                    and a["labels"].get("host") == "node3" and a["received"] >= started}
        return resolved >= HOST_LOSS_ALERTS

    wait_for("node3's alerts resolved at the alert receiver", node3_resolved, 240)
    record("alerts_resolved_s", round(time.time() - resolved_after, 1))
    # The survivors serve the 2-replica collection throughout: no search fails with an error.
    # Answers with too few hits while segments move onto the new query node are issue #20's
    # expected failure, as in the upgrade.
    short = figures["failed_by_kind"].get("short", 0)
    assert figures["ok"] > 0 and figures["failed"] == short, figures
    if short:
        pytest.xfail(f"{short} of {figures['ok'] + short} searches answered with too few hits while node3 "
                     "was replaced (issue #20)")


def settle_milvus() -> None:
    """Milvus as the inventory says, when the tests before did not leave it so (a targeted run):
    Molecule deploys DEPLOYED_VERSION, and its side effect leaves a query node setting that the
    inventory does not have; the upgrade test, earlier in the whole suite, replaces both."""
    if set(milvus_images_on_hosts().values()) != {f"vectorops/milvus:v{TARGET_VERSION}"}:
        settled = playbook("upgrade")
        assert settled.rc == 0, settled.failure()
    env = docker_on("node1", "inspect", "-f", "{{range .Config.Env}}{{.}} {{end}}", QUERYNODE)
    if "QUERYNODE_GRACEFULTIME=" in env:
        settled = playbook("milvus")
        assert settled.rc == 0, settled.failure()


HAPROXY_CFG = "/opt/vectorops/endpoint/haproxy.cfg"  # the endpoint role's, on each endpoint host


def test_scale_out_onto_a_new_host_then_retire_it(cluster, data):
    # node4 is a spare machine with nothing installed (no Docker, no image, no firewall). The
    # operator adds it to milvus_proxy and milvus_querynode, raises node3's query nodes to two,
    # and runs scale_out.yml: site.yml has the other hosts' firewalls admit node4 first,
    # preflight checks every pair of hosts on every cluster port, and the collections are
    # rebalanced onto the two new query nodes without restarting anything else. Then node4 is
    # taken out of those groups and put in milvus_retire, and node3's count is lowered again:
    # scale_in.yml drains both, the endpoint and the firewalls drop node4, and its processes,
    # folders and table are removed. A plain client searches through node1 to node3's proxies
    # all along (no resends): the failures and the longest stall of each step are recorded.
    settle_milvus()
    cluster.client.release_collection(REPLICATED)  # its second replica would move with the drains
    cluster.drop_collection(REPLICATED)
    node4 = SPARES["node4"]
    joins = (str(JOINS),)
    second = "node3/vectorops-milvus-querynode-2-1"
    before = container_starts()
    # First with a rule on node2 that drops node4's packets to 22222 (a 2.6 streaming node's
    # port, free on every host, where preflight's throw-away listeners answer; nothing the
    # running cluster uses is cut): named, alone, and the run stops at preflight.
    rule = ["INPUT", "-p", "tcp", "--dport", "22222", "-s", node4["ip"], "-j", "DROP"]
    host_shell("node2", "iptables", "-I", *rule)
    try:
        blocked = playbook("scale_out", inventories=joins)
    finally:
        host_shell("node2", "iptables", "-D", *rule)
    assert blocked.rc != 0
    failure = blocked.failure()
    expected = (f"cannot reach node2 ({HOSTS['node2']['ip']}) on 22222 (timed out): "
                "open these ports between the cluster hosts")
    assert f"Check every peer answered on every cluster port: node4: {expected}" in failure, failure
    assert failure.count("cannot reach") == 1, failure  # every other pair reached each other
    # The three hosts' firewalls were loaded first, with node4 admitted (one host at a time).
    load_task = "vectorops.milvus.firewall : Load the candidate ruleset, and list it as loaded"
    loaded = blocked.hosts_ran(load_task)
    assert sorted(loaded) == sorted(HOSTS), loaded
    assert node4["ip"] in host_shell("node1", "nft", "list", "table", "inet", "vectorops")
    assert container_starts() == before  # nothing restarted
    bare = run(["docker", "exec", node4["container"], "sh", "-c", "command -v docker"], timeout=60)
    assert bare.returncode != 0, bare.stdout  # nothing was installed on node4

    plain = PlainSearchLoop(PILED, DIM, data[PILED], max_seconds=1500)
    try:
        grow = playbook("scale_out", inventories=joins)
        outlasted = plain.running()
    finally:
        plain.stop()
    grow_searches = plain.figures()
    assert grow.rc == 0, grow.failure()
    assert outlasted, "a search loop stopped before the scale-out ended"
    reached = grow.results("vectorops.milvus.preflight : Connect to every peer on every cluster port")
    assert len(reached) == 4 and all(r["unanswered"] == [] and r["reached"] > 0 for r in reached), reached
    assert grow.hosts_ran(load_task) == ["node4"]  # node1 to node3 admitted node4 already
    # Nothing on node1 to node3 restarted; node3's second query node is the one container added.
    after = container_starts()
    assert {k: after.get(k) for k in before} == before
    assert sorted(set(after) - set(before)) == [second], sorted(set(after) - set(before))
    names = docker_on("node4", "ps", "--format", "{{.Names}}").split()
    assert QUERYNODE in names and any("proxy" in n for n in names), names
    nodes = querynodes(cluster)
    assert set(nodes) == {*HOSTS, "node3#2", "node4"}, nodes
    assert nodes["node3#2"]["address"] != nodes["node3"]["address"], nodes  # its own derived port
    # Each new query node took its share: with 12 segments on 5 query nodes, 2 or 3 each.
    by_node = rows_by_node(cluster, PILED)
    mean = data[PILED] / len(nodes)
    new = {n: by_node.get(nodes[n]["id"], 0) for n in ("node3#2", "node4")}
    assert all(rows >= 0.6 * mean for rows in new.values()), (new, by_node)
    balance = grow.result("Rebalance every loaded collection")
    assert all(c["balanced"] or c["best_possible"] for c in balance["summary"]), balance["summary"]
    # Searches through node4's own proxy.
    from pymilvus import MilvusClient

    client = MilvusClient(uri=f"http://{node4['ip']}:19530", user="root", password=PASSWORD, timeout=30)
    try:
        hits = client.search(PILED, data=[[0.5] * DIM], limit=5, anns_field="vector")
    finally:
        client.close()
    assert len(hits[0]) == 5, hits
    assert f"{node4['ip']}:19530" in host_shell("node1", "cat", HAPROXY_CFG)  # in the endpoint's rotation
    # The connection settings come from the inventory: the ad-hoc facts ask node4's proxy too,
    # and every proxy's view lists the four, with no hand edit anywhere.
    proc, facts = proxy_facts("-i", str(JOINS))
    assert proc.returncode == 0 and sorted(facts) == sorted([*HOSTS, "node4"]), proc.stdout[-3000:]
    own = facts["node4"]["ansible_facts"]["milvus_cluster"]
    assert own["server"]["connected_to"] == f"{node4['ip']}:19530", own["server"]
    want = sorted([*PROXIES, f"{node4['ip']}:19530"])
    for host, res in facts.items():
        proxies = res["ansible_facts"]["milvus_cluster"]["proxies"]
        seen = sorted(p["address"] for p in proxies if not p["failed"])
        assert seen == want, (host, seen)

    # A quorum member named for retirement by mistake: one line, before anything changes.
    starts = container_starts()
    wrong = playbook("scale_in", inventories=(str(JOINS), str(OVERLAYS / "node3_retires.yml")))
    refusal = one_line_refusal(wrong, "retire node3 refused: node3 is still in ")
    assert "node3 runs vectorops-etcd, vectorops-kafka" in refusal and "replace_host.yml" in refusal, refusal
    assert "nothing was changed" in refusal, refusal
    assert container_starts() == starts and set(querynodes(cluster)) == set(nodes)

    plain = PlainSearchLoop(PILED, DIM, data[PILED], max_seconds=1500)
    try:
        retire = playbook("scale_in", inventories=(str(OVERLAYS / "node4_retires.yml"),))
        outlasted = plain.running()
    finally:
        plain.stop()
    retire_searches = plain.figures()
    (ROOT / ".cache" / "e2e" / "scale_in_playbook.json").write_text(json.dumps(retire.data))
    assert retire.rc == 0, retire.failure()
    assert outlasted, "a search loop stopped before the retirement ended"
    # node4's query node and node3's second were drained (the balance paused meanwhile, and
    # running again), then everything of the collection left node4; nothing else restarted.
    drained = retire.results("Drain each surplus query node")
    assert drained and drained[0]["changed"], drained
    assert etcd_get(f"{etcd_root()}/config/queryCoord/autoBalance") == ""
    assert set(querynodes(cluster)) == set(HOSTS)
    assert container_starts() == before
    assert served_rows(cluster, PILED) == data[PILED]  # count(*) at Strong consistency
    left = docker_on("node4", "ps", "-a", "--format", "{{.Names}}").split()
    assert left == [], left
    table = run(["docker", "exec", node4["container"], "nft", "list", "table", "inet", "vectorops"],
                timeout=60)
    assert table.returncode != 0, table.stdout
    assert node4["ip"] not in host_shell("node1", "nft", "list", "table", "inet", "vectorops")
    assert node4["ip"] not in host_shell("node1", "cat", HAPROXY_CFG)
    # The endpoint dropped node4's proxy before its processes were taken down.
    ran = retire.task_names()
    endpoint = [i for i, name in enumerate(ran) if name.startswith("vectorops.milvus.endpoint : ")]
    assert endpoint and max(endpoint) < ran.index("Take down each stateless project of the collection"), ran
    # Done is done: the next site.yml, on the inventory without node4, changes nothing.
    again = playbook("site")
    assert again.rc == 0 and again.changed == 0, (again.failure(), again.changed)
    assert container_starts() == before
    record(
        "scale",
        {
            "refused_scale_out_seconds": round(blocked.seconds, 1),
            "scale_out_seconds": round(grow.seconds, 1),
            "scale_out_slowest_tasks": grow.slowest(),
            "reached_per_host": sorted(r["reached"] for r in reached),
            "moves": len(balance["moves"]),
            "rows_per_node_after_scale_out": by_node,
            "rebalance_summary": balance["summary"],
            "scale_out_plain_client": grow_searches,
            "refusal": refusal,
            "retire_seconds": round(retire.seconds, 1),
            "retire_slowest_tasks": retire.slowest(),
            "retire_plain_client": retire_searches,
            "site_after_seconds": round(again.seconds, 1),
        },
    )
    failed = {"scale_out": grow_searches, "retire": retire_searches}
    kinds = {kind for f in failed.values() for kind in f["failed_by_kind"]}
    if kinds == {"short"}:
        pytest.xfail("searches answered with too few hits in the scale-out or the retirement (issue #20): "
                     + ", ".join(f"{k} {f['failed']} of {f['ok'] + f['failed']}" for k, f in failed.items()))
    assert all(f["failed"] == 0 and f["ok"] > 0 for f in failed.values()), failed


def test_root_password_rotation_through_the_milvus_phase(cluster):
    """Issue #12, item 2, at converge level: the Milvus phase with milvus_root_password_previous
    rotates root's password (changed), runs again with changed=0, and the old password is refused.
    Issue #18: the Milvus phase converges only the hosts with something to change.
    Last in this file: scale_out.yml has just converged every host to the inventory, so nothing
    else of the phase has anything to change."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    new = f"{PASSWORD}-rotated"
    rotate = {"milvus_root_password": new, "milvus_root_password_previous": PASSWORD}
    # Role tasks are named "<role> : <task>" in the JSON callback.
    task = "vectorops.milvus.milvus : Move root off the initial password (or the previous one, when rotating)"
    # The same runs show that the one-host-at-a-time pass visits only the hosts with something to
    # change: node2's index node, stopped by hand, is the only difference the first run finds
    # (compose's dry run), so node2 alone is converged, and it starts the index node again.
    converge = "Converge the host's Milvus stack"
    start = "vectorops.milvus.milvus : Start every Milvus process of the host"
    indexnode = "vectorops-milvus-indexnode-1-1"
    docker_on("node2", "stop", "-t", "10", indexnode)
    try:
        first = playbook("milvus", rotate)
        assert first.rc == 0, first.failure()
        assert first.hosts_ran(converge) == ["node2"], first.task_names()
        assert first.result(start)["changed"] is True
        assert docker_on("node2", "inspect", "-f", "{{.State.Running}}", indexnode).strip() == "true"
        assert first.result(task)["changed"] is True
        assert first.changed == 2, first.task_names()
        assert new not in first.stdout and new not in first.stderr  # no_log
        second = playbook("milvus", rotate)
        assert second.rc == 0, second.failure()
        assert second.hosts_ran(converge) == [], second.task_names()
        assert second.changed == 0 and second.result(task)["changed"] is False
        with pytest.raises(MilvusException):
            MilvusClient(uri=f"http://{PROXIES[1]}", user="root", password=PASSWORD, timeout=15)
        MilvusClient(uri=f"http://{PROXIES[1]}", user="root", password=new, timeout=15).close()
        record("password_rotation", {"rotate_s": round(first.seconds, 1), "again_s": round(second.seconds, 1),
                                     "converged": first.hosts_ran(converge)})
    finally:
        docker_on("node2", "start", indexnode)  # whatever the runs did: the next test's cluster is whole
        # The suite's inventory keeps the original password: put it back whatever happened.
        for current in (new, PASSWORD):
            try:
                client = MilvusClient(uri=f"http://{PROXIES[0]}", user="root", password=current, timeout=15)
            except MilvusException:
                continue
            if current != PASSWORD:
                client.update_password("root", current, PASSWORD)
            client.close()
            break
        MilvusClient(uri=f"http://{PROXIES[0]}", user="root", password=PASSWORD, timeout=15).close()


def test_make_test_leaves_a_user_sandbox_alone(cluster, data):
    """`make sandbox`, then `make test`, in small (issue #11): tools/test.sh in its `hosts` mode,
    the guard alone around creating and removing test hosts, with this cluster standing for the
    user's sandbox (VECTOROPS_USER_INVENTORY; it was built by the collection's playbooks as
    `make sandbox` builds one) and the Pulsar scenario's hosts, removed by then, as the test
    hosts. Afterwards this cluster's hosts, volumes and rows are all there, served again, and
    the other hosts are gone. Last in this file: every host of the cluster is stopped on the way."""
    pulsar = ROOT / "inventories" / "sandbox_pulsar"
    others = {h["container"] for h in inventory_hosts(pulsar).values()}
    # MADE: the spare host node4 is on the cluster's network too
    ours = {h["container"] for h in MADE.values()} | {"vectorops-test-s3", "vectorops-test-alerts"}
    volumes = {f"{h['container']}-{v}" for h in MADE.values() for v in ("docker", "data")}

    def docker(*args: str) -> set[str]:
        return set(run(["docker", *args], timeout=120, check=True).stdout.split())

    assert not others & docker("ps", "-a", "--format", "{{.Names}}"), "the Pulsar scenario left its hosts"
    start = time.monotonic()
    cycle = run(["bash", "tools/test.sh", "hosts"], timeout=1200,
                env=project_env(VECTOROPS_USER_INVENTORY=str(INVENTORY), VECTOROPS_TEST_HOSTS=str(pulsar)))
    cycle_s = time.monotonic() - start
    out = cycle.stdout + cycle.stderr
    assert cycle.returncode == 0, out[-4000:]
    assert f"[test] stopping your sandbox ({INVENTORY}: {len(ours)} containers" in out, out[-3000:]
    assert "[test] started your sandbox again" in out, out[-3000:]
    assert f"test hosts: create, then remove ({pulsar})" in out, out[-3000:]
    assert ours <= docker("ps", "--format", "{{.Names}}")
    assert volumes <= docker("volume", "ls", "--format", "{{.Name}}")
    assert not others & docker("ps", "-a", "--format", "{{.Names}}"), "the test hosts were not removed"

    # Every host was stopped (killed after 30 s) and started again: the cluster serves the same
    # rows once its processes are back (bounded wait), through a fresh client each time.
    def served() -> int | None:
        try:
            conn = connect()
        except Exception:  # noqa: BLE001 - not serving yet
            return None
        try:
            return served_rows(conn, PILED)
        except Exception:  # noqa: BLE001 - not serving yet
            return None
        finally:
            conn.close()

    back = time.monotonic()
    wait_for(f"{PILED} serving its {data[PILED]} rows again", lambda: served() == data[PILED],
             timeout=420, every=5)
    record("isolation", {"cycle_s": round(cycle_s, 1), "serving_again_s": round(time.monotonic() - back, 1)})

    # The guard never makes or removes the user's own hosts.
    same = project_env(VECTOROPS_USER_INVENTORY=str(INVENTORY), VECTOROPS_TEST_HOSTS=str(INVENTORY))
    refused = run(["bash", "tools/test.sh", "hosts"], timeout=300, env=same)
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "refusing: the test hosts" in refused.stderr, refused.stderr
    assert ours <= docker("ps", "--format", "{{.Names}}")
