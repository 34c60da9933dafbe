# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Milvus's etcd sessions: what each process registered, who holds each coordinator's election
key, and what handing a host's coordinators over takes.

Every Milvus process keeps a session under `<rootPath>/meta/session/<role>-<server id>`, bound to
an etcd lease it renews. An active coordinator also holds `<rootPath>/meta/session/<role>` (its
election key, same lease); a standby waits for that key. A stopped process leaves its session
until the lease runs out (the session TTL), and the cluster waits on it meanwhile: revoking the
lease ends it at once. The read is `etcdctl get --prefix <rootPath>/meta/session/` (a key line,
then its JSON value line), as the filters and the milvus_sessions module both take it."""

from __future__ import annotations

import json
import re
from typing import Any

COORDINATORS = ("rootcoord", "querycoord", "datacoord", "indexcoord", "mixcoord")
# A mixcoord process registers the sessions of every coordinator it runs.
MIXCOORD_ROLES = ("rootcoord", "querycoord", "datacoord", "indexcoord")
_KEY = re.compile(r"/session/([a-z]+)(?:-(\d+))?$")


def host_of(address: str) -> str:
    return address.rsplit(":", 1)[0] if ":" in address else address


def lease_hex(info: dict[str, Any]) -> str:
    """A session's etcd lease as `etcdctl lease revoke` takes it (hex of the unsigned id)."""
    return format(int(info["LeaseID"]) & 0xFFFFFFFFFFFFFFFF, "x") if info.get("LeaseID") else ""


def parse(lines: list[str]) -> list[dict[str, Any]]:
    """Every session key of the read: [{role, id (None for an election key), address, host,
    server, lease}]. Keys that are not sessions (the id counter) and unreadable values are skipped."""
    out = []
    lines = [str(x).strip() for x in lines if str(x).strip()]
    for key, value in zip(lines[::2], lines[1::2], strict=False):
        match = _KEY.search(key)
        if not match:
            continue
        try:
            info = json.loads(value)
        except ValueError:
            continue
        if not isinstance(info, dict):
            continue
        address = str(info.get("Address", ""))
        out.append({
            "role": match.group(1),
            "id": int(match.group(2)) if match.group(2) else None,
            "address": address,
            "host": host_of(address),
            "server": int(info.get("ServerID") or 0),
            "lease": lease_hex(info),
        })
    return out


def session_nodes(lines: list[str]) -> list[dict[str, Any]]:
    """Processes registered in etcd: [{role, id, address, lease}] for every per-process session."""
    keep = ("role", "id", "address", "lease")
    return [{k: s[k] for k in keep} for s in parse(lines) if s["id"] is not None]


def session_roles(role: str) -> list[str]:
    """The session roles a process of `role` registers (a mixcoord: every coordinator's)."""
    return list(MIXCOORD_ROLES) if role == "mixcoord" else [role]


def coordinator_handover(
    lines: list[str], host_ip: str, before: dict[str, Any] | None = None, roles: list[str] | None = None
) -> dict[str, Any]:
    """What handing a host's coordinators over to their standbys takes: the coordinator roles
    whose election key a process at `host_ip` holds (`active_here`), those of them with no
    standby session on another host (`no_standby`: no handover possible), the etcd leases (hex)
    and server ids of every coordinator session at `host_ip`, and which server holds each
    election key (`active`, role -> server id).

    The old process comes back (restart policy) as a new server id, which may win an election
    again: a handover is done when no election key is held by the old ids. Given `before` (this
    function's answer before the revocation), `pending` lists the roles that were active here
    whose election key is still vacant or held by one of those ids. Given `roles` (session
    roles; all of them when empty), only the sessions of those roles count, so handing over one
    coordinator process leaves the host's other coordinator processes alone."""
    active: dict[str, str] = {}
    holder: dict[str, int] = {}
    standby_hosts: dict[str, set[str]] = {}
    leases: set[str] = set()
    servers: set[int] = set()
    for s in parse(lines):
        if s["role"] not in COORDINATORS or (roles and s["role"] not in roles):
            continue
        if s["id"] is None:
            active[s["role"]] = s["host"]
            holder[s["role"]] = s["server"]
        else:
            standby_hosts.setdefault(s["role"], set()).add(s["host"])
        if s["host"] == host_ip:
            servers.add(s["server"])
            if s["lease"]:
                leases.add(s["lease"])
    here = sorted(role for role, host in active.items() if host == host_ip)
    pending = [
        role for role in (before or {}).get("active_here", [])
        if holder.get(role) in (None, *before.get("servers", []))
    ]
    return {
        "active_here": here,
        "no_standby": [r for r in here if not standby_hosts.get(r, set()) - {host_ip}],
        "leases": sorted(leases),
        "servers": sorted(servers),
        "active": holder,
        "pending": pending,
    }


def partial_takeovers(
    lines: list[str], before: dict[str, Any], roles: list[str] | None = None
) -> list[dict[str, Any]]:
    """The standbys that took some of the election keys held before (`before`: what
    coordinator_handover answered before the revocation) while others of them are vacant: a
    mixcoord whose activation stopped half way, which the other standbys wait on, since they
    campaign for the keys it holds first. [{server, host, holds, vacant, leases (hex, every
    coordinator session of that server)}]; empty when no key is vacant."""
    wanted = list(before.get("active_here", []))
    old = set(before.get("servers", []))
    sessions = [s for s in parse(lines) if s["role"] in COORDINATORS]
    holder = {s["role"]: s for s in sessions if s["id"] is None and (not roles or s["role"] in roles)}
    vacant = [r for r in wanted if r not in holder]
    if not vacant:
        return []
    holds: dict[int, list[str]] = {}
    for role in sorted(r for r in wanted if r in holder and holder[r]["server"] not in old):
        holds.setdefault(holder[role]["server"], []).append(role)
    return [{
        "server": server,
        "host": holder[roles_held[0]]["host"],
        "holds": roles_held,
        "vacant": vacant,
        "leases": sorted({s["lease"] for s in sessions if s["server"] == server and s["lease"]}),
    } for server, roles_held in sorted(holds.items())]


def leases_at(lines: list[str], host_ip: str, roles: list[str]) -> list[str]:
    """The leases (hex) of every session of `roles` registered from `host_ip`: the per-process
    sessions and the election keys they hold (one lease per process)."""
    return sorted({s["lease"] for s in parse(lines)
                   if s["role"] in roles and s["host"] == host_ip and s["lease"]})
