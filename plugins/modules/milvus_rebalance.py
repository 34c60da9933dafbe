#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: milvus_rebalance."""

from __future__ import annotations

DOCUMENTATION = r"""
module: milvus_rebalance
short_description: Move sealed segments between Milvus query nodes until they are balanced, or drain a node
version_added: 0.1.0
description:
  - Plans moves of sealed segments inside each replica of each collection (LoadBalance only moves
    a segment between nodes of the same replica) that bring the per-node load within
    O(tolerance), choosing at every step the move that evens the load most, so the plan is short.
  - Executes the plan with LoadBalance one move set (one source, one target) at a time, re-reads
    the distribution after each, retries a move that raced with compaction or the automatic
    balancer, waits until the segments are served from their new node, and reports the
    distribution before and after.
  - With O(drain), moves every sealed segment off one query node instead (maintenance, scale-in).
  - Impossible requests (unknown node, node outside the replica, collection not loaded, a node
    with nothing to drain to) fail before anything moves.
extends_documentation_fragment:
  - vectorops.milvus.connection
  - vectorops.milvus.attributes
options:
  collections:
    description:
      - Collections to rebalance. Every loaded collection when omitted.
      - Each named collection must exist and be fully loaded.
    type: list
    elements: str
  tolerance:
    description:
      - Stop once the coefficient of variation (std dev / mean) of the per-node load of a replica
        is at most this. A move is only made when it strictly evens the load, so segments never
        go back and forth between two nodes.
    type: float
    default: 0.2
  balance_by:
    description:
      - Load measure to even out.
    type: str
    choices: [rows, segments]
    default: rows
  max_moves:
    description:
      - Most segment moves in one run. Balancing stops there; a drain that needs more fails before moving.
    type: int
  target_nodes:
    description:
      - Query nodes that may receive segments (id, C(ip:port) address or name such as C(querynode4)).
        All nodes of the replica when omitted. Each must be in a replica of every selected collection.
    type: list
    elements: str
  drain:
    description:
      - Query node (id, C(ip:port) or name) to move every sealed segment off. A list holding one
        node is taken as that node; a list of several fails (drain one node per run).
      - Growing segments and channels stay until the node stops; the automatic balancer may move
        segments back to a drained node that keeps running.
    type: raw
  wait_timeout:
    description:
      - Seconds allowed for executing the whole plan, waiting for each move included.
    type: float
    default: 300
  poll_interval:
    description:
      - Seconds between two reads of the distribution while waiting for a move.
    type: float
    default: 1.0
  retries:
    description:
      - How often a move that raced with compaction or the automatic balancer is re-planned and retried.
    type: int
    default: 3
attributes:
  check_mode:
    support: full
    details: Returns the plan and the expected distribution; moves nothing.
  diff_mode:
    support: full
    details: Rows and segments per node, before and after.
  idempotent:
    support: full
    details: A balanced cluster plans no move, unless the automatic balancer changed it in between.
notes:
  - The automatic balancer of Milvus keeps running and may move segments too; moves it makes are
    seen when the distribution is re-read, and the module stops (with a warning) instead of
    fighting it when a new plan would move again a segment this run already moved.
author:
  - vectorops team (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Even out segments after adding a query node
  vectorops.milvus.milvus_rebalance:
    hosts: [10.0.0.11:19530, 10.0.0.12:19530]
    user: root
    password: "{{ milvus_root_password }}"
    tolerance: 0.1
  register: rebalance

- name: Show the plan only
  vectorops.milvus.milvus_rebalance:
    uri: http://10.0.0.11:19530
    token: "{{ milvus_token }}"
    collections: [products]
  check_mode: true
  diff: true

- name: Move everything off a query node before maintenance
  vectorops.milvus.milvus_rebalance:
    uri: http://10.0.0.11:19530
    token: "{{ milvus_token }}"
    drain: 10.0.0.13:21123
    wait_timeout: 900

- name: Fill only the new node, at most 20 moves
  vectorops.milvus.milvus_rebalance:
    uri: http://10.0.0.11:19530
    token: "{{ milvus_token }}"
    target_nodes: [querynode7]
    max_moves: 20
"""

