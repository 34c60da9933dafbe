#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: hold throw-away TCP listeners on the free ones of some ports, for a bounded time."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: port_listener
short_description: Hold throw-away TCP listeners on free ports while peers test that they reach them
description:
  - Binds every port of O(ports) that nothing listens on yet, accepts each connection and closes
    it at once, and stops when O(stop_file) is removed or after O(timeout) seconds, whichever
    comes first. A port already held by a running process is left to that process (it answers the
    peers' connections itself).
  - Meant to run with C(async) and C(poll=0) on every host before M(vectorops.milvus.port_reach)
    runs on every host, so that a fresh host, where nothing listens yet, can be checked for the
    network paths the cluster will need. The preflight role uses the pair.
  - Creates O(stop_file) once the listeners are bound; removing it ends the listeners.
version_added: 0.1.0
author: vectorops team (!UNKNOWN)
extends_documentation_fragment:
  - vectorops.milvus.attributes
  - vectorops.milvus.port_check
options:
  ports:
    description: The TCP ports to listen on.
    type: list
    elements: int
    required: true
  address:
    description: The address to bind.
    type: str
    default: 0.0.0.0
  stop_file:
    description: A file created when the listeners are up; they stop once it is gone.
    type: path
    required: true
  timeout:
    description: Seconds after which the listeners stop in any case (1 to 600).
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Hold a listener on each free cluster port while the peers connect
  vectorops.milvus.port_listener:
    ports: [2379, 2380, 9092]
    stop_file: /tmp/.vectorops-port-listener
    timeout: 60
  async: 90
  poll: 0
"""

RETURN = r"""
listened:
  description: The ports this module listened on.
  returned: always
  type: list
  elements: int
  sample: [2379, 2380]
in_use:
  description: The ports another process already held (left to it).
  returned: always
  type: list
  elements: int
  sample: [9092]
accepted:
  description: How many connections were accepted.
  returned: always
  type: int
  sample: 8
stopped_by:
  description: C(stop_file) when the stop file was removed, C(timeout) otherwise.
  returned: always
  type: str
  sample: stop_file
"""

import errno
import os
import selectors
import socket
import time

from ansible.module_utils.basic import AnsibleModule

POLL_S = 0.2


def bind_free(ports: list[int], address: str) -> tuple[list[socket.socket], list[int]]:
    """Listening sockets on the free ports, and the ports something else holds."""
    held, in_use = [], []
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                for other in held:
                    other.close()
                raise
            in_use.append(port)
            continue
        sock.listen(64)
        sock.setblocking(False)
        held.append(sock)
    return held, in_use


def serve(held: list[socket.socket], stop_file: str, deadline: float) -> tuple[int, str]:
    """Accept and close connections until stop_file disappears or the deadline passes."""
    accepted = 0
    with selectors.DefaultSelector() as sel:
        for sock in held:
            sel.register(sock, selectors.EVENT_READ)
        while True:
            if not os.path.exists(stop_file):
                return accepted, "stop_file"
            if time.monotonic() >= deadline:
                return accepted, "timeout"
            for key, _unused in sel.select(timeout=POLL_S):
                try:
                    conn, _unused = key.fileobj.accept()
                except OSError:
                    continue
                conn.close()
                accepted += 1


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "ports": {"type": "list", "elements": "int", "required": True},
            "address": {"type": "str", "default": "0.0.0.0"},
            "stop_file": {"type": "path", "required": True},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not 1 <= params["timeout"] <= 600:
        module.fail_json(msg=f"timeout must be 1 to 600 seconds, got {params['timeout']}")
    bad = [p for p in params["ports"] if not 1 <= p <= 65535]
    if bad:
        module.fail_json(msg=f"ports out of range 1-65535: {bad}")
    deadline = time.monotonic() + params["timeout"]
    try:
        held, in_use = bind_free(sorted(set(params["ports"])), params["address"])
    except OSError as exc:
        module.fail_json(msg=f"cannot listen on {params['address']}: {exc.strerror or exc}")
    listened = [sock.getsockname()[1] for sock in held]
    stop_file = params["stop_file"]
    try:
        with open(stop_file, "w", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
        accepted, stopped_by = serve(held, stop_file, deadline)
    finally:
        for sock in held:
            sock.close()
        if os.path.exists(stop_file):
            os.unlink(stop_file)
    module.exit_json(changed=False, listened=listened, in_use=in_use, accepted=accepted,
                     stopped_by=stopped_by)


if __name__ == "__main__":
    main()
