"""The monitoring role's alert rules, as the test inventory renders them, under `promtool test
rules` (in the sandbox's Prometheus image): each alert fires on series that breach its threshold,
and stays quiet on series that do not."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import run
from tests.sandbox.conftest import docker

pytestmark = pytest.mark.sandbox


def series(text: str, values: str) -> dict:
    return {"series": text, "values": values}


def up(host: str, role: str, process: str, instance: str, values: str) -> dict:
    labels = f'job="milvus", host="{host}", role="{role}", process="{process}", instance="{instance}"'
    return series(f"up{{{labels}}}", values)


def entities(host: str, process: str, rows: int) -> dict:
    labels = f'job="milvus", host="{host}", role="querynode", process="{process}", collection_id="1"'
    return series(f"milvus_querynode_entity_num{{{labels}}}", f"{rows}x60")


def latency(buckets: dict[str, int]) -> list[dict]:
    """A search latency histogram whose buckets grow by these counts every 15 s."""
    labels = 'job="milvus", host="node1", query_type="search"'
    return [series(f'milvus_proxy_sq_latency_bucket{{{labels}, le="{le}"}}', f"0+{step}x60")
            for le, step in buckets.items()]


def fires(name: str, at: str, labels: dict, summary: str) -> dict:
    expected = [{"exp_labels": labels, "exp_annotations": {"summary": summary}}]
    return {"eval_time": at, "alertname": name, "exp_alerts": expected}


def quiet(name: str, at: str) -> dict:
    return {"eval_time": at, "alertname": name, "exp_alerts": []}


def case(inputs: list[dict], checks: list[dict]) -> dict:
    return {"interval": "15s", "input_series": inputs, "alert_rule_test": checks}


WARN, CRIT = {"severity": "warning"}, {"severity": "critical"}
NODE = {"job": "node"}
INSERTS = 'milvus_proxy_insert_vectors_count{job="milvus", host="%s"}'
KAFKA = 'kafka_%s{job="kafka", host="%s"}'
DISK = 'node_filesystem_%s_bytes{job="node", host="node1", mountpoint="/data", fstype="ext4"}'

TESTS = [
    # A query node stops answering: nothing within the 1 m `for`, an alert after it.
    case([up("node3", "querynode", "querynode-1", "10.213.4.13:9191", "1 1 0x20"),
          up("node1", "proxy", "proxy", "10.213.4.11:9091", "1x22")],
         [quiet("MilvusProcessDown", "45s"),
          fires("MilvusProcessDown", "2m",
                {**CRIT, "job": "milvus", "host": "node3", "role": "querynode", "process": "querynode-1",
                 "instance": "10.213.4.13:9191"},
                "Milvus querynode-1 on node3 does not answer (10.213.4.13:9191)")]),
    # Rows per query node: 200, 100, and a serving query node with none (no series of its own).
    case([entities("node1", "querynode-1", 200), entities("node2", "querynode-1", 100)]
         + [up(h, "querynode", "querynode-1", f"{h}:9191", "1x60") for h in ("node1", "node2", "node3")],
         [fires("MilvusQueryNodeImbalance", "12m", WARN,
                "Rows per query node vary by 81.65% of the mean (limit 30.0%); "
                "playbooks/rebalance.yml evens them out")]),
    # Balanced: 100 rows on each of three query nodes.
    case([entities(h, "querynode-1", 100) for h in ("node1", "node2", "node3")],
         [quiet("MilvusQueryNodeImbalance", "12m")]),
    # Every search between 500 ms and 1 s: p99 over the 500 ms limit; every search under 100 ms.
    case(latency({"100": 0, "500": 0, "1000": 10, "+Inf": 10}),
         [fires("MilvusSearchLatencyHigh", "12m", WARN, "Search p99 is 995 ms (limit 500 ms)")]),
    case(latency({"100": 10, "500": 10, "1000": 10, "+Inf": 10}), [quiet("MilvusSearchLatencyHigh", "12m")]),
    # Inserts at 1000 rows/s, under the 5000 rows/s limit; at 6000 rows/s and none at all.
    case([series(INSERTS % "node1", "0+15000x60")],
         [fires("MilvusInsertThroughputLow", "12m", WARN, "Inserts run at 1000 rows/s (limit 5000 rows/s)")]),
    case([series(INSERTS % "node1", "0+90000x60"), series(INSERTS % "node2", "0x60")],
         [quiet("MilvusInsertThroughputLow", "12m")]),
    # Two of three etcd members gone: the quorum's alert, and the survivor has no leader.
    case([series('up{job="etcd", host="node1", instance="a:2379"}', "1x20"),
          series('up{job="etcd", host="node2", instance="b:2379"}', "0x20"),
          series('up{job="etcd", host="node3", instance="c:2379"}', "0x20"),
          series('etcd_server_has_leader{job="etcd", host="node1", instance="a:2379"}', "0x20")],
         [fires("EtcdQuorumLost", "2m", CRIT,
                "Only 1 etcd members answer, fewer than a quorum; Milvus cannot change its metadata"),
          fires("EtcdNoLeader", "2m", {**CRIT, "job": "etcd", "host": "node1", "instance": "a:2379"},
                "etcd member on node1 has no leader")]),
    # One of three etcd members gone: a quorum remains.
    case([series('up{job="etcd", host="node1", instance="a:2379"}', "1x20"),
          series('up{job="etcd", host="node2", instance="b:2379"}', "1x20"),
          series('up{job="etcd", host="node3", instance="c:2379"}', "0x20")],
         [quiet("EtcdQuorumLost", "2m")]),
    # A broker down; another with under-replicated partitions; offline partitions; no controller.
    case([series('up{job="kafka", host="node3", instance="c:9308"}', "0x40"),
          series(KAFKA % ("server_replicamanager_underreplicatedpartitions", "node1"), "4x40"),
          series(KAFKA % ("controller_kafkacontroller_offlinepartitionscount", "node1"), "2x40"),
          series(KAFKA % ("controller_kafkacontroller_activecontrollercount", "node1"), "0x40"),
          series(KAFKA % ("controller_kafkacontroller_activecontrollercount", "node2"), "0x40")],
         [fires("MessageQueueBrokerDown", "2m",
                {**CRIT, "job": "kafka", "host": "node3", "instance": "c:9308"},
                "kafka broker on node3 does not answer (c:9308)"),
          quiet("KafkaUnderReplicatedPartitions", "4m"),
          fires("KafkaUnderReplicatedPartitions", "6m", {**WARN, "host": "node1"},
                "4 partitions led by the broker on node1 are under-replicated"),
          fires("KafkaOfflinePartitions", "2m", CRIT,
                "2 Kafka partitions have no leader: Milvus cannot write to them"),
          fires("KafkaNoActiveController", "2m", CRIT, "0 Kafka controllers are active, not one")]),
    # A whole Kafka cluster: one controller, every replica in sync.
    case([series(KAFKA % ("server_replicamanager_underreplicatedpartitions", "node1"), "0x40"),
          series(KAFKA % ("controller_kafkacontroller_offlinepartitionscount", "node1"), "0x40"),
          series(KAFKA % ("controller_kafkacontroller_activecontrollercount", "node1"), "1x40"),
          series(KAFKA % ("controller_kafkacontroller_activecontrollercount", "node2"), "0x40")],
         [quiet("KafkaUnderReplicatedPartitions", "8m"), quiet("KafkaOfflinePartitions", "8m"),
          quiet("KafkaNoActiveController", "8m")]),
    # The watchdog's loop guard holds a container; a disk 90% full; 5% of memory left; a lost host.
    case([series('vectorops_watchdog_held{job="node", host="node2", container="vectorops-x-1"}', "1x40"),
          series(DISK % "avail", "10x40"), series(DISK % "size", "100x40"),
          series('node_memory_MemAvailable_bytes{job="node", host="node2"}', "5x40"),
          series('node_memory_MemTotal_bytes{job="node", host="node2"}', "100x40"),
          series('up{job="node", host="node3", instance="c:9100"}', "0x40"),
          series('vectorops_watchdog_deferred{job="node", host="node1", container="vectorops-x-1"}',
                 "0 0 1x40")],
         [fires("ContainerRestartLoop", "1m", {**CRIT, **NODE, "host": "node2", "container": "vectorops-x-1"},
                "vectorops-x-1 on node2 stays unhealthy after the watchdog's restarts; it is left alone"),
          fires("HostDiskFilling", "6m",
                {**WARN, **NODE, "host": "node1", "mountpoint": "/data", "fstype": "ext4"},
                "/data on node1 is 90% full"),
          fires("HostMemoryPressure", "6m", {**WARN, **NODE, "host": "node2"},
                "Host node2 has 5% of its memory available"),
          fires("HostDown", "2m", {**CRIT, **NODE, "host": "node3", "instance": "c:9100"},
                "Host node3 does not answer (its node exporter, c:9100)"),
          quiet("ContainerUnhealthyOnSeveralHosts", "15s"),
          fires("ContainerUnhealthyOnSeveralHosts", "1m",
                {**CRIT, **NODE, "host": "node1", "container": "vectorops-x-1"},
                "vectorops-x-1 on node1 is unhealthy too, and waits for another host's restart of it:"
                " look for a cause the hosts share")]),
]


@pytest.fixture(scope="module")
def rules(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("rules")
    res = run(["ansible-playbook", "-i", "inventories/test", "tests/roles/playbooks/render_monitoring.yml",
               "-e", f"render_dir={out}"], timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    return out / "node1"


def promtool_test(images, folder, tests: list[dict]):
    (folder / "rules_test.yml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yml"], "evaluation_interval": "15s", "tests": tests}, sort_keys=False))
    return docker("run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "/bin/promtool",
                  "-v", f"{folder}:/t:ro", "-w", "/t", images["monitoring"]["image"], "test", "rules",
                  "rules_test.yml", check=False)


def test_each_alert_fires_on_a_breach_and_stays_quiet_otherwise(images, rules):
    res = promtool_test(images, rules, TESTS)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "SUCCESS" in res.stdout


def test_a_wrong_expectation_fails(images, rules, tmp_path):
    # The check can fail: a balanced cluster expected to raise the imbalance alert.
    (tmp_path / "rules.yml").write_text((rules / "rules.yml").read_text())
    wrong = [{**TESTS[2], "alert_rule_test": [fires("MilvusQueryNodeImbalance", "12m", WARN, "any")]}]
    res = promtool_test(images, tmp_path, wrong)
    assert res.returncode != 0
    assert "MilvusQueryNodeImbalance" in res.stdout + res.stderr


# Series the overview page reads, as recording rules over constants: two query nodes (200 and
# 100 rows), their spread, and a proxy that is up.
def labelled(value: float, **labels: str) -> str:
    """A PromQL constant with these labels."""
    expr = f"vector({value})"
    for name, text in labels.items():
        expr = f'label_replace({expr}, "{name}", "{text}", "", "")'
    return expr


PAGE_RULES = {"groups": [{"name": "page", "interval": "2s", "rules": [
    {"record": "vectorops:querynode_rows:sum", "expr": labelled(200, host="node1", process="querynode-1")},
    {"record": "vectorops:querynode_rows:sum", "expr": labelled(100, host="node2", process="querynode-1")},
    {"record": "vectorops:querynode_rows:cv", "expr": "vector(0.3333)"},
    {"record": "up", "expr": labelled(1, host="node2", job="milvus", role="proxy")},
]}]}


def test_the_overview_page_renders_rows_as_bars(images, tmp_path):
    """roles/monitoring/files/consoles/vectorops.html under Prometheus itself (its template
    language is checked only when the page is asked for)."""
    import shutil
    import time

    from tests.conftest import ROOT

    shutil.copytree(ROOT / "roles" / "monitoring" / "files" / "consoles", tmp_path / "consoles")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(PAGE_RULES))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "5s", "evaluation_interval": "2s"},
        "rule_files": ["/etc/prometheus/rules.yml"]}))
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    name = f"vectorops-pagecheck-{int(time.time())}"
    docker("run", "-d", "--rm", "--name", name, "--network", "none", "-v", f"{tmp_path}:/etc/prometheus:ro",
           images["monitoring"]["image"], "--config.file=/etc/prometheus/prometheus.yml",
           "--storage.tsdb.path=/prometheus", "--web.console.templates=/etc/prometheus/consoles")
    try:
        page = ""
        deadline = time.monotonic() + 60
        while 'class="num rows">100<' not in page and time.monotonic() < deadline:
            time.sleep(2)
            res = docker("exec", name, "wget", "-q", "-O", "-", "http://127.0.0.1:9090/consoles/vectorops.html",
                         check=False)
            page = res.stdout
        assert 'class="num rows">200<' in page and 'class="num rows">100<' in page, page[-3000:]
        assert 'style="width: 100.0%"' in page and 'style="width: 50.0%"' in page
        assert "Rows vary by 33.33%" in page
        assert '<td class="none" colspan="4">none</td>' in page  # no alert fires
        assert "error" not in page.lower(), page[-3000:]
    finally:
        docker("rm", "-f", name, check=False)


def test_the_grafana_dashboards_queries_are_promql(images, tmp_path):
    """Every query of roles/monitoring/files/grafana/vectorops-milvus.json parses (as a recording
    rule under promtool); the e2e tier runs them against the cluster's Prometheus."""
    import json

    from tests.conftest import ROOT

    board = json.loads((ROOT / "roles/monitoring/files/grafana/vectorops-milvus.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"]) and exprs
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    tmp_path.chmod(0o755)
    res = docker("run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "/bin/promtool",
                 "-v", f"{tmp_path}:/t:ro", images["monitoring"]["image"], "check", "rules", "/t/rules.yml",
                 check=False)
    assert res.returncode == 0 and f"SUCCESS: {len(exprs)} rules found" in res.stdout, res.stdout + res.stderr
