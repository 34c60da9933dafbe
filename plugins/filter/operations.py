# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Filters of the operations playbooks (health, scale-in/out): pure functions over
milvus_cluster_info's answer and the inventory's expected processes (playbooks/vars/milvus_ops.yml)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.vectorops.milvus.plugins.module_utils import _sessions
from ansible_collections.vectorops.milvus.plugins.plugin_utils import _inventory

_host_of = _sessions.host_of
COORDINATORS = _sessions.COORDINATORS


def milvus_health_alerts(
    info: dict[str, Any],
    expected: list[dict[str, Any]],
    thresholds: dict[str, Any],
    probes: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One alert per breached rule: {name, value, limit, message}."""
    alerts: list[dict[str, Any]] = []
    nodes = info.get("nodes") or []
    # A process may be listed twice (GetMetrics and its etcd session): count addresses once.
    unique = {(n.get("role"), str(n.get("address", ""))) for n in nodes}
    registered = Counter((role, _host_of(address)) for role, address in unique)

    down_limit = int(thresholds.get("nodes_down", 1))
    missing: dict[str, list[str]] = {}
    missing_count: Counter = Counter()
    for item in expected:
        role, ip = item["role"], str(item["ip"])
        want = int(item.get("count", 1))
        have = registered.get((role, ip), 0)
        if have < want:
            missing.setdefault(role, []).append(f"{item['host']} ({ip}) {have}/{want} registered")
            missing_count[role] += want - have
    for role, where in sorted(missing.items()):
        count = missing_count[role]
        if count >= down_limit:
            alerts.append({
                "name": f"{role}_down",
                "value": count,
                "limit": down_limit,
                "message": f"{count} {role} process(es) not registered: " + ", ".join(where),
            })

    failing = [n for n in nodes if n.get("has_error")]
    if failing:
        alerts.append({
            "name": "node_error",
            "value": len(failing),
            "limit": 0,
            "message": "nodes reporting errors: "
            + ", ".join(f"{n.get('role')} {n.get('address')}: {n.get('error_reason', '')}" for n in failing),
        })

    unavailable = [c for c in info.get("collections") or [] if c.get("error")]
    if unavailable:
        alerts.append({
            "name": "collection_unavailable",
            "value": len(unavailable),
            "limit": 0,
            "message": "collections not fully served: "
            + "; ".join(f"{c['name']}: {c['error']}" for c in unavailable),
        })

    balance = info.get("balance") or {}
    limit = thresholds.get("imbalance")
    if limit is not None and int(balance.get("count", 0)) >= 2 and float(balance.get("total", 0)) > 0:
        cv = float(balance.get("cv", 0.0))
        if cv > float(limit):
            alerts.append({
                "name": "imbalance",
                "value": cv,
                "limit": float(limit),
                "message": f"rows per query node vary by {cv:.1%} of the mean (limit {float(limit):.0%}):"
                f" min {balance.get('min')}, max {balance.get('max')}",
            })

    probes = probes or {}
    search = probes.get("search")
    max_err = float(thresholds.get("max_error_rate", 0.0))
    for kind, figures in (("search", search), ("insert", probes.get("insert"))):
        if figures and float(figures.get("error_rate", 0.0)) > max_err:
            alerts.append({
                "name": f"{kind}_errors",
                "value": figures["error_rate"],
                "limit": max_err,
                "message": f"{kind} probe: {figures.get('errors')} of {figures.get('requests')}"
                f" requests failed"
                f" ({figures.get('first_error', '')})",
            })
    if search and thresholds.get("p99_ms") is not None:
        p99 = (search.get("latency_ms") or {}).get("p99")
        if p99 is not None and float(p99) > float(thresholds["p99_ms"]):
            alerts.append({
                "name": "search_p99",
                "value": p99,
                "limit": float(thresholds["p99_ms"]),
                "message": f"search p99 {p99} ms over {float(thresholds['p99_ms']):g} ms"
                f" ({search.get('ok')} searches in {search.get('duration_s')} s)",
            })
    insert = probes.get("insert")
    if insert and thresholds.get("min_rows_per_sec") is not None:
        rate = float(insert.get("rows_per_sec", 0.0))
        if rate < float(thresholds["min_rows_per_sec"]):
            alerts.append({
                "name": "insert_throughput",
                "value": rate,
                "limit": float(thresholds["min_rows_per_sec"]),
                "message": f"insert {rate} rows/s under {float(thresholds['min_rows_per_sec']):g} rows/s",
            })
    return alerts


def _port_of(address: str) -> int:
    tail = address.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def milvus_surplus_nodes(
    nodes: list[dict[str, Any]], expected: list[dict[str, Any]], role: str
) -> list[dict[str, Any]]:
    """Registered nodes of `role` beyond what the inventory places on their host.

    On a host that keeps some, the highest ports (the last instances) are the surplus, as the
    milvus role numbers instances from the first port up. Returns [{id, address, host}], host
    being the inventory host at that address (any role of `expected`; None when none is there).
    """
    want: Counter = Counter()
    inventory_host: dict[str, Any] = {}
    for item in expected:
        inventory_host.setdefault(str(item["ip"]), item.get("host"))
        if item["role"] == role:
            want[str(item["ip"])] += int(item.get("count", 1))
    by_host: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        if node.get("role") == role:
            by_host.setdefault(_host_of(str(node.get("address", ""))), []).append(node)
    surplus = []
    for host, found in sorted(by_host.items()):
        found.sort(key=lambda n: _port_of(str(n.get("address", ""))))
        surplus.extend(
            {"id": n.get("id"), "address": n.get("address"), "host": inventory_host.get(host)}
            for n in found[want[host] :]
        )
    return surplus


def milvus_session_nodes(lines: list[str]) -> list[dict[str, Any]]:
    """Processes registered in etcd, from `etcdctl get --prefix <root>/meta/session/` output
    (key and JSON value lines): [{role, id, address, lease}] for every per-process session."""
    return _sessions.session_nodes(lines)


def milvus_coordinator_handover(
    lines: list[str], host_ip: str, before: dict[str, Any] | None = None, roles: list[str] | None = None
) -> dict[str, Any]:
    """What handing a host's coordinators over to their standbys takes, from `etcdctl get
    --prefix <root>/meta/session/` output (see module_utils/_sessions.py, which the
    milvus_sessions module uses too): active_here, no_standby, leases, servers, active and,
    given `before`, pending."""
    return _sessions.coordinator_handover(lines, host_ip, before, roles)


def milvus_distribution_row(item: dict[str, Any]) -> str:
    """One line of a distribution table: node id, address, segments and rows."""
    return (
        f"querynode {item.get('id', '?'):>4}  {item.get('address', '?'):21}"
        f" segments {item.get('segments', 0):>5}  rows {item.get('rows', 0):>11}"
    )


def milvus_orphan_refusals(
    running: list[str],
    services: list[dict[str, Any]],
    host_ip: str,
    distribution: list[dict[str, Any]] | None = None,
    coordinator_hosts_left: int = 1,
) -> list[str]:
    """Why the Milvus processes running on a host but gone from its compose file (orphans, which
    `remove_orphans` would remove) must not be removed yet, one phrase each (empty: safe).

    running: `SERVICE ROLE` lines of the host's Milvus project containers; services: the ones
    the inventory places now (milvus_host_services); distribution: milvus_cluster_info's
    cluster-wide distribution (query nodes with their segments); coordinator_hosts_left: how
    many other hosts keep coordinators. A query node at this host that still holds segments
    would lose them without a drain, and the last coordinators would leave the cluster with none.
    """
    placed = {s["name"] for s in services}
    orphans = []
    for line in running:
        parts = str(line).split()
        if len(parts) == 2 and parts[0] not in placed:
            orphans.append({"service": parts[0], "role": parts[1]})
    reasons = []
    if any(o["role"] == "querynode" for o in orphans):
        kept = {str(s["ports"]["grpc"]) for s in services if s["role"] == "querynode"}
        for node in distribution or []:
            address = str(node.get("address", ""))
            host, _unused, port = address.rpartition(":")
            if host == host_ip and port not in kept and int(node.get("segments", 0)) > 0:
                held = f"{node['segments']} segments ({node.get('rows', 0)} rows)"
                reasons.append(f"query node {node.get('id')} ({address}), which still holds {held}")
    coordinators = [o["service"] for o in orphans if o["role"] in COORDINATORS]
    if coordinators and int(coordinator_hosts_left) == 0:
        reasons.append(f"{', '.join(coordinators)}, which would leave the cluster without coordinators")
    return reasons


def _last_line(text: Any) -> str:
    lines = [x.strip() for x in str(text or "").splitlines() if x.strip()]
    return lines[-1] if lines else ""


def kafka_partition_problems(describe: Any) -> list[str]:
    """The partitions in Kafka's `TopicCommand --describe` answer that have no leader or an ISR
    short of their replicas, one phrase each ("topic/partition: ..."); empty: every partition has
    a leader and all its replicas in sync. One describe of every partition answers both of the
    tool's filters (--unavailable-partitions, --under-replicated-partitions) with one JVM start."""
    problems = []
    for line in str(describe or "").splitlines():
        fields = {}
        for part in line.strip().split("\t"):
            key, sep, value = part.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "Partition" not in fields:
            continue  # a topic's header line, or anything else the tool prints
        name = f"{fields.get('Topic', '?')}/{fields['Partition']}"
        replicas = [r for r in fields.get("Replicas", "").split(",") if r]
        isr = [r for r in fields.get("Isr", "").split(",") if r]
        if fields.get("Leader", "") in ("", "none", "-1"):
            problems.append(f"{name}: no leader")
        elif set(replicas) - set(isr):
            problems.append(f"{name}: in sync {','.join(isr) or 'none'} of replicas {','.join(replicas)}")
    return problems


_ZK_SERVING = ("leader", "follower", "standalone")


def pulsar_member_problems(answer: Any, members: list[str], ports: dict[str, Any]) -> list[str]:
    """What keeps a Pulsar cluster from being whole, one phrase per part (empty: whole), from the
    health gate's probe (playbooks/tasks/cluster_healthy.yml), whose standard output is JSON:
    {"zookeeper": {"ip:port": "<srvr answer or error: ...>"}, "bookies": {"ip:port": "" or
    "error: ..."}, "brokers": {"from": "ip:port", "active": [...]} or {"error": "..."}}.
    members are the Pulsar hosts' addresses; ports holds their zookeeper, bookie and web ports.
    A ZooKeeper member serves when it says it leads or follows; a bookie is up when its port
    accepts a connection (the role's own healthcheck); the brokers are those the admin API lists
    as active, and each member's must be among them."""
    import json

    if isinstance(answer, dict):
        try:
            probe = json.loads(answer.get("stdout") or "")
        except ValueError:
            why = _last_line(answer.get("stderr")) or _last_line(answer.get("msg")) or "no answer"
            return [f"Pulsar: members not readable ({why})"]
    else:
        probe = answer
    if not isinstance(probe, dict):
        return ["Pulsar: members not readable (no answer)"]
    problems: list[str] = []

    def address(host: str, kind: str) -> str:
        return f"{host}:{ports[kind]}"

    zookeeper = probe.get("zookeeper") or {}
    modes = {}
    for host in members:
        said = str(zookeeper.get(address(host, "zookeeper"), "error: not asked"))
        mode = ""
        for line in said.splitlines():
            if line.startswith("Mode:"):
                mode = line.partition(":")[2].strip()
        modes[host] = mode if mode in _ZK_SERVING else (said if said.startswith("error") else "not serving")
    serving = [h for h in members if modes[h] in _ZK_SERVING]
    if len(serving) != len(members):
        down = ", ".join(f"{address(h, 'zookeeper')} ({modes[h]})" for h in members if h not in serving)
        problems.append(f"Pulsar ZooKeeper: {len(serving)} of {len(members)} members serve (down: {down})")
    if serving and not any(modes[h] in ("leader", "standalone") for h in serving):
        problems.append("Pulsar ZooKeeper: no member leads")

    bookies = probe.get("bookies") or {}
    down = [address(h, "bookie") for h in members if bookies.get(address(h, "bookie"), "error") != ""]
    if down:
        problems.append(f"Pulsar bookies: {len(members) - len(down)} of {len(members)} accept connections "
                        f"(down: {', '.join(down)})")

    brokers = probe.get("brokers") or {}
    if "active" not in brokers:
        problems.append(f"Pulsar brokers: not readable ({_last_line(brokers.get('error')) or 'no answer'})")
    else:
        active = {str(b) for b in brokers["active"]}
        missing = [address(h, "web") for h in members if address(h, "web") not in active]
        if missing:
            problems.append(f"Pulsar brokers: {len(members) - len(missing)} of {len(members)} active "
                            f"(missing: {', '.join(missing)})")
    return problems


def milvus_gate_problems(
    etcd: dict[str, Any],
    etcd_members: int,
    kafka: dict[str, Any] | None = None,
    collections: dict[str, Any] | None = None,
    pulsar: dict[str, Any] | None = None,
    pulsar_members: list[str] | None = None,
    pulsar_ports: dict[str, Any] | None = None,
) -> list[str]:
    """What keeps the cluster from being whole, one phrase per problem (empty: healthy), from
    the registered results of playbooks/tasks/cluster_healthy.yml: `etcdctl endpoint health -w
    json`, Kafka's TopicCommand --describe (every partition: see kafka_partition_problems),
    milvus_cluster_info's collections with search_count (every loaded collection read back and
    searched), and on Pulsar the probe of its members (see pulsar_member_problems)."""
    import json

    problems: list[str] = []
    try:
        health = json.loads(etcd.get("stdout") or "[]")
    except ValueError:
        health = []
    healthy = [h for h in health if h.get("health")]
    if len(healthy) != int(etcd_members):
        bad = [str(h.get("endpoint", "?")) for h in health if not h.get("health")]
        text = f"etcd: {len(healthy)} of {etcd_members} members healthy"
        if bad:
            text += f" (unhealthy: {', '.join(bad)})"
        if etcd.get("rc", 0) and _last_line(etcd.get("stderr")):
            text += f" ({_last_line(etcd.get('stderr'))})"
        problems.append(text)
    if kafka and not kafka.get("skipped"):
        if kafka.get("rc", 0) != 0 or "stdout" not in kafka:
            why = _last_line(kafka.get("stderr")) or "no answer"
            problems.append(f"Kafka: partitions not readable ({why})")
        else:
            partial = kafka_partition_problems(kafka.get("stdout"))
            if partial:
                shown = "; ".join(partial[:3]) + (f"; {len(partial) - 3} more" if len(partial) > 3 else "")
                problems.append(f"Kafka: {len(partial)} partitions not whole ({shown})")
    if pulsar and not pulsar.get("skipped"):
        problems.extend(pulsar_member_problems(pulsar, pulsar_members or [], pulsar_ports or {}))
    if collections is not None:
        # failed_when: false clears "failed"; an answer without the module's keys is a failed call.
        if collections.get("failed") or "unavailable_collections" not in collections:
            problems.append(f"collections: {collections.get('msg') or 'not readable'}")
        else:
            if collections.get("unavailable_collections"):
                names = ", ".join(collections["unavailable_collections"])
                problems.append(f"collections unavailable: {names}")
            searched = {c.get("name"): c.get("search") or {} for c in collections.get("collections") or []}
            failing = [
                f"{name} ({searched.get(name, {}).get('error') or 'no answer'})"
                for name in collections.get("unsearchable_collections") or []
            ]
            if failing:
                problems.append(f"searches fail on {', '.join(failing)}")
    return problems


def milvus_proxy_addresses(
    hosts: list[str], hostvars: Any, default_port: Any = _inventory.DEFAULT_PROXY_PORT
) -> list[str]:
    """host:port of the proxy on each host, by the action plugin's rule (cluster_host_ip, else
    ansible_host; milvus_ops_proxy_port, else default_port)."""
    try:
        return [_inventory.proxy_address(hostvars, h, default_port) for h in hosts or []]
    except _inventory.InventoryVarError as exc:
        raise AnsibleFilterError(str(exc)) from None


def milvus_expected_processes(roles: dict[str, Any], groups: Any, hostvars: Any) -> list[dict[str, Any]]:
    """What the inventory says should run: one entry per host and role, {role, host, ip, count}."""
    try:
        return _inventory.expected_processes(roles, groups, hostvars)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"milvus_expected_processes: {exc}") from None


def milvus_retired_processes(hosts: Any, hostvars: Any) -> list[dict[str, Any]]:
    """Entries in milvus_expected_processes' form for the hosts to retire (the group
    milvus_retire): {role: retired, host, ip, count: 0}, so that every Milvus process at their
    addresses is surplus and named with its host. A host with no cluster_host_ip is left out
    (scale_in.yml refuses it before this is used)."""
    out = []
    for host in hosts or []:
        ip = str((hostvars[host] or {}).get("cluster_host_ip") or "") if host in hostvars else ""
        if ip:
            out.append({"role": "retired", "host": host, "ip": ip, "count": 0})
    return out


def milvus_rebalance_lines(summary: list[dict[str, Any]], tolerance: Any) -> list[str]:
    """One line per collection and replica of milvus_rebalance's summary: the coefficient of
    variation before and after, and whether that is balanced, the best segment granularity
    allows, or not balanced yet."""
    lines = []
    for item in summary or []:
        if item.get("balanced"):
            verdict = f"balanced (tolerance {tolerance})"
        elif item.get("best_possible"):
            verdict = (f"above the tolerance {tolerance}, but the best that segment granularity allows "
                       "(too few or too uneven segments for the query nodes)")
        else:
            verdict = "not balanced yet (max_moves reached, or the distribution changed meanwhile): run again"
        lines.append(f"{item.get('collection')} (replica {item.get('replica_id')}): "
                     f"cv {item.get('cv_before')} before, {item.get('cv_after')} after; {verdict}")
    return lines


def milvus_loadtest_line(result: dict[str, Any], phases: list[str]) -> str:
    """milvus_loadtest's figures of each phase, in one line."""
    parts = []
    for kind in phases or []:
        f = result.get(kind) or {}
        lat = f.get("latency_ms") or {}
        parts.append(f"{kind}: {f.get('ok')} ok, {f.get('errors')} errors in {f.get('duration_s')} s, "
                     f"{f.get('qps')} req/s, {f.get('rows_per_sec')} rows/s, p50 {lat.get('p50')} ms, "
                     f"p99 {lat.get('p99')} ms.")
    return " ".join(parts)


def milvus_probe_failures(
    search: dict[str, Any] | None, insert: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """An alert per health probe that ran and gave no figures (registered results of
    milvus_loadtest's search and insert probes; a skipped probe is none)."""
    alerts = []
    for key, res in (("search", search), ("insert", insert)):
        res = res or {}
        if res.get("skipped") or key in res:
            continue
        alerts.append({"name": f"{key}_probe_failed", "value": 1, "limit": 0,
                       "message": f"{key} probe failed: {res.get('msg') or 'no answer'}"})
    return alerts


def milvus_drill_collections(
    probes: dict[str, Any], before: dict[str, Any], after: dict[str, Any], killed_at: Any, host_ip: str
) -> list[dict[str, Any]]:
    """The failover drill's figures per collection: its replicas, the rows the killed host held,
    the rows served before and after (count(*), Strong), and what its search probe saw from the
    kill on (failed searches, resends, the failed-search window and the longest outage).
    `probes`: the registered async_status loop of the probes (each item's item.item is the
    collection); `before`, `after`: milvus_cluster_info's answers; `killed_at`: epoch seconds."""
    kill = float(killed_at)
    by_name_before = {c.get("name"): c for c in (before or {}).get("collections") or []}
    by_name_after = {c.get("name"): c for c in (after or {}).get("collections") or []}
    out = []
    for probe in (probes or {}).get("results") or []:
        item = probe.get("item") or {}
        name = item.get("item") if isinstance(item, dict) else item
        was, now = by_name_before.get(name) or {}, by_name_after.get(name) or {}
        search = probe.get("search") or {}
        start = float(search.get("started_at", kill))
        outages = search.get("outages") or []
        ends = [float(o.get("start_s", 0)) + float(o.get("seconds", 0)) for o in outages]
        on_host = [d for d in was.get("distribution") or [] if _host_of(d.get("address", "")) == host_ip]
        out.append({
            "name": name,
            "replica_number": was.get("replica_number"),
            "rows_on_host": sum(int(d.get("rows", 0)) for d in on_host),
            "rows_before": was.get("served_rows"),
            "rows_after": now.get("served_rows"),
            "searches_ok": search.get("ok", 0),
            "searches_failed": search.get("errors", 0),
            "resent": search.get("resent", 0),
            "probe_lead_s": round(kill - start, 3),
            "failed_search_window_s": round(start + max(ends) - kill, 3) if ends else 0.0,
            "longest_outage_s": search.get("longest_outage_s"),
            "outages": outages,
            "probe_error": probe.get("msg", ""),
        })
    return out


def milvus_querynode_hold(collections: list[dict[str, Any]], host_ip: str) -> dict[str, Any]:
    """What the query nodes at `host_ip` hold, from milvus_cluster_info's collections (replicas
    and distribution): `movable`, the segments and shard leaderships of replicas with a node on
    another host, which querycoord hands over while the nodes stop gracefully; and `alone_in`, the
    collections with a replica whose every node is here, whose channels have nowhere to go, so a
    graceful stop would wait for them until its timeout."""
    def here(node: dict[str, Any]) -> bool:
        return str(node.get("address", "")).rsplit(":", 1)[0] == host_ip

    movable, alone_in = 0, []
    for coll in collections or []:
        rows = {d.get("id"): d for d in coll.get("distribution") or []}
        for replica in coll.get("replicas") or []:
            nodes = replica.get("nodes") or []
            ours = [n for n in nodes if here(n)]
            if not ours:
                continue
            if len(ours) == len(nodes):
                if coll.get("name") not in alone_in:
                    alone_in.append(coll.get("name"))
                continue
            movable += sum(int((rows.get(n.get("id")) or {}).get("segments") or 0) for n in ours)
            movable += sum(1 for shard in replica.get("shards") or [] if here(shard.get("leader") or {}))
    return {"movable": movable, "alone_in": alone_in}


def milvus_unhealthy(wait: dict[str, Any], services: list[dict[str, Any]], describe: bool = False) -> Any:
    """The processes that wait_healthz.py left unhealthy, from its registered result: the services
    (dicts with name and healthz) whose URL it names, in the services' order. describe=True gives
    one line instead, "NAME answered ANSWER; ...", or the script's own error when it printed no
    answer (no python3 on the host, say); then no process is named, and none is to be restarted.
    """
    if not isinstance(wait, dict):
        kind = type(wait).__name__
        raise AnsibleFilterError(f"milvus_unhealthy: expects a registered command result, not {kind}")
    text = str(wait.get("stdout") or "").strip()
    unhealthy: dict[str, Any] = {}
    if text.startswith("{"):
        try:
            unhealthy = dict(json.loads(text).get("unhealthy") or {})
        except (ValueError, AttributeError, TypeError):
            unhealthy = {}
    sick = [s for s in services if s.get("healthz") in unhealthy]
    if not describe:
        return sick
    if sick:
        return "; ".join(f"{s['name']} answered {unhealthy[s['healthz']]}" for s in sick)
    error = str(wait.get("stderr") or "").strip() or text or str(wait.get("msg") or "no answer")
    return " ".join(error.split())[:600]


class FilterModule:
    """Operations filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "milvus_querynode_hold": milvus_querynode_hold,
            "milvus_unhealthy": milvus_unhealthy,
            "milvus_health_alerts": milvus_health_alerts,
            "milvus_surplus_nodes": milvus_surplus_nodes,
            "milvus_distribution_row": milvus_distribution_row,
            "milvus_session_nodes": milvus_session_nodes,
            "milvus_coordinator_handover": milvus_coordinator_handover,
            "milvus_gate_problems": milvus_gate_problems,
            "kafka_partition_problems": kafka_partition_problems,
            "pulsar_member_problems": pulsar_member_problems,
            "milvus_orphan_refusals": milvus_orphan_refusals,
            "milvus_proxy_addresses": milvus_proxy_addresses,
            "milvus_expected_processes": milvus_expected_processes,
            "milvus_retired_processes": milvus_retired_processes,
            "milvus_rebalance_lines": milvus_rebalance_lines,
            "milvus_loadtest_line": milvus_loadtest_line,
            "milvus_probe_failures": milvus_probe_failures,
            "milvus_drill_collections": milvus_drill_collections,
        }
