"""The preflight's peer port check (port_listener + port_reach) on loopback, with real sockets.

The pair is what lets a fresh host, where nothing listens yet, prove the paths the cluster needs:
throw-away listeners answer on the free ports, a held port is left to its holder, a refused port is
named with its reason in one line, and the listeners end when their stop file goes. A dropped
(timed out) path is tested on the sandbox, where a firewall rule can be put between two hosts.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from ansible_collections.vectorops.milvus.plugins.modules import port_listener, port_reach

from tests.conftest import VENV_BIN, module_command, run


def free_ports(n: int) -> list[int]:
    """n ports nothing listens on now (bound to 0, read back, released)."""
    socks = [socket.socket() for _unused in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_listener_takes_free_ports_and_leaves_held_ones(tmp_path):
    a, b = free_ports(2)
    holder = socket.socket()
    holder.bind(("127.0.0.1", b))
    holder.listen()
    stop = tmp_path / "stop"
    try:
        held, in_use = port_listener.bind_free([a, b], "127.0.0.1")
        assert [s.getsockname()[1] for s in held] == [a]
        assert in_use == [b]
        stop.write_text("x")
        result: dict = {}

        def serve() -> None:
            accepted, by = port_listener.serve(held, str(stop), time.monotonic() + 20)
            result.update(accepted=accepted, by=by)

        thread = threading.Thread(target=serve)
        thread.start()
        assert port_reach.reach("127.0.0.1", a, timeout=2, wait=2) == ""
        assert port_reach.reach("127.0.0.1", b, timeout=2, wait=2) == ""  # answered by its holder
        time.sleep(3 * port_listener.POLL_S)  # the connection waits in the backlog until accepted
        started = time.monotonic()
        stop.unlink()
        thread.join(5)
        assert not thread.is_alive()
        assert time.monotonic() - started < 2
        assert result == {"accepted": 1, "by": "stop_file"}
    finally:
        holder.close()
        for s in held:
            s.close()


def test_listener_stops_at_its_deadline(tmp_path):
    (port,) = free_ports(1)
    held, _unused = port_listener.bind_free([port], "127.0.0.1")
    stop = tmp_path / "stop"
    stop.write_text("x")
    try:
        assert port_listener.serve(held, str(stop), time.monotonic() + 0.5) == (0, "timeout")
    finally:
        held[0].close()


def test_refused_is_retried_until_a_late_listener_answers():
    (port,) = free_ports(1)
    late = socket.socket()

    def listen_later() -> None:
        time.sleep(1.0)
        late.bind(("127.0.0.1", port))
        late.listen()

    thread = threading.Thread(target=listen_later)
    thread.start()
    try:
        assert port_reach.reach("127.0.0.1", port, timeout=2, wait=5) == ""
    finally:
        thread.join()
        late.close()


def test_refused_after_wait_is_reported():
    (port,) = free_ports(1)
    started = time.monotonic()
    assert port_reach.reach("127.0.0.1", port, timeout=2, wait=1) == "refused"
    assert 1 <= time.monotonic() - started < 3


def test_summary_names_each_peer_once_with_its_ports():
    line = port_reach.summary([
        {"name": "node2", "address": "10.0.0.12", "port": 2380, "error": "timed out"},
        {"name": "node2", "address": "10.0.0.12", "port": 9092, "error": "refused"},
        {"name": "node3", "address": "10.0.0.13", "port": 2379, "error": "No route to host"},
    ])
    assert line == ("node2 (10.0.0.12) on 2380 (timed out), 9092 (refused); "
                    "node3 (10.0.0.13) on 2379 (No route to host)")


def test_through_ansible_the_pair_passes_then_names_a_closed_port(tmp_path):
    """The preflight's order, through Ansible on localhost: listener async, reach, stop file removed."""
    open_port, closed = free_ports(2)
    stop = tmp_path / "stop"
    playbook = tmp_path / "pair.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - vectorops.milvus.port_listener:
        {{ports: [{open_port}], address: 127.0.0.1, stop_file: "{stop}", timeout: 30}}
      async: 60
      poll: 0
    - block:
        - vectorops.milvus.port_reach: {{peers: {{self: 127.0.0.1}}, ports: [{open_port}], wait: 10}}
          register: ok
        - vectorops.milvus.port_reach: {{peers: {{self: 127.0.0.1}}, ports: [{open_port}, {closed}], wait: 1}}
      always:
        - ansible.builtin.file: {{path: "{stop}", state: absent}}
        - ansible.builtin.debug: {{msg: "reached {{{{ ok.reached }}}}"}}
""")
    res = run(["ansible-playbook", "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}", str(playbook)], timeout=120)
    assert res.returncode == 2, res.stdout
    assert "reached 1" in res.stdout
    assert (f"cannot reach self (127.0.0.1) on {closed} (refused): open these ports between the cluster hosts"
            in res.stdout)
    assert "Traceback" not in res.stdout + res.stderr
    assert not stop.exists()
    time.sleep(1)  # the listener sees the stop file gone within its poll interval
    assert port_reach.reach("127.0.0.1", open_port, timeout=1, wait=0) == "refused"


def test_bad_input_is_one_line():
    listener = run(module_command("port_listener", {"ports": [70000], "stop_file": "/tmp/x"}), timeout=60)
    assert "ports out of range 1-65535: [70000]" in listener.stdout
    reach = run(module_command("port_reach", {"peers": {"node2": ""}, "ports": [1]}), timeout=60)
    assert "no address for peer(s) node2" in reach.stdout
    for res in (listener, reach):
        assert "Traceback" not in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"timeout": -1}, "timeout must be more than 0 and at most 300 seconds, got -1.0"),
        ({"timeout": 0}, "timeout must be more than 0 and at most 300 seconds, got 0.0"),
        ({"wait": -5}, "wait must be 0 to 600 seconds, got -5.0"),
        ({"ports": [70000]}, "ports out of range 1-65535: [70000]"),
        ({"ports": [0, 22]}, "ports out of range 1-65535: [0]"),
    ],
)
def test_reach_arguments_are_checked_in_one_line(args, message):
    """A negative timeout used to raise ValueError in the socket, port 70000 wrapped to 4464."""
    params = {"peers": {"self": "127.0.0.1"}, "ports": [1], "timeout": 3.0, "wait": 15.0}
    params.update({k: float(v) if k in ("timeout", "wait") else v for k, v in args.items()})
    assert port_reach.check_arguments(params) == message
    res = run(module_command("port_reach", {**params, **args}), timeout=60)
    assert message in res.stdout, res.stdout
    assert "Traceback" not in res.stdout + res.stderr
    assert "FAILED!" in res.stdout
