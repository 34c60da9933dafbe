# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Member ids of the quorum services (Kafka KRaft node.id, ZooKeeper myid): which id each host
has, and what would be wrong with them. A member's id is its identity in the quorum's own
records (KRaft's voter set, ZooKeeper's ensemble): a host whose id changes under a running
cluster is a stranger to its peers, or takes another member's place."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError


def cluster_member_ids(hosts: list[str], hostvars: Mapping[str, Any], var: str) -> dict[str, Any]:
    """{host: id}: the host's `var` when the inventory sets it, else its position in `hosts` + 1
    (how ids were numbered before they could be set)."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("cluster_member_ids: expects a group's list of hosts")
    out: dict[str, Any] = {}
    for pos, host in enumerate(hosts, start=1):
        value = (hostvars.get(host) or {}).get(var)
        out[host] = pos if value is None or value == "" else value
    return out


def _as_id(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= 1 else None


def cluster_member_problems(ids: Mapping[str, Mapping[str, Any]],
                            recorded: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One phrase per problem. `ids`: {what: {host: id}} (what: kafka_node_id, ...); `recorded`:
    {host: {what: id}}, the ids each host ran with at its last converge (empty for a new host)."""
    problems: list[str] = []
    for what, by_host in sorted(ids.items()):
        bad = sorted(h for h, v in by_host.items() if _as_id(v) is None)
        if bad:
            problems.append(f"{what} must be a whole number from 1: "
                            + ", ".join(f"{h} has {by_host[h]!r}" for h in bad))
            continue
        seen: dict[int, list[str]] = {}
        for host, value in by_host.items():
            seen.setdefault(_as_id(value), []).append(host)
        for number, hosts in sorted(seen.items()):
            if len(hosts) > 1:
                problems.append(f"{what} {number} is given to {' and '.join(sorted(hosts))}")
        changed = []
        for host, value in sorted(by_host.items()):
            before = (recorded.get(host) or {}).get(what)
            if before is not None and _as_id(before) != _as_id(value):
                changed.append((host, before, _as_id(value)))
        if changed:
            moves = "; ".join(f"{host} {before} -> {now}" for host, before, now in changed)
            pins = ", ".join(f"{what}: {before} for {host}" for host, before, _unused in changed)
            problems.append(f"{what} would change ({moves}), which the running quorum does not allow "
                            f"(was the group reordered?); pin them in the inventory: {pins}")
    return problems


def cluster_member_values(members: Mapping[str, Any]) -> dict[str, Any]:
    """A record's values as written to members.json: whole numbers as ints (ids), the rest as
    strings (etcd_initial_cluster_state)."""
    out: dict[str, Any] = {}
    for key, value in members.items():
        text = str(value).strip()
        out[key] = int(text) if re.fullmatch(r"-?\d+", text) else text
    return out


def cluster_unrecorded_members(groups: Mapping[str, Sequence[str]],
                               recorded: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One phrase per host that has no record of `what` while another member of its group has
    one: a quorum member that came back empty (a new disk or machine). `groups`: {what: hosts}
    (etcd_initial_cluster_state: the etcd group, ...). Such a host must rejoin through
    replace_host.yml, which removes and adds its etcd member and waits until KRaft's survivors
    hold the whole log before an empty voter starts."""
    missing: dict[str, list[str]] = {}
    peers: dict[str, set[str]] = {}
    for what, hosts in sorted(groups.items()):
        have = [h for h in hosts if (recorded.get(h) or {}).get(what) is not None]
        for host in hosts:
            if have and host not in have:
                missing.setdefault(host, []).append(what)
                peers.setdefault(host, set()).update(have)
    problems = []
    for host, whats in missing.items():
        others = sorted(peers[host])
        problems.append(f"{host} has no record of {', '.join(whats)} while {', '.join(others)} "
                        f"{'does' if len(others) == 1 else 'do'}: it came back empty (a new disk or "
                        f"machine?); rejoin with playbooks/replace_host.yml -e replace_host={host}")
    return problems


def cluster_member_records(results: Any) -> dict[str, dict[str, Any]]:
    """{host: record} from the looped slurp of each member's members.json (loop_var __member):
    an absent or unreadable file is no record."""
    out: dict[str, dict[str, Any]] = {}
    for res in results or []:
        host = res.get("__member")
        if not host:
            continue
        record: Any = {}
        if res.get("content"):
            try:
                record = json.loads(base64.b64decode(res["content"]).decode())
            except ValueError:
                record = {}
        out[host] = record if isinstance(record, dict) else {}
    return out


class FilterModule:
    """Member id filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "cluster_member_ids": cluster_member_ids,
            "cluster_member_problems": cluster_member_problems,
            "cluster_member_records": cluster_member_records,
            "cluster_member_values": cluster_member_values,
            "cluster_unrecorded_members": cluster_unrecorded_members,
        }
