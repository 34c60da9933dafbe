# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""What milvus_cluster_info reports (and, later, milvus_facts): version, nodes, collections, segment
distribution and balance, gathered through one connection as plain data."""

from __future__ import annotations

from typing import Any

from ansible_collections.vectorops.milvus.plugins.module_utils._cluster import (
    distribution_balance,
    node_distribution,
    replica_view,
    snapshot,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._common import node_ref
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import Milvus, MilvusError

SUBSETS = ("version", "nodes", "collections", "distribution", "balance")


def gather(milvus: Milvus, params: dict[str, Any], want: set) -> dict[str, Any]:
    """Everything the filter asks for, as plain data."""
    out: dict[str, Any] = {}
    ver = milvus.require_version()
    if "version" in want:
        out["version"] = ver["version"]
        out["server"] = {k: v for k, v in ver.items() if k != "version"}
        out["server"]["connected_to"] = milvus.address
    nodes = milvus.nodes()
    addresses = milvus.query_node_addresses()
    if "nodes" in want:
        out["nodes"] = nodes
        out["query_nodes"] = [
            {"id": n["id"], "address": n["address"], "name": n["name"]}
            for n in nodes
            if n["role"] == "querynode"
        ]
    if not want & {"collections", "distribution", "balance"}:
        return out
    existing = milvus.list_collections()
    names = params["collections"] or existing
    missing = [n for n in names if n not in existing]
    if missing:
        raise MilvusError(f"collection {', '.join(missing)} does not exist in database {params['db_name']}")
    by, threshold = params["balance_by"], params["balance_threshold"]
    collections: list[dict[str, Any]] = []
    all_segments: list[dict[str, Any]] = []
    per_node_collections: dict[int, int] = {}
    for name in names:
        snap = snapshot(milvus, name, tolerate=True)
        entry: dict[str, Any] = {
            "name": name,
            "load_state": snap["load_state"],
            "loaded": snap["loaded"],
            "rows": snap["rows"],
            "replica_number": len(snap["replicas"]),
        }
        if params["count_rows"] and snap["loaded"] and not snap.get("error"):
            try:
                entry["served_rows"] = milvus.served_rows(name)
            except MilvusError as exc:
                snap["error"] = str(exc)
        if snap.get("error"):
            entry["error"] = snap["error"]
        if snap["replicas"] or snap["segments"]:
            members = sorted(
                {n for r in snap["replicas"] for n in r["node_ids"]}
                | {n for s in snap["segments"] for n in s["node_ids"]}
            )
            dist = node_distribution(snap["segments"], members, addresses)
            entry["replicas"] = [replica_view(r, addresses) for r in snap["replicas"]]
            for rep_out, rep in zip(entry["replicas"], snap["replicas"], strict=True):
                rep_dist = [d for d in dist if d["id"] in rep["node_ids"]]
                rep_out["balance"] = distribution_balance(rep_dist, by, threshold, addresses)
            growing = [s for s in snap["segments"] if s["state"].lower() == "growing"]
            entry["segments"] = {
                "sealed": len(snap["segments"]) - len(growing),
                "growing": len(growing),
                "rows": sum(s["num_rows"] for s in snap["segments"]),
            }
            entry["distribution"] = dist
            entry["balance"] = distribution_balance(dist, by, threshold, addresses)
            all_segments.extend(snap["segments"])
            for d in dist:
                if d["segments"]:
                    per_node_collections[d["id"]] = per_node_collections.get(d["id"], 0) + 1
        else:
            entry.update(replicas=[], segments={"sealed": 0, "growing": 0, "rows": 0}, distribution=[])
        collections.append(entry)
    if "collections" in want or "balance" in want:
        out["collections"] = collections
        out["unavailable_collections"] = [c["name"] for c in collections if c.get("error")]
    cluster = node_distribution(all_segments, sorted(addresses), addresses)
    for d in cluster:
        d["collections"] = per_node_collections.get(d["id"], 0)
    if "distribution" in want:
        out["distribution"] = cluster
        out["empty_nodes"] = [node_ref(d["id"], addresses) for d in cluster if d["segments"] == 0]
    if "balance" in want:
        out["balance"] = distribution_balance(cluster, by, threshold, addresses)
        out["unbalanced_collections"] = [
            c["name"] for c in collections if c.get("balance") and not c["balance"]["balanced"]
        ]
        out["balanced"] = out["balance"]["balanced"] and not out["unbalanced_collections"]
    return out
