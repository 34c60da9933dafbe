"""The host firewall's rules (plugins/filter/firewall.py) from the constants the collection ships:
which class each port falls in, and the table's text. The real kernel's answer to that text is
tests/integration/test_firewall_rules.py; the sandbox's is the e2e firewall test."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.vectorops.milvus.plugins.filter.firewall import firewall_ports, firewall_ruleset

from tests.conftest import ROOT

CLUSTER = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())
PORT_MAP = {name: value for name, value in CLUSTER.items()
            if name.startswith("cluster_") and name.endswith("_port")}
MILVUS = CLUSTER["cluster_milvus_ports"]
PORTS = firewall_ports(PORT_MAP, MILVUS)


def test_each_shipped_port_has_its_class():
    assert PORTS["client"] == [19500, 19530]  # the endpoint's port, the proxies' port
    assert PORTS["console"] == [9001]
    internal = set(PORTS["internal"])
    assert {2379, 2380, 9092, 9093, 9000, 2181, 2888, 3888, 3181, 6650, 8080} <= internal
    assert {19529, 53100, 19531, 13333} <= internal
    # A host's second and ninth query node (gRPC +10 per instance), and no tenth.
    assert {21123, 21133, 21203} <= internal and 21213 not in internal
    metrics = set(PORTS["metrics"])
    assert {9091, 9180, 9181, 9182, 9183, 9191, 9199, 9201, 9211, 9221} <= metrics and 9200 not in metrics
    # node exporter and the brokers' exporter are scraped like Milvus; Prometheus and
    # Alertmanager are the cluster's own.
    assert {9100, 9308} <= metrics and {9090, 9094, 9097} <= internal
    # The proxy and the coordinators run once per host: their first port alone.
    assert 9092 not in metrics and 19540 not in internal and 53110 not in internal


def test_no_port_is_in_two_classes_and_each_cluster_port_is_guarded():
    seen = [p for ports in PORTS.values() for p in ports]
    assert len(seen) == len(set(seen))
    assert {int(v) for v in PORT_MAP.values()} <= set(seen)
    assert {int(p) for ports in MILVUS.values() for p in ports.values()} <= set(seen)


def test_a_port_in_two_classes_or_out_of_range_is_named():
    with pytest.raises(AnsibleFilterError, match=r"^firewall_ports: port 9091 is in two classes, metrics"):
        firewall_ports({**PORT_MAP, "cluster_s3_port": 9091}, MILVUS)
    with pytest.raises(AnsibleFilterError, match=r"^firewall_ports: cluster_etcd_client_port is '23x9'"):
        firewall_ports({**PORT_MAP, "cluster_etcd_client_port": "23x9"}, MILVUS)
    with pytest.raises(AnsibleFilterError, match="would pass 65535"):
        firewall_ports(PORT_MAP, {**MILVUS, "querynode": {"grpc": 65530, "metrics": 9191}})


def rules(**kw) -> list[str]:
    hosts = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    args = {"networks": {"client": ["0.0.0.0/0", "::/0"], "internal": hosts},
            "admin_networks": ["192.0.2.10/32"], **kw}
    return firewall_ruleset(PORTS, **args).splitlines()


def test_the_table_replaces_itself_in_one_transaction():
    text = rules()
    assert text[:3] == ["table inet vectorops", "delete table inet vectorops", "table inet vectorops {"]
    assert text[4] == "    type filter hook input priority filter - 10; policy accept;"


def test_order_admin_first_then_each_class_with_its_drop():
    body = [line.strip() for line in rules() if "comment" in line]
    assert body[0] == 'ip saddr { 192.0.2.10/32 } accept comment "admin"'
    kinds = [line.rsplit('comment "', 1)[1].rstrip('"') for line in body]
    assert kinds == ["admin", "client", "client", "client: everyone else", "metrics: everyone else",
                     "internal", "internal: everyone else", "console: everyone else"]
    internal = next(line for line in body if line.endswith('comment "internal"'))
    # Hosts merged into networks; ports as ranges.
    assert internal.startswith("ip saddr { 10.0.0.11/32, 10.0.0.12/31 } tcp dport { 2181, 2379-2380, ")
    assert not any("ip6 saddr" in line and "internal" in line for line in body)


def test_drop_keeps_ssh_and_icmp_and_needs_no_per_class_drop():
    body = [line.strip() for line in rules(policy="drop", ssh_port=2222, ssh_networks=["198.51.100.0/24"])]
    assert "type filter hook input priority filter - 10; policy drop;" in body
    assert 'ip saddr { 198.51.100.0/24 } tcp dport 2222 accept comment "ssh"' in body
    assert 'meta l4proto { icmp, ipv6-icmp } accept comment "icmp"' in body
    # keepalived's VRRP adverts between the cluster's hosts (no port to guard)
    assert [line for line in body if line.endswith('comment "vrrp"')] == [
        'ip saddr { 10.0.0.11/32, 10.0.0.12/31 } meta l4proto vrrp accept comment "vrrp"']
    assert not any("everyone else" in line for line in body)


def test_monitoring_networks_open_the_metrics_ports_only():
    body = [line.strip() for line in rules(networks={"metrics": ["10.30.0.5"]})]
    metrics = next(line for line in body if line.endswith('comment "metrics"'))
    assert metrics.startswith("ip saddr { 10.30.0.5/32 } tcp dport { 9091, 9100, 9180-9183, 9191-9199, ")
    assert not any(line.endswith('comment "client"') for line in body)


@pytest.mark.parametrize(("kw", "message"), [
    ({"admin_networks": ["10.0.0.300"]}, r"firewall_admin_networks holds '10.0.0.300', which is not an"),
    ({"admin_networks": "10.0.0.1"}, r"firewall_admin_networks must be a list"),
    ({"networks": {"clients": ["10.0.0.1"]}}, r"unknown port classes clients"),
    ({"policy": "reject"}, r"policy must be accept or drop, not 'reject'"),
    ({"table": "vectorops; flush ruleset"}, r"is not a table name"),
])
def test_bad_settings_fail_in_one_line(kw, message):
    with pytest.raises(AnsibleFilterError, match=message) as err:
        rules(**kw)
    assert "\n" not in str(err.value)


def test_the_playbook_loads_one_host_at_a_time_and_only_where_a_load_is_needed():
    """playbooks/firewall.yml: the play on every host at once runs the prepare entry point, which
    never reaches apply.yml (the load); the load's play takes one host at a time, stops at the first
    failure, and includes apply.yml only on a host whose comparison asked for a load."""
    plays = yaml.safe_load((ROOT / "playbooks/firewall.yml").read_text())
    steps = [(play, task["ansible.builtin.include_role"]) for play in plays for task in play["tasks"]]
    assert [role["tasks_from"] for _play, role in steps] == ["prepare.yml", "apply.yml"]
    (first, _prep), (second, _load) = steps
    assert "serial" not in first and first["any_errors_fatal"] is True
    assert second["serial"] == 1 and second["max_fail_percentage"] == 0
    assert second["tasks"][0]["when"] == "__firewall_load_needed | default(false)"
    tasks = ROOT / "roles/firewall/tasks"
    reached, queue = set(), ["prepare.yml"]
    while queue:  # every task file the prepare entry point includes, however deep
        name = queue.pop()
        reached.add(name)
        for task in yaml.safe_load((tasks / name).read_text()) or []:
            for key in ("ansible.builtin.include_tasks", "ansible.builtin.import_tasks"):
                if key in task and task[key] not in reached:
                    queue.append(task[key])
    assert "apply.yml" not in reached and "keep.yml" not in reached, reached
