#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: read Milvus's etcd sessions, end a stopped process's sessions, and wait until
the standbys took over the coordinators that were active on a host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: milvus_sessions
short_description: Read and end Milvus's etcd sessions, and hand coordinators over to their standbys
description:
  - Every Milvus process registers a session in etcd under C(<root_path>/meta/session/), bound to
    a lease it renews; an active coordinator also holds its role's election key. A stopped
    process leaves its session behind until the session TTL runs out, and the cluster waits on
    it meanwhile (rootcoord's time tick waits on every registered proxy, querycoord routes to a
    stopped query node, a standby coordinator waits for the election key).
  - With O(state=read) (the default) the module reads every session and, given O(host) and
    O(role), what handing that host's O(role) processes over takes. It changes nothing.
  - With O(state=ended) it revokes the leases of the O(role) sessions registered from O(host),
    so those sessions end at once. A lease already gone counts as ended.
  - With O(state=handed_over) it does the same, then waits (at most O(timeout) seconds) until no
    election key that was held at O(host) before (O(before)) is vacant or still held by one of
    the old servers, so a standby on another host holds it.
  - A standby that takes some of those keys and then stops short of the others (a mixcoord whose
    activation hangs half way) would hold the cluster there until it is restarted, as the other
    standbys wait for the keys it holds. When the keys stay that way for O(stall_timeout)
    seconds, that standby's sessions are ended too (once per server), so another standby takes
    every key over; RV(stalled) names it, with a warning. Its process exits on losing its
    session, or the watchdog restarts it.
  - It runs on a host with an etcd member, through C(docker exec) of that member's container
    and its C(etcdctl). It is how the rolling restart, the upgrade and the host replacement end
    sessions; the same reading is available to playbooks as the milvus_session_nodes and
    milvus_coordinator_handover filters.
version_added: 0.1.0
author: vectorops team (!UNKNOWN)
options:
  etcd_container:
    description: The etcd member's container on this host (its C(etcdctl) does the reads and revocations).
    type: str
    required: true
  root_path:
    description: Milvus's etcd root path (C(etcd.rootPath)).
    type: str
    default: by-dev
  endpoints:
    description:
      - etcd client URLs for C(etcdctl --endpoints). By default the container's own member.
      - Give the other members' URLs to read through them while this member is down.
    type: list
    elements: str
    default: []
  host:
    description: The address (IP) whose sessions are in scope. Required unless O(state=read).
    type: str
  role:
    description:
      - The Milvus process role in scope (V(querynode), V(proxy), V(querycoord), V(mixcoord), ...).
        A V(mixcoord) process holds the sessions of every coordinator. Required unless O(state=read).
    type: str
  state:
    description: What to do with the sessions in scope.
    type: str
    choices: [read, ended, handed_over]
    default: read
  before:
    description:
      - The RV(handover) a O(state=read) of the same O(host) and O(role) returned before the
        processes stopped. Required with O(state=handed_over).
    type: dict
  timeout:
    description: Seconds O(state=handed_over) waits for the standbys (1 to 3600).
    type: int
    default: 60
  stall_timeout:
    description:
      - Seconds O(state=handed_over) lets a standby hold some of the keys with others vacant and
        nothing changing, before it ends that standby's sessions (0 to 3600; V(0) never does).
      - A standby that takes over does so within about a second; keep this well under
        O(timeout), so another standby has the rest of the wait to take over.
    type: int
    default: 15
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads, and reports the leases it would revoke; revokes nothing and does not wait.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode),
      when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row, the second run reports no change.
    support: full
    details: Ended sessions are gone; a second run finds nothing to revoke.
notes:
  - Check mode reads, and reports the leases it would revoke as RV(revoked) with C(changed), but
    revokes nothing and does not wait.
"""

EXAMPLES = r"""
- name: Read what handing node1's coordinators over takes, before stopping them
  vectorops.milvus.milvus_sessions:
    etcd_container: vectorops-etcd-etcd-1
    host: 10.0.0.11
    role: mixcoord
  delegate_to: node2
  register: before

- name: End the sessions the stopped coordinators left, and wait for the standbys
  vectorops.milvus.milvus_sessions:
    etcd_container: vectorops-etcd-etcd-1
    host: 10.0.0.11
    role: mixcoord
    state: handed_over
    before: "{{ before.handover }}"
    timeout: 120
  delegate_to: node2