RETURN = r"""
plan:
  description: Moves planned from the distribution read at the start.
  returned: always
  type: list
  elements: dict
  sample: [{"collection": "products", "replica_id": 4477, "segment_id": 4477001, "rows": 2000,
            "source": {"id": 4, "address": "10.0.0.12:21123"},
            "target": {"id": 7, "address": "10.0.0.13:21123"}}]
moves:
  description: Moves made (empty in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{"collection": "products", "replica_id": 4477, "segment_id": 4477001, "rows": 2000,
            "source": {"id": 4, "address": "10.0.0.12:21123"},
            "target": {"id": 7, "address": "10.0.0.13:21123"},
            "seconds": 1.8}]
before:
  description: Per collection and replica, the load per node and its statistics at the start.
  returned: always
  type: list
  elements: dict
  sample: [{"collection": "products", "replica_id": 4477,
            "nodes": [{"id": 4, "address": "10.0.0.12:21123", "segments": 4, "rows": 8000},
                      {"id": 7, "address": "10.0.0.13:21123", "segments": 0, "rows": 0}],
            "stats": {"by": "rows", "count": 2, "total": 8000, "mean": 4000.0, "std_dev": 4000.0, "cv": 1.0,
                      "max": 8000, "min": 0, "max_min_ratio": null, "threshold": 0.2, "balanced": false,
                      "max_node": {"id": 4, "address": "10.0.0.12:21123"},
                      "min_node": {"id": 7, "address": "10.0.0.13:21123"}},
            "best_possible": false}]
  contains:
    best_possible:
      description: The replica is within O(tolerance), or no move could even its load further
        (segment granularity allows no better, e.g. 2 segments on 3 query nodes).
      type: bool
      sample: false
after:
  description: The same at the end; in check mode, the distribution the plan would give.
  returned: always
  type: list
  elements: dict
  sample: [{"collection": "products", "replica_id": 4477,
            "nodes": [{"id": 4, "address": "10.0.0.12:21123", "segments": 2, "rows": 4000},
                      {"id": 7, "address": "10.0.0.13:21123", "segments": 2, "rows": 4000}],
            "stats": {"by": "rows", "count": 2, "total": 8000, "mean": 4000.0, "std_dev": 0.0, "cv": 0.0,
                      "max": 4000, "min": 4000, "max_min_ratio": 1.0, "threshold": 0.2, "balanced": true,
                      "max_node": {"id": 4, "address": "10.0.0.12:21123"},
                      "min_node": {"id": 4, "address": "10.0.0.12:21123"}},
            "best_possible": true}]
  contains:
    best_possible:
      description: The replica is within O(tolerance), or no move could even its load further
        (segment granularity allows no better, e.g. 2 segments on 3 query nodes).
      type: bool
      sample: true
summary:
  description:
    - Per collection and replica, the coefficient of variation of the per-node load before and after,
      whether the result is within O(tolerance), and whether it is the best possible.
    - C(balanced=false) with C(best_possible=true) means no plan can reach O(tolerance), as the segments
      are too few or too uneven to spread any better (for example 2 segments on 3 query nodes).
  returned: always
  type: list
  elements: dict
  sample: [{"collection": "products", "replica_id": 4477, "cv_before": 1.0, "cv_after": 0.0,
            "balanced": true, "best_possible": true},
           {"collection": "small", "replica_id": 4478, "cv_before": 1.4142, "cv_after": 0.7071,
            "balanced": false, "best_possible": true}]
balanced:
  description: Every replica within O(tolerance) at the end (for a drain, the drained node holds no
    sealed segment).
  returned: always
  type: bool
  sample: true
retried:
  description: Move sets re-planned after racing with compaction or the automatic balancer.
  returned: always
  type: int
  sample: 0
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible_collections.vectorops.milvus.plugins.module_utils._balance import (  # noqa: E402
    PlanError,
    apply_moves,
    balance_report,
    group_moves,
    loads_of,
    plan_replica,
    plan_replicas,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._cluster import (  # noqa: E402
    replica_placement,
    snapshot,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._common import (  # noqa: E402
    node_label,
    node_ref,
    resolve_node,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import (  # noqa: E402
    Milvus,
    MilvusError,
    classify,
    one_line,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._module import MilvusModule  # noqa: E402

Placement = dict[int, list[tuple[int, int]]]


class Rebalancer:
    """Plans per replica, executes one move set at a time, and keeps the record."""

    def __init__(self, module: MilvusModule, milvus: Milvus):
        self.module = module
        self.p = module.params
        self.milvus = milvus
        self.addresses: dict[int, str] = {}
        self.drain: int | None = None
        self.targets: list[int] | None = None
        self.moves: list[dict[str, Any]] = []
        self.retried = 0

    # ---- validation, before anything moves
    def prepare(self) -> list[str]:
        """Resolve nodes and collections; MilvusError for anything impossible."""
        self.milvus.require_version()
        query_nodes = [n for n in self.milvus.nodes() if n["role"] == "querynode"]
        self.addresses = {n["id"]: n["address"] for n in query_nodes}
        known = ", ".join(node_label(n["id"], self.addresses) for n in query_nodes) or "none"
        if self.p["drain"] is not None:
            self.drain = resolve_node(self.p["drain"], query_nodes)
            if self.drain is None:
                raise MilvusError(f'unknown query node "{self.p["drain"]}" to drain (query nodes: {known})')
        if self.p["target_nodes"]:
            self.targets = []
            for spec in self.p["target_nodes"]:
                node = resolve_node(spec, query_nodes)
                if node is None:
                    raise MilvusError(f'unknown target query node "{spec}" (query nodes: {known})')
                self.targets.append(node)
            if self.drain is not None and self.drain in self.targets:
                raise MilvusError(
                    f"node {node_label(self.drain, self.addresses)} cannot be drained and a target"
                )
        existing = self.milvus.list_collections()
        names = self.p["collections"]
        if names:
            missing = [n for n in names if n not in existing]
            if missing:
                raise MilvusError(
                    f"collection {', '.join(missing)} does not exist in database {self.p['db_name']}"
                )
            for name in names:
                state = self.milvus.load_state(name)
                if state != "Loaded":
                    raise MilvusError(
                        f"collection {name} is not fully loaded (state {state}); "
                        "LoadBalance needs a loaded collection"
                    )
            return list(names)
        return [n for n in existing if self.milvus.load_state(n) == "Loaded"]

    # ---- reading and planning
    def read(self, name: str) -> dict[int, tuple[Placement, list[int]]]:
        """Replica id -> (placement of sealed segments, segments in flight)."""
        snap = snapshot(self.milvus, name)
        if not snap["loaded"]:
            raise MilvusError(f"collection {name} is no longer loaded (state {snap['load_state']})")
        return {r["id"]: replica_placement(snap["segments"], r) for r in snap["replicas"]}

    def plan(
        self, name: str, replicas: dict[int, tuple[Placement, list[int]]], budget: int | None
    ) -> list[dict[str, Any]]:
        """Moves for every replica of one collection; MilvusError for an impossible request."""
        try:
            planned = plan_replicas(
                {rep_id: place for rep_id, (place, _in_flight) in replicas.items()},
                tolerance=self.p["tolerance"],
                by=self.p["balance_by"],
                max_moves=budget,
                targets=self.targets,
                drain=self.drain,
                label=lambda n: node_label(n, self.addresses),
            )
        except PlanError as exc:
            raise MilvusError(
                f"collection {name}: {exc}; LoadBalance moves segments only inside a replica"
            ) from None
        return [dict(mv, collection=name) for mv in planned]

    def view(self, name: str, rep_id: int, place: Placement) -> dict[str, Any]:
        """One replica's per-node load with statistics, every id with its address."""
        loads = loads_of(place, self.p["balance_by"])
        stats = balance_report(loads, self.p["tolerance"], self.addresses)
        stats["by"] = self.p["balance_by"]
        if self.drain is not None and self.drain in place:
            stats["balanced"] = not place[self.drain]
        nodes = [
            dict(node_ref(n, self.addresses), segments=len(place[n]), rows=sum(r for _unused, r in place[n]))
            for n in sorted(place)
        ]
        best = stats["balanced"] or (self.drain is None and not self.can_even(place))
        return {
            "collection": name,
            "replica_id": rep_id,
            "nodes": nodes,
            "stats": stats,
            "best_possible": best,
        }

    def can_even(self, place: Placement) -> bool:
        """Whether some move (or swap) would still even this replica's load, with no move cap.

        False outside tolerance means segment granularity allows no better: 2 segments on 3 query
        nodes leave one node empty however they are placed.
        """
        targets = None if self.targets is None else [n for n in self.targets if n in place]
        if targets == []:
            return False
        try:
            tolerance, by = self.p["tolerance"], self.p["balance_by"]
            moves = plan_replica(place, tolerance=tolerance, by=by, targets=targets)
            return bool(moves)
        except PlanError:
            return False

    def settled(self, views: list[dict[str, Any]]) -> bool:
        """Balanced: every replica within tolerance; for a drain, the node holds no sealed segment."""
        if self.drain is None:
            return all(v["stats"]["balanced"] for v in views)
        return all(n["segments"] == 0 for v in views for n in v["nodes"] if n["id"] == self.drain)

    def out_move(self, mv: dict[str, Any]) -> dict[str, Any]:
        return {
            "collection": mv["collection"],
            "replica_id": mv["replica_id"],
            "segment_id": mv["segment_id"],
            "rows": mv["rows"],
            "source": node_ref(mv["source"], self.addresses),
            "target": node_ref(mv["target"], self.addresses),
        }

    # ---- executing
    def execute(self, name: str, planned: list[dict[str, Any]], deadline: float) -> None:
        """Run the plan one move set at a time, re-reading the distribution before each one.

        A move set whose segments left their source (compaction, the automatic balancer) or that
        LoadBalance refuses as raced makes the rest of the plan be recomputed from what is there
        now, at most `retries` times. A new plan that would move a segment this run already moved
        means something else is balancing too: stop rather than fight it.
        """
        queue = group_moves(planned)
        origin: dict[int, int] = {}
        race_retries = 0
        for _unused in range(100000):  # bounded by the queue, retries and deadline as well
            if not queue:
                return
            if time.monotonic() > deadline:
                left = sum(len(ms["segment_ids"]) for ms in queue)
                raise MilvusError(f"wait_timeout reached with {left} planned moves left for {name}")
            move_set = queue[0]
            src, dst = move_set["source"], move_set["target"]
            placement = self.read(name).get(move_set["replica_id"], ({}, []))[0]
            on_source = {sid for sid, _unused in placement.get(src, [])}
            raced = not set(move_set["segment_ids"]) <= on_source or dst not in placement
            if not raced:
                started = time.monotonic()
                try:
                    self.milvus.load_balance(name, src, [dst], move_set["segment_ids"])
                    self.wait_moved(name, move_set, deadline)
                except MilvusError:
                    raise
                except Exception as exc:  # noqa: BLE001 - classified, then one line
                    if classify(exc) not in ("race", "unavailable", "timeout"):
                        raise MilvusError(
                            f"LoadBalance {name} {node_label(src, self.addresses)} -> "
                            f"{node_label(dst, self.addresses)} segments {move_set['segment_ids']}: "
                            f"{one_line(exc)}"
                        ) from None
                    raced = True
                else:
                    seconds = round(time.monotonic() - started, 2)
                    for mv in move_set["moves"]:
                        self.moves.append(dict(self.out_move(mv), seconds=seconds))
                        origin.setdefault(mv["segment_id"], src)
                    queue.pop(0)
                    continue
            race_retries += 1
            self.retried += 1
            if race_retries > self.p["retries"]:
                raise MilvusError(
                    f"the distribution of {name} kept changing under the plan (compaction or the "
                    f"automatic balancer); stopped after {self.p['retries']} retries"
                )
            time.sleep(self.p["poll_interval"])
            budget = None if self.p["max_moves"] is None else self.p["max_moves"] - len(self.moves)
            replanned = self.plan(name, self.read(name), budget) if budget is None or budget > 0 else []
            again = [m for m in replanned if m["segment_id"] in origin]
            if again:
                self.module.warn(
                    f"segment {again[0]['segment_id']} of {name}, moved once by this run, would move "
                    f"again (to node {node_label(again[0]['target'], self.addresses)}): something else is "
                    "balancing this collection too (the automatic balancer?); stopping instead of fighting it"
                )
                return
            queue = group_moves(replanned)

    def wait_moved(self, name: str, move_set: dict[str, Any], deadline: float) -> None:
        """Poll until every segment is on its target and off its source (or compacted away)."""
        src, dst = move_set["source"], move_set["target"]
        pending = set(move_set["segment_ids"])
        while True:
            segs = {s["segment_id"]: s for s in self.milvus.loaded_segments(name)}
            pending = {
                sid
                for sid in pending
                if sid in segs and (dst not in segs[sid]["node_ids"] or src in segs[sid]["node_ids"])
            }
            if not pending:
                return
            if time.monotonic() + self.p["poll_interval"] > deadline:
                raise MilvusError(
                    f"segments {sorted(pending)} of {name} did not reach node "
                    f"{node_label(dst, self.addresses)} within wait_timeout"
                )
            time.sleep(self.p["poll_interval"])


