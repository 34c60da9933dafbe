# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Pure balance maths and the segment rebalance planner.

No client library is imported here: the filters load this file as well as the modules.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

DEFAULT_THRESHOLD = 0.2  # flag std dev above 20% of the mean as unbalanced
HARD_MOVE_CAP = 10000  # the planner never emits more moves than this


class PlanError(ValueError):
    """A request that no plan can satisfy (unknown node, nothing to move to, ...)."""


def stats(values: Iterable[float]) -> dict[str, Any]:
    """Mean, population std dev, coefficient of variation, max and min of some loads."""
    vals = [float(v) for v in values]
    count = len(vals)
    if count == 0:
        return {
            "count": 0,
            "total": 0,
            "mean": 0.0,
            "std_dev": 0.0,
            "cv": 0.0,
            "max": 0,
            "min": 0,
            "max_min_ratio": None,
        }
    total = sum(vals)
    mean = total / count
    var = sum((v - mean) ** 2 for v in vals) / count
    std = math.sqrt(var)
    cv = std / mean if mean > 0 else 0.0
    vmax, vmin = max(vals), min(vals)
    ratio = round(vmax / vmin, 4) if vmin > 0 else None
    return {
        "count": count,
        "total": _num(total),
        "mean": round(mean, 4),
        "std_dev": round(std, 4),
        "cv": round(cv, 4),
        "max": _num(vmax),
        "min": _num(vmin),
        "max_min_ratio": ratio,
    }


def is_balanced(values: Iterable[float], threshold: float = DEFAULT_THRESHOLD) -> bool:
    """True when the std dev is at most `threshold` times the mean (always true for < 2 loads)."""
    vals = list(values)
    if len(vals) < 2:
        return True
    return _cv(vals) <= threshold + 1e-12


def balance_report(
    loads: Mapping[Any, float],
    threshold: float = DEFAULT_THRESHOLD,
    addresses: Mapping[Any, str] | None = None,
) -> dict[str, Any]:
    """Statistics of per-node loads plus the most and least loaded nodes and `balanced`."""
    addresses = addresses or {}
    report = stats(loads.values())
    report["threshold"] = threshold
    report["balanced"] = is_balanced(loads.values(), threshold)
    if loads:
        hi = max(sorted(loads), key=lambda n: loads[n])
        lo = min(sorted(loads), key=lambda n: loads[n])
        report["max_node"] = {"id": hi, "address": addresses.get(hi, "unknown")}
        report["min_node"] = {"id": lo, "address": addresses.get(lo, "unknown")}
    else:
        report["max_node"] = report["min_node"] = None
    return report


def segment_loads(
    segments: Iterable[Mapping[str, Any]], nodes: Iterable[Any] | None = None, sealed_only: bool = False
) -> dict[Any, dict[str, int]]:
    """Per node: segments and rows held, split into sealed and growing.

    A segment dict needs `num_rows` and `node_ids` (or `node_id`); `state` is optional
    (anything but "Growing" counts as sealed). Nodes listed in `nodes` appear even when empty.
    """
    per: dict[Any, dict[str, int]] = {}
    for node in nodes or ():
        per.setdefault(node, _empty_load())
    for seg in segments:
        growing = str(seg.get("state", "Sealed")).lower() == "growing"
        if sealed_only and growing:
            continue
        rows = int(seg.get("num_rows", seg.get("rows", 0)) or 0)
        node_ids = seg.get("node_ids")
        if node_ids is None:
            node_ids = [seg["node_id"]] if seg.get("node_id") is not None else []
        for node in node_ids:
            load = per.setdefault(node, _empty_load())
            kind = "growing" if growing else "sealed"
            load["segments"] += 1
            load["rows"] += rows
            load[kind + "_segments"] += 1
            load[kind + "_rows"] += rows
    return per


def _empty_load() -> dict[str, int]:
    return {
        "segments": 0,
        "rows": 0,
        "sealed_segments": 0,
        "sealed_rows": 0,
        "growing_segments": 0,
        "growing_rows": 0,
    }


def _num(value: float) -> Any:
    return int(value) if float(value).is_integer() else round(value, 4)


def _cv(vals: Sequence[float]) -> float:
    if not vals:
        return 0.0
    mean = sum(vals) / len(vals)
    if mean <= 0:
        return 0.0
    return math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals)) / mean


# --------------------------------------------------------------------------- planner

Move = dict[str, Any]  # {"segment_id", "rows", "source", "target"} (+ "replica_id")