- name: End a stopped query node's session
  vectorops.milvus.milvus_sessions:
    etcd_container: vectorops-etcd-etcd-1
    host: 10.0.0.13
    role: querynode
    state: ended
"""

RETURN = r"""
sessions:
  description: Every session key read at the start, an election key with C(id) null.
  returned: always
  type: list
  elements: dict
  sample:
    - {role: querynode, id: 21, address: "10.0.0.13:21123", host: 10.0.0.13, server: 21, lease: 48b18e8a1c}
nodes:
  description: The registered processes (per-process sessions) read at the start.
  returned: always
  type: list
  elements: dict
  sample: [{role: querynode, id: 21, address: "10.0.0.13:21123", lease: 48b18e8a1c7a2a0f}]
handover:
  description:
    - For a coordinator O(role) at O(host), at the start - the roles whose election key is held
      at O(host) (C(active_here)), those of them with no standby on another host
      (C(no_standby)), the leases and server ids of the coordinator sessions at O(host), and the
      server holding each election key (C(active)). Empty for other roles or without O(host).
  returned: always
  type: dict
  sample:
    active_here: [querycoord]
    no_standby: []
    leases: [48b18e8a1c7a2a0f]
    servers: [13]
    active: {querycoord: 13}
revoked:
  description: The leases (hex) revoked, or in check mode those that would be.
  returned: always
  type: list
  elements: str
  sample: [48b18e8a1c7a2a0f]
pending:
  description: With O(state=handed_over), the roles no standby had taken over when the wait ended.
  returned: always
  type: list
  elements: str
  sample: []
stalled:
  description:
    - With O(state=handed_over), the standbys whose sessions were ended because they held some of
      the keys and left others vacant for O(stall_timeout) seconds - the server id, its address,
      the keys it held and those it left vacant.
  returned: always
  type: list
  elements: dict
  sample: [{server: 28, host: 10.0.0.12, holds: [datacoord, querycoord, rootcoord], vacant: [indexcoord]}]
waited:
  description: Seconds O(state=handed_over) waited for the standbys.
  returned: always
  type: float
  sample: 2.1
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vectorops.milvus.plugins.module_utils import _sessions


class EtcdError(Exception):
    pass


class Etcd:
    """etcdctl in the member's container on this host."""

    def __init__(self, module: AnsibleModule, container: str, endpoints: list[str]):
        self.module = module
        self.base = ["docker", "exec", container, "etcdctl"]
        if endpoints:
            self.base.append("--endpoints=" + ",".join(endpoints))

    def _run(self, *args: str) -> tuple[int, str, str]:
        return self.module.run_command(self.base + list(args))

    def sessions(self, root_path: str) -> list[str]:
        rc, out, err = self._run("get", "--prefix", root_path.rstrip("/") + "/meta/session/")
        if rc != 0:
            raise EtcdError(f"reading the sessions failed: {last_line(err or out)}")
        return out.splitlines()

    def revoke(self, lease: str) -> bool:
        """True when this call ended the lease, False when it was gone already."""
        rc, out, err = self._run("lease", "revoke", lease)
        if rc == 0:
            return True
        if "not found" in (err + out):
            return False
        raise EtcdError(f"revoking lease {lease} failed: {last_line(err or out)}")


def last_line(text: str) -> str:
    lines = [x.strip() for x in str(text).splitlines() if x.strip()]
    return lines[-1] if lines else "no output"


def check_arguments(params: dict) -> str:
    if params["state"] != "read":
        missing = [name for name in ("host", "role") if not params.get(name)]
        if missing:
            return f"state={params['state']} needs {' and '.join(missing)}"
    if params["state"] == "handed_over":
        before = params.get("before")
        if not isinstance(before, dict) or "active_here" not in before or "servers" not in before:
            return "state=handed_over needs before: the handover a state=read returned before the stop"
        if params["role"] not in _sessions.COORDINATORS:
            return f"state=handed_over is for a coordinator role, not {params['role']}"
    if not 1 <= params["timeout"] <= 3600:
        return f"timeout must be 1 to 3600 s, not {params['timeout']}"
    if not 0 <= params.get("stall_timeout", 0) <= 3600:
        return f"stall_timeout must be 0 to 3600 s, not {params['stall_timeout']}"
    if params.get("role") and not params["role"].isalpha():
        return f"role {params['role']!r} is not a Milvus process role"
    return ""