def summary(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per collection and replica: the coefficient of variation before and after, and whether the
    result is balanced or, if not, the best segment granularity allows."""
    cv_before = {(v["collection"], v["replica_id"]): v["stats"]["cv"] for v in before}
    return [
        {
            "collection": v["collection"],
            "replica_id": v["replica_id"],
            "cv_before": cv_before.get((v["collection"], v["replica_id"])),
            "cv_after": v["stats"]["cv"],
            "balanced": v["stats"]["balanced"],
            "best_possible": v["best_possible"],
        }
        for v in after
    ]


def diff_text(views: list[dict[str, Any]]) -> str:
    lines = []
    for v in views:
        lines.append(f"{v['collection']} replica {v['replica_id']}:")
        for n in v["nodes"]:
            lines.append(f"  node {n['id']} ({n['address']}): {n['segments']} segments, {n['rows']} rows")
    return "\n".join(lines) + "\n"


def run(module: MilvusModule, milvus: Milvus) -> dict[str, Any]:
    reb = Rebalancer(module, milvus)
    names = reb.prepare()
    before: list[dict[str, Any]] = []
    planned_after: list[dict[str, Any]] = []
    plan: list[dict[str, Any]] = []
    budget = module.params["max_moves"]
    for name in names:
        replicas = reb.read(name)
        moves = reb.plan(name, replicas, None if budget is None else max(0, budget - len(plan)))
        plan.extend(moves)
        for rep_id, (place, _unused) in sorted(replicas.items()):
            before.append(reb.view(name, rep_id, place))
            mine = [m for m in moves if m["replica_id"] == rep_id]
            planned_after.append(reb.view(name, rep_id, apply_moves(place, mine)))
    result: dict[str, Any] = {"plan": [reb.out_move(m) for m in plan], "before": before, "retried": 0}
    if module.check_mode or not plan:
        result.update(
            moves=[],
            after=planned_after,
            changed=bool(plan),
            balanced=reb.settled(planned_after),
        )
    else:
        deadline = time.monotonic() + module.params["wait_timeout"]
        try:
            for name in names:
                reb.execute(name, [m for m in plan if m["collection"] == name], deadline)
        except Exception as exc:  # noqa: BLE001 - report the moves already made, in one line
            module.fail(
                exc,
                changed=bool(reb.moves),
                moves=reb.moves,
                plan=result["plan"],
                before=before,
                retried=reb.retried,
            )
        after = [
            reb.view(name, rep_id, place)
            for name in names
            for rep_id, (place, _unused) in sorted(reb.read(name).items())
        ]
        result.update(
            moves=reb.moves,
            after=after,
            changed=bool(reb.moves),
            retried=reb.retried,
            balanced=reb.settled(after),
        )
    result["summary"] = summary(before, result["after"])
    if module._diff:
        result["diff"] = {
            "before": diff_text(before),
            "after": diff_text(result["after"]),
            "before_header": "distribution",
            "after_header": "distribution",
        }
    return result


def drain_node(value: Any) -> tuple[str | None, str]:
    """The one node to drain as text ('' problem), from a scalar or a list of one; else a problem.

    A list given to a text option would otherwise arrive as its literal, "['4']".
    """
    if value is None:
        return None, ""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None, f"drain takes one query node (id, ip:port or name), got {len(value)}: {list(value)}"
        value = value[0]
    if isinstance(value, (dict, list, tuple, bool)) or value is None or not str(value).strip():
        return None, "drain must name one query node (id, ip:port or name)"
    return str(value).strip(), ""


def main() -> None:
    spec = {
        "collections": {"type": "list", "elements": "str"},
        "tolerance": {"type": "float", "default": 0.2},
        "balance_by": {"type": "str", "choices": ["rows", "segments"], "default": "rows"},
        "max_moves": {"type": "int"},
        "target_nodes": {"type": "list", "elements": "str"},
        "drain": {"type": "raw"},
        "wait_timeout": {"type": "float", "default": 300.0},
        "poll_interval": {"type": "float", "default": 1.0},
        "retries": {"type": "int", "default": 3},
    }
    module = MilvusModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if p["tolerance"] < 0:
        module.fail_json(msg="tolerance must be >= 0")
    if p["max_moves"] is not None and p["max_moves"] < 0:
        module.fail_json(msg="max_moves must be >= 0")
    if p["wait_timeout"] <= 0 or p["poll_interval"] <= 0 or p["retries"] < 0:
        module.fail_json(msg="wait_timeout and poll_interval must be > 0, retries >= 0")
    drain, problem = drain_node(p["drain"])
    if problem:
        module.fail_json(msg=problem, changed=False)
    p["drain"] = drain
    with module.connection(changed=False) as milvus:
        result = run(module, milvus)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