def plan_replica(
    placement: Mapping[Any, Sequence[tuple[Any, int]]],
    *,
    tolerance: float = DEFAULT_THRESHOLD,
    by: str = "rows",
    max_moves: int | None = None,
    targets: Iterable[Any] | None = None,
    drain: Any = None,
    label: Callable[[Any], str] = str,
) -> list[Move]:
    """Plan sealed-segment moves inside ONE replica.

    `placement` maps every node of the replica (empty ones too) to its (segment_id, rows) pairs.
    Balance mode: while the loads' coefficient of variation is above `tolerance`, make the single
    move that lowers the sum of squared loads the most; a move must strictly lower it, so a plan
    never undoes itself and a second run on its result plans nothing (no ping-pong).
    Drain mode: every segment of `drain` goes to the least loaded target, biggest first.
    `targets` limits where segments may go; `max_moves` caps the plan (drain fails instead).
    `label` renders a node id in error messages (the modules add the address).
    """
    if by not in ("rows", "segments"):
        raise PlanError(f"balance_by must be rows or segments, not {by!r}")
    nodes = list(placement)
    allowed = set(nodes) if targets is None else set(targets) & set(nodes)
    cap = HARD_MOVE_CAP if max_moves is None else min(int(max_moves), HARD_MOVE_CAP)
    held = {n: [(sid, int(rows)) for sid, rows in placement[n]] for n in nodes}

    def weight(rows: int) -> int:
        return rows if by == "rows" else 1

    if drain is not None:
        return _plan_drain(held, drain, allowed, cap, max_moves, weight, label)
    return _plan_balance(held, allowed, tolerance, cap, weight)


def _plan_drain(
    held: dict[Any, list[tuple[Any, int]]],
    drain: Any,
    allowed: set,
    cap: int,
    max_moves: int | None,
    weight: Callable[[int], int],
    label: Callable[[Any], str],
) -> list[Move]:
    if drain not in held:
        raise PlanError(f"node {label(drain)} is not in this replica")
    dests = sorted(allowed - {drain}, key=str)
    segs = sorted(held[drain], key=lambda s: (-s[1], str(s[0])))
    if segs and not dests:
        raise PlanError(f"node {label(drain)} has no other query node in its replica to move its segments to")
    if max_moves is not None and len(segs) > max_moves:
        raise PlanError(f"draining node {label(drain)} needs {len(segs)} moves but max_moves is {max_moves}")
    loads = {n: sum(weight(r) for _unused, r in held[n]) for n in dests}
    moves: list[Move] = []
    for sid, rows in segs[:cap]:
        dst = min(dests, key=lambda n: (loads[n], str(n)))
        loads[dst] += weight(rows)
        moves.append({"segment_id": sid, "rows": rows, "source": drain, "target": dst})
    return moves


def _plan_balance(
    held: dict[Any, list[tuple[Any, int]]],
    allowed: set,
    tolerance: float,
    cap: int,
    weight: Callable[[int], int],
) -> list[Move]:
    nodes = sorted(held, key=str)
    if len(nodes) < 2 or not allowed:
        return []
    # per node: sorted list of (weight, segment_id, rows) for bisect lookups
    bags = {n: sorted((weight(r), str(sid), sid, r) for sid, r in held[n]) for n in nodes}
    loads = {n: sum(w for w, *_unused in bags[n]) for n in nodes}
    moves: list[Move] = []
    while len(moves) < cap:
        if _cv(list(loads.values())) <= tolerance + 1e-12:
            break
        best = None  # (sort key, src, dst, index): the smallest key wins
        for src in nodes:
            bag = bags[src]
            if not bag:
                continue
            for dst in allowed:
                gap = loads[src] - loads[dst]
                if dst == src or gap <= 1:
                    continue
                for i in _closest(bag, gap / 2.0):
                    w = bag[i][0]
                    if not 0 < w < gap:
                        continue
                    # w * (gap - w) is half the drop of the sum of squared loads; on a tie the
                    # lighter segment (cheaper to move), then the lowest ids, keep plans stable
                    key = (-w * (gap - w), w, str(src), str(dst), bag[i][1])
                    if best is None or key < best[0]:
                        best = (key, src, dst, i)
        if best is not None:
            _unused, src, dst, i = best
            moves.append(_move(bags, loads, src, dst, i))
            continue
        # no single move evens the load (e.g. 300/600/350 in 100-300 row segments): exchange a
        # heavier segment for a lighter one, two moves whose net transfer strictly evens it
        swap = _best_swap(nodes, allowed, bags, loads) if len(moves) + 2 <= cap else None
        if swap is None:
            break
        src, dst, i, j = swap
        give = bags[src][i]
        take = bags[dst][j]
        moves.append(_move(bags, loads, src, dst, bags[src].index(give)))
        moves.append(_move(bags, loads, dst, src, bags[dst].index(take)))
    return moves


def _move(bags: dict[Any, list[tuple]], loads: dict[Any, int], src: Any, dst: Any, i: int) -> Move:
    """Move item `i` of `src` to `dst` in the working state and return the move."""
    w, skey, sid, rows = bags[src].pop(i)
    bisect.insort(bags[dst], (w, skey, sid, rows))
    loads[src] -= w
    loads[dst] += w
    return {"segment_id": sid, "rows": rows, "source": src, "target": dst}


