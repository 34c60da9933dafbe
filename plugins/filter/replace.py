# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Replacing a host that came back empty (playbooks/replace_host.yml): what the survivors say,
what must be refused, and what to do with the host's etcd member.

The quorum services keep members by identity: etcd by member id (its name and peer URL), KRaft by
node.id. A host whose disk is gone must not rejoin as if it still held its log: etcd refuses a
member that bootstraps again ("new"), and a KRaft voter with an empty log could vote for a
candidate that lacks committed records. So the survivors are read first, and the plan says
whether they still have quorum, whether the host is really empty, and which etcd member to drop
and add again."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError


def kafka_quorum_replication(text: str) -> list[dict[str, Any]]:
    """Rows of `kafka-metadata-quorum describe --replication` as dicts: node_id, log_end_offset
    and lag (ints), status (Leader, Follower or Observer). Header names decide the columns."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    header_at = next((i for i, line in enumerate(lines) if line.split()[:1] == ["NodeId"]), None)
    if header_at is None:
        return []
    names = lines[header_at].split()
    rows = []
    for line in lines[header_at + 1:]:
        cells = line.split()
        if len(cells) != len(names) or not cells[0].isdigit():
            continue
        row = dict(zip(names, cells, strict=True))
        rows.append({
            "node_id": int(row["NodeId"]),
            "log_end_offset": int(row.get("LogEndOffset", "-1")),
            "lag": int(row.get("Lag", "-1")),
            "status": row.get("Status", ""),
        })
    return rows


def _peer_url_host(url: str) -> str:
    match = re.match(r"^\w+://\[?([^\]/]+?)\]?:\d+", url or "")
    return match.group(1) if match else ""


def replace_host_plan(host: str, *, etcd_hosts: Sequence[str], etcd_health: Any, etcd_members: Any,
                      address: str, peer_url: str, running: Sequence[str] = (), force: bool = False,
                      kafka_hosts: Sequence[str] = (), kafka_node_id: Any = None,
                      kafka_replication: Any = None, kafka_reached: bool = True,
                      etcd_error: str = "", kafka_error: str = "") -> dict[str, Any]:
    """The checks of replace_host.yml and the etcd step, from what the survivors answered.

    etcd_health: `etcdctl endpoint health -w json` of every member's endpoint (a list of
    {endpoint, health}); etcd_members: `etcdctl member list -w json` from a survivor (None when
    no survivor answered); address: the host's inventory address; peer_url: the peer URL it will
    advertise; running: the host's running cluster containers; kafka_replication: the rows of
    kafka_quorum_replication from a survivor (kafka_reached false when no survivor answered).

    Returns {problems: [phrases], quorum_lost: bool, etcd_remove: hex member id or "",
    etcd_add: bool}. quorum_lost says the survivors cannot carry a replacement (the restore
    playbook is the way back)."""
    if not isinstance(etcd_hosts, (list, tuple)):
        raise AnsibleFilterError("replace_host_plan: etcd_hosts must be the etcd group's list of hosts")
    problems: list[str] = []
    lost: list[str] = []
    plan: dict[str, Any] = {"problems": problems, "quorum_lost": False, "etcd_remove": "", "etcd_add": False}

    in_etcd = host in etcd_hosts
    if in_etcd:
        own = f"://{address}:"
        survivors = [e for e in (etcd_health or [])
                     if isinstance(e, Mapping) and own not in str(e.get("endpoint", ""))]
        healthy = sum(1 for e in survivors if e.get("health") is True)
        need = len(etcd_hosts) // 2 + 1
        if not survivors and etcd_error:
            lost.append(f"etcd: the other members' health could not be read ({etcd_error})")
        elif healthy < need:
            lost.append(f"etcd: {healthy} of the other {len(etcd_hosts) - 1} members are healthy, "
                        f"a quorum needs {need}")
        members = (etcd_members or {}).get("members") if isinstance(etcd_members, Mapping) else None
        if members is None and not lost:
            lost.append("etcd: no surviving member listed the members")
        for member in members or []:
            urls = [str(u) for u in member.get("peerURLs") or []]
            named = member.get("name") == host
            if not named and peer_url not in urls:
                continue
            if named and peer_url not in urls:
                was = ", ".join(sorted({_peer_url_host(u) for u in urls}))
                problems.append(f"{host}'s etcd member advertises {was}, the inventory says {address}: "
                                "replace_host keeps a host's address (give the new machine the old one)")
            elif member.get("name") or member.get("clientURLs"):
                plan["etcd_remove"] = format(int(member["ID"]), "x")
                plan["etcd_add"] = True
            # else: added already and not yet started (a re-run after a failure): nothing to do
            break
        else:
            plan["etcd_add"] = True

    if host in kafka_hosts:
        if not kafka_reached:
            lost.append("Kafka: no surviving broker answered for the KRaft quorum"
                        + (f" ({kafka_error})" if kafka_error else ""))
        else:
            leaders = [r for r in kafka_replication or [] if r.get("status") == "Leader"]
            if not leaders:
                lost.append("Kafka: the KRaft quorum has no leader")
            elif str(leaders[0].get("node_id")) == str(kafka_node_id) and not running:
                # The table says the host leads, yet it runs nothing: the answer is stale.
                lost.append(f"Kafka: the KRaft quorum still names {host} (node.id {kafka_node_id}) "
                            "its leader")

    if lost:
        plan["quorum_lost"] = True
        problems[:0] = lost
    elif running and not force:
        shown = ", ".join(sorted(running)[:4]) + (", ..." if len(running) > 4 else "")
        problems.append(f"{host} still runs {len(running)} cluster container(s) ({shown}): it is not an "
                        "empty host; stop them first, or set "
                        "replace_host_force=true to wipe its etcd and Kafka data and rejoin it")
    return plan


def survivor_answer(results: Any, expect: str = "") -> dict[str, Any]:
    """The first answer of a command asked of each survivor in turn (a registered loop's
    `results`, one item per host): {answered, host, stdout, error}. An answer is output that
    starts with `expect` ("[" or "{" for JSON; etcdctl exits 1 with a full answer when an endpoint
    is down), or exit 0 when `expect` is empty. With no answer, `error` names each host asked and
    its last line of output (a failed docker exec prints its reason on stdout)."""
    whys = []
    for res in results or []:
        if not isinstance(res, Mapping) or res.get("skipped"):
            continue
        host = str(res.get("item", "?"))
        out = str(res.get("stdout") or "").strip()
        if res.get("unreachable"):
            whys.append(f"{host}: unreachable")
            continue
        if (out.startswith(expect) if expect else res.get("rc") == 0) and out:
            return {"answered": True, "host": host, "stdout": out, "error": ""}
        output = [*(res.get("stderr_lines") or []), *(res.get("stdout_lines") or [])]
        lines = [ln.strip() for ln in output if ln.strip()]
        whys.append(f"{host}: {lines[-1] if lines else 'exit ' + str(res.get('rc', '?'))}")
    return {"answered": False, "host": "", "stdout": "",
            "error": "asked on " + "; ".join(whys) if whys else "no survivor to ask"}


def kafka_voters_caught_up(rows: Any, voters: Sequence[Any], skip: Any = None) -> list[str]:
    """Phrases for the KRaft voters (node ids) that are missing from the replication table, not
    Leader or Follower, or behind the leader (lag > 0); `skip` names a voter left out (the one
    being replaced). Empty when every voter holds the whole log."""
    by_id = {str(r.get("node_id")): r for r in rows or [] if isinstance(r, Mapping)}
    out = []
    for voter in voters:
        if skip is not None and str(voter) == str(skip):
            continue
        row = by_id.get(str(voter))
        if row is None:
            out.append(f"voter {voter} is not in the quorum's table")
        elif row.get("status") not in ("Leader", "Follower"):
            out.append(f"voter {voter} is {row.get('status') or 'unknown'}")
        elif int(row.get("lag", -1)) != 0:
            out.append(f"voter {voter} lags {row.get('lag')} records behind the leader")
    return out


def replace_host_unserved(collections: Any, node_ids: Sequence[Any]) -> list[str]:
    """Loaded collections (milvus_cluster_info's collections) none of whose replicas holds one of
    `node_ids` (the replaced host's query nodes): segments cannot move onto the host for them
    yet. With no node ids every loaded collection is listed."""
    wanted = {str(n) for n in node_ids or []}
    out = []
    for coll in collections or []:
        if not isinstance(coll, Mapping) or not coll.get("loaded"):
            continue
        members = {str(n.get("id")) for r in coll.get("replicas") or [] for n in r.get("nodes") or []}
        if not members & wanted:
            out.append(str(coll.get("name")))
    return out


def milvus_retire_refusals(host: str, projects: Any, *, groups: Sequence[str], placing: Sequence[str],
                           retirable: Sequence[str], prefix: str = "vectorops-") -> list[str]:
    """Why `host` cannot be retired (an empty list when it can): it is still in a group of
    `placing` (its own `groups`), or it runs a compose project of the collection (named with
    `prefix`) that is not `retirable`: an etcd or Kafka member, the object store, Prometheus. A
    retirement removes only stateless processes; a quorum member leaves by another way.
    `projects`: the compose project label of each running container on the host, one per line
    (`docker ps --format '{{.Label "com.docker.compose.project"}}'`)."""
    out = []
    still = sorted(set(groups or []) & set(placing or []))
    if still:
        out.append(f"{host} is still in {', '.join(still)}: take it out of every group that places "
                   "processes first")
    lines = projects.splitlines() if isinstance(projects, str) else list(projects or [])
    running = sorted({str(p).strip() for p in lines if str(p).strip().startswith(prefix)})
    kept = [p for p in running if p not in set(retirable or [])]
    if kept:
        out.append(f"{host} runs {', '.join(kept)}, which a retirement does not remove (only "
                   f"{', '.join(retirable or [])}): a quorum host is replaced, not retired "
                   "(playbooks/replace_host.yml rebuilds it on a new machine at the same address)")
    return out


class FilterModule:
    """Host replacement filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "kafka_quorum_replication": kafka_quorum_replication,
            "kafka_voters_caught_up": kafka_voters_caught_up,
            "milvus_retire_refusals": milvus_retire_refusals,
            "replace_host_plan": replace_host_plan,
            "replace_host_unserved": replace_host_unserved,
            "survivor_answer": survivor_answer,
        }