def run(module: AnsibleModule, etcd: Etcd, clock=time.monotonic, sleep=time.sleep) -> dict:
    params = module.params
    root, host, role = params["root_path"], params.get("host"), params.get("role")
    lines = etcd.sessions(root)
    roles = _sessions.session_roles(role) if role else []
    coordinator = bool(role) and role in _sessions.COORDINATORS
    result = {
        "changed": False,
        "sessions": _sessions.parse(lines),
        "nodes": _sessions.session_nodes(lines),
        "handover": _sessions.coordinator_handover(lines, host, roles=roles) if host and coordinator else {},
        "revoked": [],
        "pending": [],
        "stalled": [],
        "waited": 0.0,
    }
    if params["state"] == "read":
        return result
    leases = _sessions.leases_at(lines, host, roles)
    if module.check_mode:
        result.update(changed=bool(leases), revoked=leases)
        return result
    result["revoked"] = [lease for lease in leases if etcd.revoke(lease)]
    result["changed"] = bool(result["revoked"])
    if params["state"] == "handed_over":
        wait_for_standbys(module, etcd, result, clock, sleep)
    return result


def wait_for_standbys(module: AnsibleModule, etcd: Etcd, result: dict, clock, sleep) -> None:
    """Waits until standbys hold every election key held at the host before; ends the sessions
    of a standby that took some of them and stalled (stall_timeout) so that another takes over."""
    params = module.params
    root, host, role, before = params["root_path"], params["host"], params["role"], params["before"]
    roles = _sessions.session_roles(role)
    start = clock()
    seen, since, ended = None, start, set()
    while True:
        lines = etcd.sessions(root)
        handover = _sessions.coordinator_handover(lines, host, before, roles)
        now = clock()
        result["waited"] = round(now - start, 1)
        result["pending"] = handover["pending"]
        if not handover["pending"] or result["waited"] >= params["timeout"]:
            break
        holders = {r: handover["active"].get(r) for r in before["active_here"]}
        if holders != seen:
            seen, since = holders, now
        elif params["stall_timeout"] and now - since >= params["stall_timeout"]:
            for stuck in _sessions.partial_takeovers(lines, before, roles):
                if stuck["server"] in ended:
                    continue
                ended.add(stuck["server"])
                result["revoked"] += [lease for lease in stuck["leases"] if etcd.revoke(lease)]
                result["stalled"].append({k: stuck[k] for k in ("server", "host", "holds", "vacant")})
                module.warn(
                    f"the standby {stuck['server']} at {stuck['host']} took {', '.join(stuck['holds'])} and "
                    f"left {', '.join(stuck['vacant'])} vacant for {params['stall_timeout']} s: its sessions "
                    "were ended so that another standby takes over")
            since = now
        # Sessions left since the first revocation (a process that came back on its own
        # restart policy) are not revoked: the old servers' ids are what the wait judges by.
        sleep(1)
    if result["pending"]:
        stalled = "".join(f"; the stalled standby {s['server']} at {s['host']} was ended"
                          for s in result["stalled"])
        module.fail_json(
            msg=f"no standby took over {', '.join(result['pending'])} within {params['timeout']} s of ending "
                f"the {role} sessions at {host}{stalled}",
            **result,
        )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "etcd_container": {"type": "str", "required": True},
            "root_path": {"type": "str", "default": "by-dev"},
            "endpoints": {"type": "list", "elements": "str", "default": []},
            "host": {"type": "str"},
            "role": {"type": "str"},
            "state": {"type": "str", "choices": ["read", "ended", "handed_over"], "default": "read"},
            "before": {"type": "dict"},
            "timeout": {"type": "int", "default": 60},
            "stall_timeout": {"type": "int", "default": 15},
        },
        supports_check_mode=True,
    )
    problem = check_arguments(module.params)
    if problem:
        module.fail_json(msg=problem)
    try:
        result = run(module, Etcd(module, module.params["etcd_container"], module.params["endpoints"]))
    except EtcdError as err:
        module.fail_json(msg=f"etcd in {module.params['etcd_container']}: {err}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
