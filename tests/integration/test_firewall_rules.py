"""The host firewall's table on a real kernel: two network namespaces joined by a veth pair, the
"host" one loading the ruleset the firewall role would load (firewall_ports and firewall_ruleset
from the shipped constants), listeners on some of its ports, and connections from the "peer"
namespace, each from the address of one class (admin, client, monitoring, cluster host,
stranger). Only the kernel decides what answers: the same text the role writes to its hosts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import yaml
from ansible_collections.vectorops.milvus.plugins.filter.firewall import firewall_ports, firewall_ruleset

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"),
    reason="needs root, nft and ip (tools/engine.sh installs nftables)")

CLUSTER = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())
PORTS = firewall_ports({k: v for k, v in CLUSTER.items() if k.startswith("cluster_") and k.endswith("_port")},
                       CLUSTER["cluster_milvus_ports"])
HOST = "10.250.7.1"
SOURCES = {"admin": "10.250.7.2", "client": "10.250.7.3", "monitor": "10.250.7.4", "peer": "10.250.7.5",
           "stranger": "10.250.7.6"}
# A client port, an internal one (etcd), a metrics one, the console, a port nobody guards, SSH.
LISTEN = {"client": 19530, "internal": 2379, "metrics": 9091, "console": 9001, "other": 8081, "ssh": 22}

LISTENER = """
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, _ = s.accept(); c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
host, pairs = sys.argv[1], json.loads(sys.argv[2])
def reach(pair):
    src, port = pair
    s = socket.socket(); s.settimeout(0.7); s.bind((src, 0))
    try:
        s.connect((host, port)); return True
    except OSError:
        return False
    finally:
        s.close()
with ThreadPoolExecutor(32) as pool:
    print(json.dumps(list(pool.map(reach, pairs))))
"""


def sh(*cmd: str, ns: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    full = ["ip", "netns", "exec", ns, *cmd] if ns else list(cmd)
    return subprocess.run(full, input=stdin, capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture(scope="module")
def namespaces():
    tag = uuid.uuid4().hex[:6]
    host, peer = f"vofw-h-{tag}", f"vofw-p-{tag}"
    sh("ip", "netns", "add", host)
    sh("ip", "netns", "add", peer)
    listener = None
    try:
        sh("ip", "link", "add", f"vofw{tag}a", "netns", host, "type", "veth", "peer", "name", f"vofw{tag}b",
           "netns", peer)
        sh("ip", "addr", "add", f"{HOST}/24", "dev", f"vofw{tag}a", ns=host)
        for address in SOURCES.values():
            sh("ip", "addr", "add", f"{address}/24", "dev", f"vofw{tag}b", ns=peer)
        for ns, dev in ((host, f"vofw{tag}a"), (peer, f"vofw{tag}b")):
            sh("ip", "link", "set", dev, "up", ns=ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        command = ["ip", "netns", "exec", host, sys.executable, "-c", LISTENER, *map(str, LISTEN.values())]
        listener = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert listener.stdout.readline().strip() == "ready"
        time.sleep(0.2)  # the threads bind after the line; a refused connect would read as "blocked"
        yield host, peer
    finally:
        if listener:
            listener.kill()
            listener.wait(10)
        for ns in (host, peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)


def load(host: str, **kw) -> None:
    # As the role passes them: the cluster's hosts reach the metrics ports too.
    hosts = [HOST, SOURCES["peer"]]
    networks = {"client": [SOURCES["client"]], "metrics": [SOURCES["monitor"], *hosts], "internal": hosts,
                "console": []}
    text = firewall_ruleset(PORTS, networks, admin_networks=[SOURCES["admin"] + "/32"], **kw)
    sh("nft", "-f", "-", ns=host, stdin=text)


def reachable(peer: str) -> dict[str, set[str]]:
    """source class -> the listened ports (by name) that accept its connection."""
    pairs = [(src, port) for src in SOURCES.values() for port in LISTEN.values()]
    answers = json.loads(sh(sys.executable, "-c", PROBE, HOST, json.dumps(pairs), ns=peer).stdout)
    by_port = {port: name for name, port in LISTEN.items()}
    by_source = {address: name for name, address in SOURCES.items()}
    out: dict[str, set[str]] = {name: set() for name in SOURCES}
    for (src, port), ok in zip(pairs, answers, strict=True):
        if ok:
            out[by_source[src]].add(by_port[port])
    return out


def test_without_the_table_everything_answers(namespaces):
    peer = namespaces[1]
    assert all(ports == set(LISTEN) for ports in reachable(peer).values())


def test_each_class_reaches_its_own_ports_only(namespaces):
    host, peer = namespaces
    load(host)
    assert reachable(peer) == {
        "admin": set(LISTEN),
        "client": {"client", "other", "ssh"},
        "monitor": {"metrics", "other", "ssh"},
        "peer": {"internal", "metrics", "other", "ssh"},
        "stranger": {"other", "ssh"},
    }


def test_drop_closes_every_other_port_but_ssh(namespaces):
    host, peer = namespaces
    load(host, policy="drop", ssh_networks=[SOURCES["client"], SOURCES["stranger"]])
    found = reachable(peer)
    assert found["admin"] == set(LISTEN)
    assert found["client"] == {"client", "ssh"}
    assert found["stranger"] == {"ssh"}
    assert found["peer"] == {"internal", "metrics"}


def test_a_reload_replaces_our_table_and_leaves_an_operators_alone(namespaces):
    host, peer = namespaces
    # An operator's own table closes 8081 to the stranger; ours is loaded again on top of it.
    sh("nft", "-f", "-", ns=host, stdin=(
        "table inet operator {\n  chain input {\n    type filter hook input priority filter; policy accept;\n"
        f"    ip saddr {SOURCES['stranger']} tcp dport 8081 drop\n  }}\n}}\n"))
    load(host)
    load(host)
    tables = sh("nft", "list", "tables", ns=host).stdout.split("\n")
    assert sorted(t for t in tables if t) == ["table inet operator", "table inet vectorops"]
    found = reachable(peer)
    assert found["stranger"] == {"ssh"}
    assert found["client"] == {"client", "other", "ssh"}
