# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Read a collection's replicas and segment placement into plain data (no pymilvus import)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.vectorops.milvus.plugins.module_utils._balance import balance_report, segment_loads
from ansible_collections.vectorops.milvus.plugins.module_utils._common import node_ref
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import MilvusError


def snapshot(milvus: Any, name: str, with_segments: bool = True, tolerate: bool = False) -> dict[str, Any]:
    """Load state, row count and, when loaded, replicas and loaded segments of one collection.

    tolerate: a replica or segment answer that fails (a replica with no live node) becomes
    snap["error"] instead of an exception, so a report can still cover the other collections.
    """
    state = milvus.load_state(name)
    snap: dict[str, Any] = {
        "name": name,
        "load_state": state,
        "loaded": state == "Loaded",
        "rows": milvus.row_count(name),
        "replicas": [],
        "segments": [],
    }
    if state in ("Loaded", "Loading") and with_segments:
        try:
            snap["replicas"] = milvus.replicas(name)
            snap["segments"] = milvus.loaded_segments(name)
        except MilvusError as exc:
            if not tolerate:
                raise
            snap.update(replicas=[], segments=[], error=str(exc))
    return snap


def replica_placement(
    segments: Sequence[Mapping[str, Any]], replica: Mapping[str, Any]
) -> tuple[dict[int, list[tuple[int, int]]], list[int]]:
    """Sealed segments per node of one replica, and the ids held twice in it (moves in flight)."""
    members = set(replica["node_ids"])
    place: dict[int, list[tuple[int, int]]] = {n: [] for n in sorted(members)}
    in_flight: list[int] = []
    for seg in segments:
        if str(seg.get("state", "")).lower() == "growing":
            continue
        here = [n for n in seg["node_ids"] if n in members]
        if len(here) == 1:
            place[here[0]].append((seg["segment_id"], int(seg["num_rows"])))
        elif len(here) > 1:
            in_flight.append(seg["segment_id"])
    return place, in_flight


def node_distribution(
    segments: Sequence[Mapping[str, Any]], node_ids: Sequence[int], addresses: Mapping[int, str]
) -> list[dict[str, Any]]:
    """Per node (empty ones included): id, address, segments and rows, sealed and growing."""
    loads = segment_loads(segments, nodes=node_ids)
    return [dict(node_ref(n, addresses), **loads[n]) for n in sorted(loads)]


def distribution_balance(
    dist: Sequence[Mapping[str, Any]], by: str, threshold: float, addresses: Mapping[int, str]
) -> dict[str, Any]:
    """Balance statistics over a node distribution (rows or segments per node)."""
    loads = {d["id"]: d["rows" if by == "rows" else "segments"] for d in dist}
    report = balance_report(loads, threshold, addresses)
    report["by"] = by
    return report


def replica_view(replica: Mapping[str, Any], addresses: Mapping[int, str]) -> dict[str, Any]:
    """A replica with every node id paired with its address."""
    return {
        "id": replica["id"],
        "resource_group": replica.get("resource_group", ""),
        "nodes": [node_ref(n, addresses) for n in replica["node_ids"]],
        "shards": [
            {
                "channel": s["channel"],
                "leader": node_ref(s["leader"], addresses),
                "nodes": [node_ref(n, addresses) for n in s["node_ids"]],
            }
            for s in replica["shards"]
        ],
    }