def _best_swap(
    nodes: list[Any], allowed: set, bags: dict[Any, list[tuple]], loads: dict[Any, int]
) -> tuple[Any, Any, int, int] | None:
    """(src, dst, i, j): swapping item i of src with item j of dst lowers the squared loads most."""
    best = None
    for src in nodes:
        if src not in allowed:
            continue
        for dst in allowed:
            gap = loads[src] - loads[dst]
            if dst == src or gap <= 1 or not bags[src] or not bags[dst]:
                continue
            for i, (wa, skey_a, *_rest) in enumerate(bags[src]):
                for j in _closest(bags[dst], wa - gap / 2.0):
                    wb, skey_b = bags[dst][j][0], bags[dst][j][1]
                    net = wa - wb
                    if not 0 < net < gap:
                        continue
                    key = (-net * (gap - net), wa + wb, str(src), str(dst), skey_a, skey_b)
                    if best is None or key < best[0]:
                        best = (key, src, dst, i, j)
    return None if best is None else best[1:]


def _closest(bag: list[tuple], want: float) -> list[int]:
    """Indexes of the items whose weight is nearest to `want` on each side."""
    keys = [b[0] for b in bag]
    pos = bisect.bisect_left(keys, want)
    out = []
    for j in (pos - 1, pos):
        if 0 <= j < len(bag):
            # first index of that weight, so ties pick the same segment every time
            out.append(bisect.bisect_left(keys, keys[j]))
    return out


def plan_replicas(
    replicas: Mapping[Any, Mapping[Any, Sequence[tuple[Any, int]]]],
    *,
    tolerance: float = DEFAULT_THRESHOLD,
    by: str = "rows",
    max_moves: int | None = None,
    targets: Iterable[Any] | None = None,
    drain: Any = None,
    label: Callable[[Any], str] = str,
) -> list[Move]:
    """Plan every replica of one collection; each move carries its `replica_id`.

    LoadBalance moves only inside a replica, so every target must belong to some replica, a
    drained node's segments go only to targets of its own replica, and a drained node that serves
    none of these replicas needs no move.
    """
    members = {n for place in replicas.values() for n in place}
    target_list = None if targets is None else list(targets)
    for node in target_list or []:
        if node not in members:
            raise PlanError(f"target node {label(node)} is not in any replica")
    if drain is not None and drain not in members:
        return []
    moves: list[Move] = []
    for rep_id in sorted(replicas, key=str):
        place = replicas[rep_id]
        rep_drain = drain if drain in place else None
        if drain is not None and rep_drain is None:
            continue
        rep_targets = None if target_list is None else [n for n in target_list if n in place]
        if rep_drain is not None and rep_targets is not None and not rep_targets and place[rep_drain]:
            raise PlanError(f"no target node is in the replica of node {label(rep_drain)}")
        if rep_drain is None and rep_targets == []:
            continue  # balancing this replica may not use any of the targets
        remaining = None if max_moves is None else max(0, max_moves - len(moves))
        if remaining == 0 and rep_drain is None:
            break
        planned = plan_replica(
            place,
            tolerance=tolerance,
            by=by,
            max_moves=remaining,
            targets=rep_targets,
            drain=rep_drain,
            label=label,
        )
        moves.extend(dict(mv, replica_id=rep_id) for mv in planned)
    return moves


def apply_moves(
    placement: Mapping[Any, Sequence[tuple[Any, int]]], moves: Sequence[Move]
) -> dict[Any, list[tuple[Any, int]]]:
    """The placement after `moves` (used for check-mode diffs and tests)."""
    out = {n: list(segs) for n, segs in placement.items()}
    for mv in moves:
        seg = next((s for s in out[mv["source"]] if s[0] == mv["segment_id"]), None)
        if seg is None:
            raise PlanError(f"segment {mv['segment_id']} is not on node {mv['source']}")
        out[mv["source"]].remove(seg)
        out.setdefault(mv["target"], []).append(seg)
    return out


def loads_of(placement: Mapping[Any, Sequence[tuple[Any, int]]], by: str = "rows") -> dict[Any, int]:
    """Per-node load (rows or segment count) of a placement."""
    if by == "segments":
        return {n: len(s) for n, s in placement.items()}
    return {n: sum(int(r) for _unused, r in s) for n, s in placement.items()}


def group_moves(moves: Sequence[Move]) -> list[dict[str, Any]]:
    """Consecutive moves with the same replica, source and target, as LoadBalance move sets."""
    sets: list[dict[str, Any]] = []
    for mv in moves:
        key = (mv.get("replica_id"), mv["source"], mv["target"])
        if sets and (sets[-1]["replica_id"], sets[-1]["source"], sets[-1]["target"]) == key:
            last = sets[-1]
        else:
            last = {
                "replica_id": key[0],
                "source": mv["source"],
                "target": mv["target"],
                "segment_ids": [],
                "rows": 0,
                "moves": [],
            }
            sets.append(last)
        last["segment_ids"].append(mv["segment_id"])
        last["rows"] += mv["rows"]
        last["moves"].append(mv)
    return sets
