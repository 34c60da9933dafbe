"""The monitoring role: scrape targets derived from the inventory (filter monitoring_scrape_configs),
and its files as the test and prod inventories render them (prometheus.yml, the rules with the
cluster role's thresholds, alertmanager.yml, the compose files)."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.vectorops.milvus.plugins.filter.monitoring import (
    monitoring_scrape_configs,
    monitoring_target_count,
)

from tests.conftest import compose_config, run

PORTS = {"etcd": 2379, "node_exporter": 9100, "prometheus": 9090, "alertmanager": 9097,
         "kafka_exporter": 9308, "pulsar_web": 8080}


def svc(name: str, role: str, metrics: int) -> dict:
    return {"name": name, "role": role, "ports": {"metrics": metrics}}


HOSTVARS = {
    "a": {"cluster_host_ip": "192.0.2.1",
          "_milvus_services": [svc("mixcoord", "mixcoord", 9180), svc("proxy", "proxy", 9091),
                               svc("querynode-1", "querynode", 9191), svc("querynode-2", "querynode", 9192)]},
    "b": {"cluster_host_ip": "192.0.2.2", "_milvus_services": [svc("proxy", "proxy", 9091)]},
}
GROUPS = {"milvus_cluster": ["b", "a"], "etcd": ["a", "b"], "kafka": ["a", "b"], "pulsar": ["b"],
          "monitoring": ["a"]}


def targets(configs: list[dict], job: str) -> dict[str, dict]:
    found = next(j for j in configs if j["job_name"] == job)
    return {g["targets"][0]: g["labels"] for g in found["static_configs"]}


def test_every_placed_process_host_and_member_is_a_target():
    configs = monitoring_scrape_configs(HOSTVARS, GROUPS, PORTS)
    jobs = ["milvus", "etcd", "kafka", "node", "prometheus", "alertmanager"]
    assert [j["job_name"] for j in configs] == jobs
    assert targets(configs, "milvus") == {
        "192.0.2.1:9180": {"host": "a", "role": "mixcoord", "process": "mixcoord"},
        "192.0.2.1:9091": {"host": "a", "role": "proxy", "process": "proxy"},
        "192.0.2.1:9191": {"host": "a", "role": "querynode", "process": "querynode-1"},
        "192.0.2.1:9192": {"host": "a", "role": "querynode", "process": "querynode-2"},
        "192.0.2.2:9091": {"host": "b", "role": "proxy", "process": "proxy"},
    }
    assert targets(configs, "etcd") == {"192.0.2.1:2379": {"host": "a"}, "192.0.2.2:2379": {"host": "b"}}
    assert targets(configs, "node") == {"192.0.2.1:9100": {"host": "a"}, "192.0.2.2:9100": {"host": "b"}}
    assert targets(configs, "alertmanager") == {"192.0.2.1:9097": {"host": "a"}}
    assert targets(configs, "kafka") == {"192.0.2.1:9308": {"host": "a"}, "192.0.2.2:9308": {"host": "b"}}
    assert monitoring_target_count(configs) == 5 + 2 + 2 + 2 + 1 + 1


def test_the_message_queue_chosen_is_scraped():
    pulsar = monitoring_scrape_configs(HOSTVARS, GROUPS, PORTS, mq_type="pulsar")
    job = next(j for j in pulsar if j["job_name"] == "pulsar")
    assert job["metrics_path"] == "/metrics/"
    assert targets(pulsar, "pulsar") == {"192.0.2.2:8080": {"host": "b"}}
    assert "kafka" not in [j["job_name"] for j in pulsar]
    # A broker without metrics (kafka_metrics_port ""): no Kafka job.
    quiet = monitoring_scrape_configs(HOSTVARS, GROUPS, {**PORTS, "kafka_exporter": ""})
    assert "kafka" not in [j["job_name"] for j in quiet]


def test_a_broker_is_scraped_on_its_own_metrics_port():
    # kafka_metrics_port is the kafka role's per-host setting: monitoring follows it, and a
    # broker that exports nothing ("") is no target.
    hostvars = {**HOSTVARS, "a": {**HOSTVARS["a"], "kafka_metrics_port": ""},
                "b": {**HOSTVARS["b"], "kafka_metrics_port": 9400}}
    configs = monitoring_scrape_configs(hostvars, GROUPS, PORTS)
    assert targets(configs, "kafka") == {"192.0.2.2:9400": {"host": "b"}}
    bad = {**hostvars, "b": {**HOSTVARS["b"], "kafka_metrics_port": "94x0"}}
    with pytest.raises(AnsibleFilterError, match=r"port b kafka metrics is '94x0'"):
        monitoring_scrape_configs(bad, GROUPS, PORTS)


def test_bad_input_is_named_in_one_line():
    with pytest.raises(AnsibleFilterError, match=r"host b has no Milvus process list"):
        monitoring_scrape_configs({**HOSTVARS, "b": {"cluster_host_ip": "192.0.2.2"}}, GROUPS, PORTS)
    with pytest.raises(AnsibleFilterError, match=r"host b has no cluster_host_ip"):
        monitoring_scrape_configs({**HOSTVARS, "b": {"_milvus_services": []}}, GROUPS, PORTS)
    with pytest.raises(AnsibleFilterError, match=r"etcd host c is not in milvus_cluster"):
        monitoring_scrape_configs(HOSTVARS, {**GROUPS, "etcd": ["c"]}, PORTS)
    with pytest.raises(AnsibleFilterError, match=r"port node_exporter is '91x0'"):
        monitoring_scrape_configs(HOSTVARS, GROUPS, {**PORTS, "node_exporter": "91x0"})
    with pytest.raises(AnsibleFilterError, match=r"ports lack alertmanager"):
        monitoring_scrape_configs(HOSTVARS, GROUPS, {k: v for k, v in PORTS.items() if k != "alertmanager"})
    with pytest.raises(AnsibleFilterError, match=r"kafka host c is not in milvus_cluster"):
        monitoring_scrape_configs(HOSTVARS, {**GROUPS, "kafka": ["c"]}, PORTS)
    with pytest.raises(AnsibleFilterError, match=r"mq_type must be kafka or pulsar, not 'rocksmq'"):
        monitoring_scrape_configs(HOSTVARS, GROUPS, PORTS, mq_type="rocksmq")
    with pytest.raises(AnsibleFilterError, match=r"milvus_cluster group holds no host"):
        monitoring_scrape_configs(HOSTVARS, {"milvus_cluster": []}, PORTS)


def render(out, inventory: str):
    res = run(["ansible-playbook", "-i", inventory, "tests/roles/playbooks/render_monitoring.yml",
               "-e", f"render_dir={out}"], timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    return out


@pytest.fixture(scope="module")
def test_inv(tmp_path_factory):
    return render(tmp_path_factory.mktemp("monitoring-test"), "inventories/test")


@pytest.fixture(scope="module")
def prod_inv(tmp_path_factory):
    return render(tmp_path_factory.mktemp("monitoring-prod"), "prod")


def test_the_test_inventory_scrapes_each_process_the_milvus_role_runs(test_inv):
    prom = yaml.safe_load((test_inv / "node1" / "prometheus.yml").read_text())
    milvus = targets(prom["scrape_configs"], "milvus")
    # node1 runs the coordinators, a proxy, a query node and a data node; node2 the same and an
    # index node; node3 a proxy, a query node and an index node (inventories/test/hosts.yml).
    per_host = {h: sorted(lab["process"] for lab in milvus.values() if lab["host"] == h)
                for h in ("node1", "node2", "node3")}
    assert per_host == {
        "node1": ["datanode-1", "mixcoord", "proxy", "querynode-1"],
        "node2": ["datanode-1", "indexnode-1", "mixcoord", "proxy", "querynode-1"],
        "node3": ["indexnode-1", "proxy", "querynode-1"],
    }
    assert "10.213.4.13:9191" in milvus
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["10.213.4.11:9097"]
    assert targets(prom["scrape_configs"], "kafka")["10.213.4.12:9308"] == {"host": "node2"}
    assert monitoring_target_count(prom["scrape_configs"]) == 12 + 3 + 3 + 3 + 1 + 1
    # Only the monitoring host runs Prometheus; every host runs node exporter.
    assert not (test_inv / "node2" / "prometheus.yml").exists()
    for host in ("node1", "node2", "node3"):
        assert compose_config(test_inv / host / "node-exporter.compose.yml").returncode == 0


def test_rules_carry_the_cluster_roles_thresholds(test_inv, prod_inv):
    for out in (test_inv / "node1", prod_inv / "milvus-01"):
        rules = yaml.safe_load((out / "rules.yml").read_text())
        alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
        assert {"MilvusProcessDown", "MilvusQueryNodeImbalance", "MilvusSearchLatencyHigh",
                "MilvusInsertThroughputLow", "EtcdMemberDown", "EtcdNoLeader", "EtcdQuorumLost", "HostDown",
                "HostDiskFilling", "HostMemoryPressure", "ContainerRestartLoop", "MessageQueueBrokerDown",
                "KafkaUnderReplicatedPartitions", "KafkaOfflinePartitions",
                "KafkaNoActiveController"} <= set(alerts)
        assert "vectorops:querynode_rows:cv > 0.3" in alerts["MilvusQueryNodeImbalance"]["expr"]
        assert "> 500" in alerts["MilvusSearchLatencyHigh"]["expr"]
        assert "< 5000" in alerts["MilvusInsertThroughputLow"]["expr"]
        assert ">= 1" in alerts["MilvusProcessDown"]["expr"]
        # Prometheus's own templates survive Jinja: the summary names the process and the host.
        summary = alerts["MilvusProcessDown"]["annotations"]["summary"]
        assert "{{ $labels.process }} on {{ $labels.host }}" in summary


def test_alerts_go_to_the_webhook_only_when_one_is_given(test_inv, prod_inv):
    sandbox = yaml.safe_load((test_inv / "node1" / "alertmanager.yml").read_text())
    assert sandbox["route"]["receiver"] == "webhook"
    hook = next(r for r in sandbox["receivers"] if r["name"] == "webhook")
    assert hook["webhook_configs"] == [{"url": "http://10.213.4.21:9099/", "send_resolved": True}]
    prod = yaml.safe_load((prod_inv / "milvus-01" / "alertmanager.yml").read_text())
    assert prod["route"]["receiver"] == "none" and [r["name"] for r in prod["receivers"]] == ["none"]


def test_compose_files_run_the_images_each_inventory_names(test_inv, prod_inv):
    sandbox = yaml.safe_load((test_inv / "node1" / "compose.yml").read_text())["services"]
    assert {s["image"] for s in sandbox.values()} == {"vectorops/monitoring:2.53"}
    prod = yaml.safe_load((prod_inv / "milvus-01" / "compose.yml").read_text())["services"]
    assert prod["prometheus"]["image"] == "quay.io/prometheus/prometheus:v2.53.3"
    assert prod["alertmanager"]["image"] == "quay.io/prometheus/alertmanager:v0.28.1"
    # One Alertmanager: no gossip port is opened.
    assert "--cluster.listen-address=" in prod["alertmanager"]["command"]
    for out in (test_inv / "node1", prod_inv / "milvus-01"):
        assert compose_config(out / "compose.yml").returncode == 0
