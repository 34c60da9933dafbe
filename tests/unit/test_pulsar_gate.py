"""The health gate's Pulsar part: the probe a member host runs (playbooks/files/pulsar_members.py)
against members on loopback that answer as Pulsar's do (a srvr answer in ZooKeeper's format, a
bookie port that accepts or refuses, the admin API's list of active brokers), and the filter that
judges it (pulsar_member_problems, through milvus_gate_problems). The real cluster's side is in
the Pulsar Molecule scenario's verify, which stops a bookie and watches the gate refuse."""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from ansible_collections.vectorops.milvus.plugins.filter.operations import (
    milvus_gate_problems,
    pulsar_member_problems,
)

from tests.conftest import ROOT

PROBE = ROOT / "playbooks" / "files" / "pulsar_members.py"
MEMBERS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]

# The answer's shape: ZooKeeper 3.9's srvr, as the Pulsar sandbox's members give it.
SRVR = """Zookeeper version: 3.9.2-e454e8c7283100c7caec6dcae2bc82aaecb63023, built on 2024-02-12 20:59 UTC
Latency min/avg/max: 0/0.4951/12
Received: 2184
Sent: 2183
Connections: 5
Outstanding: 0
Zxid: 0x20000014d
Mode: {mode}
Node count: 212
"""
NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Members:
    """Fake members on 127.0.0.1-3, all on one port per kind (as real members are)."""

    def __init__(self) -> None:
        self.ports = {"zookeeper": free_port(), "bookie": free_port(), "web": free_port()}
        self.servers: list[socketserver.BaseServer] = []

    def serve(self, server: socketserver.BaseServer) -> None:
        self.servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def zookeeper(self, host: str, answer: str) -> None:
        class Srvr(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                if self.rfile.read(4) == b"srvr":
                    self.wfile.write(answer.encode())

        self.serve(socketserver.ThreadingTCPServer((host, self.ports["zookeeper"]), Srvr))

    def bookie(self, host: str) -> None:
        class Accept(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                pass

        self.serve(socketserver.ThreadingTCPServer((host, self.ports["bookie"]), Accept))

    def broker(self, host: str, active: list[str], cluster: str = "vectorops-milvus") -> None:
        class Admin(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the base class's name)
                found = self.path == f"/admin/v2/brokers/{cluster}"
                body = json.dumps(active if found else {"reason": "Cluster does not exist"}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.serve(HTTPServer((host, self.ports["web"]), Admin))

    def probe(self, cluster: str = "vectorops-milvus") -> dict:
        import subprocess

        done = subprocess.run(
            [sys.executable, str(PROBE), *(str(self.ports[k]) for k in ("zookeeper", "bookie", "web")),
             cluster, *MEMBERS], capture_output=True, text=True, timeout=60, check=False)
        return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def members():
    found = Members()
    yield found
    found.close()


def whole(members: Members, skip_bookie: str = "", modes: tuple = ("follower", "leader", "follower")) -> None:
    active = [f"{h}:{members.ports['web']}" for h in MEMBERS]
    for host, mode in zip(MEMBERS, modes, strict=True):
        members.zookeeper(host, SRVR.format(mode=mode) if mode else NOT_SERVING)
        if host != skip_bookie:
            members.bookie(host)
        members.broker(host, active)


def test_a_whole_cluster_has_no_problem(members):
    whole(members)
    answer = members.probe()
    assert answer["rc"] == 0, answer
    assert pulsar_member_problems(answer, MEMBERS, members.ports) == []
    assert json.loads(answer["stdout"])["brokers"]["from"] == f"127.0.0.1:{members.ports['web']}"


def test_a_stopped_bookie_is_named(members):
    whole(members, skip_bookie="127.0.0.3")
    assert pulsar_member_problems(members.probe(), MEMBERS, members.ports) == [
        f"Pulsar bookies: 2 of 3 accept connections (down: 127.0.0.3:{members.ports['bookie']})"]


def test_a_lost_zookeeper_member_and_a_missing_broker(members):
    # 127.0.0.2 is gone altogether (nothing listens: refused), and the others' brokers no longer
    # list it; the first member answers the broker list.
    active = [f"{h}:{members.ports['web']}" for h in ("127.0.0.1", "127.0.0.3")]
    for host in ("127.0.0.1", "127.0.0.3"):
        members.zookeeper(host, SRVR.format(mode="leader" if host == "127.0.0.1" else "follower"))
        members.bookie(host)
        members.broker(host, active)
    found = pulsar_member_problems(members.probe(), MEMBERS, members.ports)
    zookeeper, bookie, web = (f"127.0.0.2:{members.ports[k]}" for k in ("zookeeper", "bookie", "web"))
    assert len(found) == 3, found
    assert found[0].startswith(f"Pulsar ZooKeeper: 2 of 3 members serve (down: {zookeeper} (error: "), found
    assert found[1] == f"Pulsar bookies: 2 of 3 accept connections (down: {bookie})"
    assert found[2] == f"Pulsar brokers: 2 of 3 active (missing: {web})"


def test_a_member_that_does_not_serve_and_no_leader(members):
    whole(members, modes=("follower", "", "follower"))
    found = pulsar_member_problems(members.probe(), MEMBERS, members.ports)
    zookeeper = f"127.0.0.2:{members.ports['zookeeper']}"
    assert found == [f"Pulsar ZooKeeper: 2 of 3 members serve (down: {zookeeper} (not serving))",
                     "Pulsar ZooKeeper: no member leads"]


def test_brokers_of_another_cluster_name_are_not_readable(members):
    whole(members)
    found = pulsar_member_problems(members.probe(cluster="other"), MEMBERS, members.ports)
    assert len(found) == 1 and found[0].startswith("Pulsar brokers: not readable (127.0.0.1:"), found
    assert "404" in found[0], found


def test_nothing_readable_is_one_line():
    assert pulsar_member_problems({"rc": 127, "stdout": "", "stderr": "python3: not found\n"}, MEMBERS,
                                  {"zookeeper": 2181, "bookie": 3181, "web": 8080}) == [
        "Pulsar: members not readable (python3: not found)"]
    assert pulsar_member_problems({"failed": True, "msg": "Could not find or access 'pulsar_members.py'"},
                                  MEMBERS, {"zookeeper": 2181, "bookie": 3181, "web": 8080}) == [
        "Pulsar: members not readable (Could not find or access 'pulsar_members.py')"]


def test_the_gate_adds_pulsar_and_ignores_it_when_skipped(members):
    whole(members, skip_bookie="127.0.0.1")
    etcd = {"rc": 0, "stdout": json.dumps([{"endpoint": f"http://10.0.0.{i}:2379", "health": True}
                                           for i in (1, 2, 3)]), "stderr": ""}
    answer = members.probe()
    found = milvus_gate_problems(etcd, 3, kafka={"skipped": True}, pulsar=answer, pulsar_members=MEMBERS,
                                 pulsar_ports=members.ports)
    assert found == [f"Pulsar bookies: 2 of 3 accept connections (down: 127.0.0.1:{members.ports['bookie']})"]
    assert milvus_gate_problems(etcd, 3, pulsar={"skipped": True, "changed": False}) == []
