#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: check this host opens TCP connections to every peer on every given port."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: port_reach
short_description: Check this host reaches every peer on every cluster port over TCP
description:
  - Opens a TCP connection from this host to each port of O(ports) on each of O(peers), all at
    once, and closes it. Fails with one line naming every peer and port it could not reach and
    why (timed out, refused, no route), so a firewall between cluster hosts shows before anything
    is installed rather than as a half-formed etcd or Kafka quorum later.
  - A refused connection is retried for O(wait) seconds, because a peer's
    M(vectorops.milvus.port_listener) may still be starting; a connection that times out (packets
    dropped) is not retried.
version_added: 0.1.0
author: vectorops team (!UNKNOWN)
extends_documentation_fragment:
  - vectorops.milvus.attributes
  - vectorops.milvus.port_check
options:
  peers:
    description: The hosts to reach, as name (for messages) to address.
    type: dict
    required: true
  ports:
    description: The TCP ports to reach on every peer (1 to 65535).
    type: list
    elements: int
    required: true
  timeout:
    description: Seconds one connection attempt may take (more than 0, at most 300).
    type: float
    default: 3
  wait:
    description: Seconds a refused connection is retried before it counts as unreachable (0 to 600).
    type: float
    default: 15
"""

EXAMPLES = r"""
- name: Connect to every other host of the play on every cluster port
  vectorops.milvus.port_reach:
    peers: "{{ dict(_peers | zip(_peers | map('extract', hostvars, 'cluster_host_ip'))) }}"
    ports: [2379, 2380, 9092]
  vars:
    _peers: "{{ ansible_play_hosts | difference([inventory_hostname]) }}"

- name: The same with the peers written out
  vectorops.milvus.port_reach:
    peers:
      node2: 10.0.0.12
      node3: 10.0.0.13
    ports: [2379, 2380]
"""

RETURN = r"""
reached:
  description: How many peer ports answered.
  returned: always
  type: int
  sample: 34
unanswered:
  description: Every peer port that did not answer, with the reason (not named C(unreachable),
    which Ansible would read as the host itself being unreachable).
  returned: always
  type: list
  elements: dict
  sample: [{name: node2, address: 10.0.0.12, port: 2380, error: timed out}]
"""

import socket
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

RETRY_S = 0.5
MAX_TIMEOUT_S = 300
MAX_WAIT_S = 600


def reach(address: str, port: int, timeout: float, wait: float) -> str:
    """'' when a connection opens, else why not; refused connections are retried for `wait` s."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return ""
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                return "refused"
            time.sleep(RETRY_S)
        except TimeoutError:
            return "timed out"
        except OSError as exc:
            return exc.strerror or str(exc)


def summary(unanswered: list[dict]) -> str:
    """One line: 'node2 (10.0.0.12) on 2380 (timed out), 9092 (refused); node3 (...) on ...'."""
    by_peer: dict[tuple[str, str], list[str]] = {}
    for item in unanswered:
        key = (item["name"], item["address"])
        by_peer.setdefault(key, []).append(f"{item['port']} ({item['error']})")
    return "; ".join(f"{name} ({address}) on {', '.join(ports)}"
                     for (name, address), ports in by_peer.items())


def check_arguments(params: dict) -> str:
    """'' when the numbers make sense, else one line saying which does not."""
    if not 0 < params["timeout"] <= MAX_TIMEOUT_S:
        return f"timeout must be more than 0 and at most {MAX_TIMEOUT_S} seconds, got {params['timeout']}"
    if not 0 <= params["wait"] <= MAX_WAIT_S:
        return f"wait must be 0 to {MAX_WAIT_S} seconds, got {params['wait']}"
    bad = [p for p in params["ports"] if not 1 <= p <= 65535]
    if bad:
        return f"ports out of range 1-65535: {bad}"
    return ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "peers": {"type": "dict", "required": True},
            "ports": {"type": "list", "elements": "int", "required": True},
            "timeout": {"type": "float", "default": 3},
            "wait": {"type": "float", "default": 15},
        },
        supports_check_mode=True,
    )
    params = module.params
    problem = check_arguments(params)
    if problem:
        module.fail_json(msg=problem)
    peers = params["peers"]
    missing = sorted(name for name, address in peers.items() if not address)
    if missing:
        module.fail_json(msg=f"no address for peer(s) {', '.join(map(str, missing))}")
    targets = [(str(name), str(address), port)
               for name, address in peers.items() for port in sorted(set(params["ports"]))]
    if not targets:
        module.exit_json(changed=False, reached=0, unanswered=[])
    with ThreadPoolExecutor(max_workers=min(64, len(targets))) as pool:
        errors = list(pool.map(lambda t: reach(t[1], t[2], params["timeout"], params["wait"]), targets))
    unanswered = [
        {"name": name, "address": address, "port": port, "error": error}
        for (name, address, port), error in zip(targets, errors, strict=True) if error
    ]
    result = {"changed": False, "reached": len(targets) - len(unanswered), "unanswered": unanswered}
    if unanswered:
        module.fail_json(
            msg=f"cannot reach {summary(unanswered)}: open these ports between the cluster hosts", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
