"""The endpoint role's files as the test inventory renders them: HAProxy in front of every proxy
with its health checks, keepalived's unicast VRRP with each host's priority, the compose file.
The sandbox tier runs `haproxy -c` and `keepalived -t` on them (what the role's validate does)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import compose_config, run

IPS = {"node1": "10.213.4.11", "node2": "10.213.4.12", "node3": "10.213.4.13"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("endpoint")
    res = run(["ansible-playbook", "-i", "inventories/test", "tests/roles/playbooks/render_endpoint.yml",
               "-e", f"render_dir={out}"], timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    return out


def test_haproxy_balances_over_every_proxy_checking_each_healthz(rendered):
    cfg = (rendered / "node1" / "haproxy.cfg").read_text()
    assert "bind :19500" in cfg and "mode tcp" in cfg and "balance leastconn" in cfg
    servers = re.findall(r"^\s+server (\w+) ([\d.]+):(\d+)$", cfg, re.M)
    assert servers == [(host, ip, "19530") for host, ip in IPS.items()]
    assert "option httpchk GET /healthz" in cfg
    checks = "default-server check port 9091 inter 1000 fall 2 rise 2 on-marked-down shutdown-sessions"
    assert checks in cfg
    assert "bind 127.0.0.1:19501" in cfg and "monitor fail if no_proxy" in cfg


def test_keepalived_holds_the_vip_with_each_hosts_priority_and_unicast_peers(rendered):
    confs = {h: (rendered / h / "keepalived.conf").read_text() for h in IPS}
    priorities = {h: int(re.search(r"priority (\d+)", c).group(1)) for h, c in confs.items()}
    assert priorities == {"node3": 150, "node1": 140, "node2": 130}  # inventories/test: node3 first
    for host, conf in confs.items():
        assert f"unicast_src_ip {IPS[host]}" in conf
        peers = re.search(r"unicast_peer \{\s*([^}]*)\}", conf).group(1).split()
        # In the endpoint group's order (node3, node1, node2), the same at every run: an order
        # that changed between runs rewrote the file and reloaded keepalived at every converge.
        assert peers == [IPS[h] for h in ("node3", "node1", "node2") if h != host]
        assert "10.213.4.100/24 dev eth0" in conf and "virtual_router_id 51" in conf
        assert "nopreempt" not in conf


def test_the_compose_file_runs_haproxy_and_keepalived_from_the_endpoint_image(rendered):
    for host in IPS:
        services = yaml.safe_load((rendered / host / "compose.yml").read_text())["services"]
        assert {s["image"] for s in services.values()} == {"vectorops/endpoint:3.0"}
        assert services["keepalived"]["cap_add"] == ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]
        assert services["haproxy"]["network_mode"] == "host"
        assert compose_config(rendered / host / "compose.yml").returncode == 0
