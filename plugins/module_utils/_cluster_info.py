# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""What milvus_cluster_info and milvus_facts report: version, nodes, collections, segment
distribution and balance, and searches of each loaded collection, gathered through one
connection as plain data."""

from __future__ import annotations

import random
from typing import Any

from ansible_collections.vectorops.milvus.plugins.module_utils._cluster import (
    distribution_balance,
    node_distribution,
    replica_view,
    snapshot,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._common import node_ref
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import (
    Milvus,
    MilvusError,
    default_search_params,
    one_line,
)

SUBSETS = ("version", "nodes", "collections", "distribution", "balance")
SEARCH_TOP_K = 10


def search_probe(
    milvus: Milvus, name: str, count: int, rows: int, top_k: int = SEARCH_TOP_K
) -> dict[str, Any]:
    """Up to `count` searches of one loaded collection, one random query vector each, as an
    application sends them (Bounded consistency, the index's metric). A search counts only when it
    comes back whole: top_k hits, or every row the collection serves when it holds fewer (`rows`:
    its statistics, which count deleted rows too). The first that does not ends the probe, and
    says why in one line."""
    try:
        schema = milvus.describe_collection(name)
        field = next((f for f in schema["fields"] if f["type"] == "FLOAT_VECTOR"), None)
        if field is None:
            return {"ok": 0, "failed": 0, "skipped": "no float vector field"}
        index = next((i for i in milvus.indexes(name) if i.get("field_name") == field["name"]), {})
        params = {
            "metric_type": str(index.get("metric_type") or "L2").upper(),
            "params": default_search_params(str(index.get("index_type") or ""), top_k),
        }
        want = top_k if rows >= top_k else min(rows, milvus.served_rows(name))
    except MilvusError as exc:
        return {"ok": 0, "failed": 1, "error": str(exc)}
    rng = random.Random()
    dim = int(field["dim"])
    out: dict[str, Any] = {"ok": 0, "failed": 0, "vector_field": field["name"]}
    # The first failure ends the probe: it is the answer, and a collection that does not answer
    # must not hold the caller for count timeouts.
    for _unused in range(count):
        try:
            query = [[rng.random() for _i in range(dim)]]
            hits = milvus.search(name, field["name"], query, top_k, params, "Bounded")
        except Exception as exc:  # noqa: BLE001 - reported in one line
            return {**out, "failed": 1, "error": one_line(exc)}
        got = len(hits[0]) if hits else 0
        if got < want:
            return {**out, "failed": 1, "error": f"search returned {got} of {want} hits"}
        out["ok"] += 1
    return out


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
        # Counted even when the replicas could not be read: a collection with one replica left
        # without nodes (its host lost) still serves every row from the others.
        if params["count_rows"] and snap["loaded"]:
            try:
                entry["served_rows"] = milvus.served_rows(name)
            except MilvusError as exc:
                snap["error"] = "; ".join(filter(None, [snap.get("error"), str(exc)]))
        if snap.get("error"):
            entry["error"] = snap["error"]
        searches = int(params.get("search_count") or 0)
        if searches and snap["loaded"]:
            entry["search"] = search_probe(milvus, name, searches, snap["rows"])
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
    if params.get("search_count"):
        out["unsearchable_collections"] = [
            c["name"] for c in collections if c.get("search", {}).get("failed")
        ]
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


# --------------------------------------------------------------------------- milvus_facts' options

DEFAULT_THRESHOLDS = {"nodes_down": 1, "imbalance": 0.3}
THRESHOLD_KEYS = ("nodes_down", "imbalance", "p99_ms", "min_rows_per_sec", "max_error_rate")
ROLES = ("proxy", "querynode", "datanode", "indexnode")


def check_thresholds(value: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults with `value` over them; ValueError (one line) on an unknown key or a non-number."""
    out = dict(DEFAULT_THRESHOLDS)
    for key, limit in (value or {}).items():
        if key not in THRESHOLD_KEYS:
            raise ValueError(f"thresholds: unknown key {key!r} (one of {', '.join(THRESHOLD_KEYS)})")
        try:
            number = float(limit)
        except (TypeError, ValueError):
            raise ValueError(f"thresholds: {key} must be a number, got {limit!r}") from None
        if number < 0:
            raise ValueError(f"thresholds: {key} must be >= 0, got {limit!r}")
        out[key] = int(number) if key == "nodes_down" else number
    return out


def check_expected(items: list[Any] | None) -> list[dict[str, Any]] | None:
    """The expected processes, each checked; ValueError (one line) naming the bad item."""
    if items is None:
        return None
    out = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ValueError(f"expected: item {i} must be a dict with role, host and ip, got {item!r}")
        lacking = [k for k in ("role", "host", "ip") if not str(item.get(k) or "").strip()]
        if lacking:
            raise ValueError(f"expected: item {i} has no {', '.join(lacking)}")
        if item["role"] not in ROLES:
            raise ValueError(f"expected: item {i} has role {item['role']!r} (one of {', '.join(ROLES)})")
        try:
            count = int(item.get("count", 1))
        except (TypeError, ValueError):
            bad = item.get("count")
            raise ValueError(f"expected: item {i} count must be an integer, got {bad!r}") from None
        if count < 0:
            raise ValueError(f"expected: item {i} count must be >= 0")
        out.append({"role": item["role"], "host": str(item["host"]), "ip": str(item["ip"]), "count": count})
    return out
