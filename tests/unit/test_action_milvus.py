"""The Milvus modules' action plugin: the connection it derives from an inventory, the alerts and
the summary of milvus_facts (the module run itself: tests/integration/test_facts.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.vectorops.milvus.plugins.action.milvus import (
    ConnectionVarError,
    connection_defaults,
    inventory_proxies,
    judge,
)
from ansible_collections.vectorops.milvus.plugins.plugin_utils._inventory import InventoryVarError

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-Unit-1"


def inventory(**extra: Any) -> dict[str, Any]:
    """task_vars of a three-proxy inventory like inventories/sandbox (hostvars already templated)."""
    hostvars = {
        "node1": {"ansible_host": "vectorops-node1", "cluster_host_ip": "10.0.0.11"},
        "node2": {"ansible_host": "vectorops-node2", "cluster_host_ip": "10.0.0.12"},
        "node3": {"ansible_host": "10.0.0.13"},  # no cluster address: the inventory address
        "etcdonly": {"ansible_host": "10.0.0.20"},
    }
    tv: dict[str, Any] = {
        "groups": {"milvus_proxy": ["node1", "node2", "node3"], "etcd": ["etcdonly"]},
        "hostvars": hostvars,
        "milvus_root_password": PASSWORD,
    }
    tv.update(extra)
    return tv


def derive(
    module: str = "milvus_cluster_info",
    args: dict[str, Any] | None = None,
    target: str = "node2",
    environ: dict[str, str] | None = None,
    **tv: Any,
) -> dict[str, Any]:
    task_vars = inventory(**tv)
    return connection_defaults(module, args or {}, task_vars, task_vars.get, target, environ or {})


def test_the_targets_own_proxy_first_then_the_others():
    got = derive(target="node2")
    assert got == {
        "hosts": ["10.0.0.12:19530", "10.0.0.11:19530", "10.0.0.13:19530"],
        "user": "root",
        "password": PASSWORD,
    }
    # a host that is not a proxy (or the controller, delegate_to: localhost): inventory order
    for target in ("etcdonly", "localhost"):
        assert derive(target=target)["hosts"] == ["10.0.0.11:19530", "10.0.0.12:19530", "10.0.0.13:19530"]


def test_the_endpoint_first_when_the_inventory_has_one():
    endpoint = {"groups": {"milvus_proxy": ["node1", "node2", "node3"], "endpoint": ["node1", "node2"]},
                "endpoint_vip": "10.0.0.100"}
    assert derive(target="node2", **endpoint)["hosts"] == [
        "10.0.0.100:19500", "10.0.0.12:19530", "10.0.0.11:19530", "10.0.0.13:19530"]
    other_port = derive(target="localhost", cluster_endpoint_port=29500, **endpoint)
    assert other_port["hosts"][0] == "10.0.0.100:29500"
    # milvus_facts still asks the target's own proxy alone; no VIP, or no endpoint group: proxies only
    assert derive("milvus_facts", target="node3", **endpoint)["hosts"] == ["10.0.0.13:19530"]
    no_vip = derive(target="localhost", endpoint_vip="", groups=endpoint["groups"])
    assert no_vip["hosts"][0] == "10.0.0.11:19530"
    assert derive(target="localhost", endpoint_vip="10.0.0.100")["hosts"][0] == "10.0.0.11:19530"


def test_milvus_facts_asks_only_the_targets_own_proxy():
    assert derive("milvus_facts", target="node3")["hosts"] == ["10.0.0.13:19530"]
    # not a proxy host: any proxy may answer
    assert derive("milvus_facts", target="etcdonly")["hosts"] == [
        "10.0.0.11:19530",
        "10.0.0.12:19530",
        "10.0.0.13:19530",
    ]


def test_proxy_port_from_the_inventory_per_host():
    task_vars = inventory()
    task_vars["hostvars"]["node1"]["milvus_ops_proxy_port"] = 29530
    assert connection_defaults("milvus_rebalance", {}, task_vars, task_vars.get, "node3", {})["hosts"] == [
        "10.0.0.13:19530",
        "10.0.0.11:29530",
        "10.0.0.12:19530",
    ]
    task_vars["hostvars"]["node1"]["milvus_ops_proxy_port"] = "nope"
    with pytest.raises(InventoryVarError, match="milvus_ops_proxy_port of node1 must be a port number"):
        connection_defaults("milvus_rebalance", {}, task_vars, task_vars.get, "node3", {})


def test_arguments_override_what_the_inventory_gives():
    # hosts or uri given: no proxy list; credentials given: none derived
    assert derive(args={"hosts": ["1.2.3.4"]}) == {"user": "root", "password": PASSWORD}
    assert derive(args={"uri": "http://1.2.3.4:19530"}) == {"user": "root", "password": PASSWORD}
    assert "password" not in derive(args={"password": "other", "user": "root"})
    assert "password" not in derive(args={"token": "root:other"})
    assert "user" not in derive(args={"user": "alice"})  # alice's password is not root's
    # a password alone is the inventory's user's (not "parameters are required together")
    assert derive(args={"password": "other"}) == {
        "hosts": ["10.0.0.12:19530", "10.0.0.11:19530", "10.0.0.13:19530"],
        "user": "root",
    }
    assert derive(args={"password": "other"}, milvus_ops_user="admin")["user"] == "admin"
    assert derive(milvus_ops_user="admin")["user"] == "admin"
    # milvus_password logs in as its `name` with its own passwords: no credentials, none required
    assert derive("milvus_password", milvus_root_password=None) == {
        "hosts": ["10.0.0.12:19530", "10.0.0.11:19530", "10.0.0.13:19530"]
    }
    # an empty hosts list is the module's error to report, not replaced by the inventory's
    assert "hosts" not in derive(args={"hosts": []})


@pytest.mark.parametrize("missing", [{"milvus_root_password": None}, {"milvus_root_password": ""}, "drop"])
def test_no_password_fails_with_one_line_naming_the_variable(missing):
    task_vars = inventory()
    if missing == "drop":
        del task_vars["milvus_root_password"]
    else:
        task_vars.update(missing)
    with pytest.raises(ConnectionVarError) as err:
        connection_defaults("milvus_facts", {}, task_vars, task_vars.get, "node1", {})
    msg = str(err.value)
    assert msg.startswith("milvus_root_password is not defined") and "\n" not in msg
    # given on the command line, or in the controller's environment (the modules' fallback): fine
    assert connection_defaults("milvus_facts", {"password": "x"}, task_vars, task_vars.get, "node1", {})
    assert "password" not in connection_defaults(
        "milvus_facts", {}, task_vars, task_vars.get, "node1", {"MILVUS_PASSWORD": "x"}
    )
    # not the inventory's cluster (uri given, no proxy group): left to the module, as before
    assert (
        connection_defaults("milvus_facts", {"uri": "http://h:1"}, task_vars, task_vars.get, "node1", {})
        == {}
    )


def test_tls_from_the_inventory_when_defined():
    off = derive()
    assert not {"secure", "ca_cert", "client_cert", "client_key", "server_name"} & set(off)
    on = derive(
        milvus_tls_enabled=True,
        milvus_tls_ca_cert="/etc/pki/ca.pem",
        milvus_tls_server_name="milvus.lan",
        milvus_tls_client_cert="/c.pem",
        milvus_tls_client_key="/c.key",
    )
    assert on["secure"] is True and on["ca_cert"] == "/etc/pki/ca.pem" and on["server_name"] == "milvus.lan"
    assert on["client_cert"] == "/c.pem" and on["client_key"] == "/c.key"
    assert derive(milvus_tls_enabled=False)["secure"] is False
    # -a wins; a uri (with its scheme) leaves TLS to the arguments
    assert "secure" not in derive(args={"secure": False}, milvus_tls_enabled=True)
    assert "secure" not in derive(args={"uri": "https://h:19530"}, milvus_tls_enabled=True)


def test_the_sandbox_inventory_gives_every_proxy():
    """The real inventories/sandbox: node addresses from cluster_host_ip (templated by hostvars)."""
    hosts = yaml.safe_load((ROOT / "inventories/sandbox/hosts.yml").read_text())["all"]["children"]
    proxies = list(hosts["milvus_cluster"]["children"]["milvus_proxy"]["hosts"])
    hv = {h: {"cluster_host_ip": v["sandbox_ip"]} for h, v in hosts["sandbox_hosts"]["hosts"].items()}
    assert inventory_proxies({"groups": {"milvus_proxy": proxies}, "hostvars": hv}) == [
        "10.213.0.11:19530",
        "10.213.0.12:19530",
        "10.213.0.13:19530",
    ]


INFO = {
    "version": "2.3.5",
    "server": {"connected_to": "10.0.0.11:19530"},
    "nodes": [
        {"role": "rootcoord", "address": "10.0.0.11:22125"},
        {"role": "proxy", "address": "10.0.0.11:19529"},
        {"role": "querynode", "address": "10.0.0.11:21123"},
        {"role": "querynode", "address": "10.0.0.12:21123"},
    ],
    "balance": {"by": "rows", "count": 2, "total": 4000, "cv": 0.5, "min": 1000, "max": 3000},
    "collections": [],
}
EXPECTED = [
    {"role": "proxy", "host": "node1", "ip": "10.0.0.11", "count": 1},
    {"role": "proxy", "host": "node2", "ip": "10.0.0.12", "count": 1},
    {"role": "querynode", "host": "node1", "ip": "10.0.0.11", "count": 1},
    {"role": "querynode", "host": "node2", "ip": "10.0.0.12", "count": 1},
    {"role": "querynode", "host": "node3", "ip": "10.0.0.13", "count": 1},
]


def test_judged_as_health_yml_judges():
    proxies = [
        {"address": "10.0.0.11:19530", "failed": False},
        {"address": "10.0.0.12:19530", "failed": True},
    ]
    out = judge(INFO, EXPECTED, {"nodes_down": 1, "imbalance": 0.3}, proxies)
    names = [a["name"] for a in out["alerts"]]
    assert names == ["proxy_down", "querynode_down", "imbalance"], out["alerts"]
    assert "node2 (10.0.0.12) 0/1 registered" in out["alerts"][0]["message"]
    assert out["summary"] == (
        "Milvus 2.3.5 via 10.0.0.11:19530: 3/5 nodes up; balance cv 0.5 (2 query nodes,"
        " 4000 rows); 3 alert(s): proxy_down, querynode_down, imbalance"
    )
    assert out["proxies"] == proxies and out["expected"] == EXPECTED
    # the same thresholds as health.yml's filter: nothing missing, within the imbalance limit
    calm = judge(INFO, EXPECTED[:1] + EXPECTED[2:4], {"nodes_down": 1, "imbalance": 0.6}, proxies[:1])
    assert calm["alerts"] == [] and calm["summary"].endswith(
        "3/3 nodes up; balance cv 0.5 (2 query nodes, 4000 rows); no alerts"
    )


def test_summary_without_expected_or_query_nodes():
    info = dict(INFO, nodes=INFO["nodes"][:2], balance={"count": 0})
    out = judge(info, None, {"nodes_down": 1, "imbalance": 0.3}, [])
    assert out["alerts"] == []
    assert (
        out["summary"] == "Milvus 2.3.5 via 10.0.0.11:19530: 2 nodes; balance n/a (no query node); no alerts"
    )


def test_milvus_facts_options_checked_with_one_line():
    from ansible_collections.vectorops.milvus.plugins.module_utils._cluster_info import (
        check_expected,
        check_thresholds,
    )

    assert check_thresholds(None) == {"nodes_down": 1, "imbalance": 0.3}
    assert check_thresholds({"imbalance": "0.5", "nodes_down": 2.0}) == {"nodes_down": 2, "imbalance": 0.5}
    for bad, msg in [
        ({"bogus": 1}, "thresholds: unknown key 'bogus'"),
        ({"imbalance": "lots"}, "thresholds: imbalance must be a number, got 'lots'"),
        ({"p99_ms": -1}, "thresholds: p99_ms must be >= 0"),
    ]:
        with pytest.raises(ValueError, match=msg):
            check_thresholds(bad)
    assert check_expected(None) is None
    assert check_expected([{"role": "proxy", "host": "n1", "ip": "10.0.0.1"}]) == [
        {"role": "proxy", "host": "n1", "ip": "10.0.0.1", "count": 1}
    ]
    for bad, msg in [
        (["node1"], "expected: item 1 must be a dict with role, host and ip"),
        ([{"role": "proxy", "host": "n1"}], "expected: item 1 has no ip"),
        ([{"role": "coordinator", "host": "n1", "ip": "x"}], "expected: item 1 has role 'coordinator'"),
        ([{"role": "proxy", "host": "n", "ip": "x", "count": "two"}], "count must be an integer"),
    ]:
        with pytest.raises(ValueError, match=msg):
            check_expected(bad)


MILVUS_MODULES = [
    "milvus_backup_manifest",
    "milvus_cluster_info",
    "milvus_facts",
    "milvus_loadtest",
    "milvus_password",
    "milvus_rebalance",
    "milvus_restore_collection",
]


def test_every_milvus_module_runs_through_the_action_plugin():
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    routed = runtime["plugin_routing"]["modules"]
    assert sorted(routed) == MILVUS_MODULES
    assert {r["action_plugin"] for r in routed.values()} == {"vectorops.milvus.milvus"}
    assert sorted(runtime["action_groups"]["milvus"]) == MILVUS_MODULES
    # every module whose docs take the connection fragment (it says where it runs)
    taking = sorted(
        p.stem
        for p in (ROOT / "plugins/modules").glob("*.py")
        if "vectorops.milvus.connection" in p.read_text()
    )
    assert taking == MILVUS_MODULES


def test_milvus_facts_documents_what_it_accepts():
    import ast

    src = (ROOT / "plugins/modules/milvus_facts.py").read_text()
    consts = {
        t.id: n.value.value
        for n in ast.parse(src).body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)
    }
    doc = yaml.safe_load(consts["DOCUMENTATION"])
    assert set(doc["options"]) == {"expected", "thresholds"}
    assert "vectorops.milvus.attributes.facts" in doc["extends_documentation_fragment"]  # facts: full
    assert "milvus_cluster" in yaml.safe_load(consts["RETURN"])["ansible_facts"]["contains"]
    yaml.safe_load(consts["EXAMPLES"])
