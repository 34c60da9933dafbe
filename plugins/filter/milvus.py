# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Filters: segment_balance, milvus_sizing, milvus_credential and milvus_root_path_plan. Topology
helpers live in topology.py.

Sizing constants and where they come from (decimal GB = 1e9 bytes):
- 1M x 128-dim float32 vectors are 0.512 GB raw (4 bytes per value); the Milvus sizing figures
  quote 0.49 GB raw and about 1.1 GB loaded with HNSW for that set, so HNSW loaded memory is
  taken as 1.1 / 0.512 = 2.15 x raw (index graph 1.5-2x raw plus runtime overhead).
- Graph index files are 1.5-2x raw (upper end, 2.0, used for object storage).
- IVF_SQ8 keeps 1 byte per dimension: 25-30% of raw (upper end, 0.30, used).
- FLAT and IVF_FLAT keep the raw vectors (1.0 x raw).
- Keep query-node memory under ~70% of the host: Milvus throttles writes at 85% memory use and
  blocks them at 95% (quotaAndLimits memory water levels).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.vectorops.milvus.plugins.module_utils._balance import (
    DEFAULT_THRESHOLD,
    balance_report,
    segment_loads,
)

RAW_1M_128_GB = 1_000_000 * 128 * 4 / 1e9  # 0.512 GB
HNSW_LOADED_1M_128_GB = 1.1  # published: 1M x 128-dim HNSW about 1.1 GB loaded
MEMORY_FACTOR = {  # loaded memory / raw vector bytes
    "HNSW": HNSW_LOADED_1M_128_GB / RAW_1M_128_GB,
    "IVF_SQ8": 0.30,
    "IVF_FLAT": 1.0,
    "FLAT": 1.0,
}
INDEX_FILE_FACTOR = {"HNSW": 2.0, "IVF_SQ8": 0.30, "IVF_FLAT": 1.0, "FLAT": 0.0}
MEMORY_HEADROOM = 0.70  # keep query nodes below 70% of host memory
WRITE_THROTTLE = 0.85
WRITE_BLOCK = 0.95


def segment_balance(
    data: Iterable[Mapping[str, Any]],
    nodes: Iterable[Any] | None = None,
    by: str = "rows",
    threshold: float = DEFAULT_THRESHOLD,
    addresses: Mapping[Any, str] | None = None,
) -> dict[str, Any]:
    """Per-node load and balance statistics.

    `data` is a segment list (num_rows + node_ids, as list_loaded_segments gives) or a per-node
    distribution (id + rows + segments, as milvus_cluster_info returns). `nodes` adds nodes that
    hold nothing. `addresses` maps node id to ip:port (taken from a distribution when present).
    """
    if by not in ("rows", "segments"):
        raise AnsibleFilterError(f"segment_balance: by must be rows or segments, not {by!r}")
    items = list(data or [])
    addresses = dict(addresses or {})
    if items and all("id" in i and "rows" in i and "node_ids" not in i for i in items):
        per = {i["id"]: {"segments": int(i.get("segments", 0)), "rows": int(i["rows"])} for i in items}
        for i in items:
            if i.get("address"):
                addresses.setdefault(i["id"], i["address"])
        for n in nodes or ():
            per.setdefault(n, {"segments": 0, "rows": 0})
    else:
        for item in items:
            if (
                not isinstance(item, Mapping)
                or not ({"num_rows", "rows"} & set(item))
                or not ({"node_ids", "node_id"} & set(item))
            ):
                raise AnsibleFilterError(
                    "segment_balance: each item needs num_rows and node_ids (a segment) "
                    "or id and rows (a node of a distribution)"
                )
        try:
            per = segment_loads(items, nodes=nodes)
        except (KeyError, TypeError, ValueError) as exc:
            raise AnsibleFilterError(f"segment_balance: not a segment list ({exc})") from None
    report = balance_report({n: v[by] for n, v in per.items()}, threshold, addresses)
    report["by"] = by
    report["nodes"] = [
        dict({"id": n, "address": addresses.get(n, "unknown")}, **per[n]) for n in sorted(per, key=str)
    ]
    report["empty_nodes"] = [n["id"] for n in report["nodes"] if n["segments"] == 0]
    return report


def milvus_sizing(
    vectors: int,
    dim: int,
    index_type: str = "HNSW",
    replicas: int = 1,
    target_qps: float | None = None,
    qps_per_node: float | None = None,
    host_memory_gb: float | None = None,
    scalar_bytes_per_row: int = 0,
) -> dict[str, Any]:
    """Query nodes, memory and object storage for a collection, from published figures.

    `qps_per_node` is what one query node sustains on your hardware (measure it with
    milvus_loadtest); without it `target_qps` cannot be sized and is reported as such.
    """
    try:
        vectors, dim, replicas = int(vectors), int(dim), int(replicas)
    except (TypeError, ValueError):
        raise AnsibleFilterError("milvus_sizing: vectors, dim and replicas must be integers") from None
    if vectors < 0 or dim <= 0 or replicas < 1:
        raise AnsibleFilterError("milvus_sizing: vectors >= 0, dim >= 1 and replicas >= 1 are required")
    kind = str(index_type).upper()
    if kind not in MEMORY_FACTOR:
        raise AnsibleFilterError(
            f"milvus_sizing: no published figure for index {index_type}; "
            f"choose from {', '.join(sorted(MEMORY_FACTOR))}"
        )
    raw_gb = vectors * dim * 4 / 1e9
    scalar_gb = vectors * int(scalar_bytes_per_row) / 1e9
    loaded_gb = raw_gb * MEMORY_FACTOR[kind] + scalar_gb
    total_gb = loaded_gb * replicas
    # a replica's segments live on that replica's own nodes: size one replica, then multiply
    by_memory: int | None = None
    if host_memory_gb:
        budget = float(host_memory_gb) * MEMORY_HEADROOM
        by_memory = replicas * max(1, math.ceil(loaded_gb / budget)) if budget > 0 else None
    by_qps: int | None = None
    if target_qps and qps_per_node:
        by_qps = max(1, math.ceil(float(target_qps) / float(qps_per_node)))
    nodes = max([replicas] + [n for n in (by_memory, by_qps) if n])
    nodes = replicas * math.ceil(nodes / replicas)  # the same number of nodes in every replica
    per_node_gb = total_gb / nodes
    return {
        "vectors": vectors,
        "dim": dim,
        "index_type": kind,
        "replicas": replicas,
        "raw_gb": round(raw_gb, 3),
        "loaded_gb_per_replica": round(loaded_gb, 3),
        "loaded_gb_total": round(total_gb, 3),
        "query_nodes": nodes,
        "query_nodes_by_memory": by_memory,
        "query_nodes_by_qps": by_qps,
        "qps_sized": bool(target_qps and qps_per_node),
        "memory_per_query_node_gb": round(per_node_gb, 3),
        "host_memory_needed_gb": round(per_node_gb / MEMORY_HEADROOM, 3),
        "memory_headroom": MEMORY_HEADROOM,
        "write_throttle_at": WRITE_THROTTLE,
        "write_block_at": WRITE_BLOCK,
        "object_storage_gb": round(raw_gb + scalar_gb + raw_gb * INDEX_FILE_FACTOR[kind], 3),
        "factors": {
            "memory_x_raw": round(MEMORY_FACTOR[kind], 3),
            "index_file_x_raw": INDEX_FILE_FACTOR[kind],
        },
    }


def milvus_credential(password: str, rounds: int = 10) -> str:
    """The value Milvus keeps in etcd for a user (<rootPath>/meta/root-coord/credential/users/NAME):
    {"encrypted_password": bcrypt hash}. Its proxies check a login against the hash once and then
    keep a SHA-256 of it, so the cost is paid once per proxy."""
    import json

    try:
        import bcrypt
    except ImportError as exc:
        raise AnsibleFilterError("milvus_credential needs the bcrypt package on the controller") from exc
    if not isinstance(password, str) or len(password) < 6:
        raise AnsibleFilterError("milvus_credential: the password must be a string of at least 6 characters")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()
    return json.dumps({"encrypted_password": hashed}, separators=(",", ":"))


# etcd.rootPath becomes a key prefix in etcd and the metrics port's /expr password: plain
# characters only, so it survives a URL and a shell word unquoted.
_ROOT_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def milvus_root_path_plan(recorded: Any, *, wanted: Any = "", legacy_found: bool = False,
                          generated: str = "", legacy: str = "by-dev") -> dict[str, Any]:
    """Which etcd root path (etcd.rootPath) the cluster's Milvus runs with.

    recorded: the value the cluster keeps in etcd (empty when none was recorded); wanted: the
    inventory's milvus_etcd_root_path (empty: the cluster's own); legacy_found: whether etcd
    holds Milvus metadata under `legacy`, the old default, with nothing recorded (a cluster
    deployed before the root path was recorded); generated: a fresh random name for a new
    cluster. Returns {root_path, record (write it into etcd), problem (one line, or empty)}.
    A cluster keeps the root its metadata is under: another one would start an empty cluster
    beside it and orphan every collection."""
    recorded = str(recorded or "").strip()
    wanted = str(wanted or "").strip()
    plan: dict[str, Any] = {"root_path": "", "record": False, "problem": ""}
    if wanted and not _ROOT_PATH.match(wanted):
        plan["problem"] = (f"milvus_etcd_root_path '{wanted}' must be 1 to 64 letters, digits, '.', '_' "
                           "or '-', starting with a letter or a digit")
        return plan
    current = recorded or (legacy if legacy_found else "")
    if current and wanted and wanted != current:
        plan["problem"] = (f"milvus_etcd_root_path is '{wanted}', but this cluster's Milvus metadata is "
                           f"under '{current}' in etcd: another root path would orphan every collection; "
                           f"remove the setting, or set it to '{current}'")
        return plan
    root = current or wanted or str(generated or "").strip()
    if not _ROOT_PATH.match(root):
        plan["problem"] = f"milvus_root_path_plan: no usable root path (generated '{generated}')"
        return plan
    plan["root_path"] = root
    plan["record"] = root != recorded
    return plan


class FilterModule:
    """vectorops.milvus balance and sizing filters."""

    def filters(self) -> dict[str, Any]:
        return {"segment_balance": segment_balance, "milvus_sizing": milvus_sizing,
                "milvus_credential": milvus_credential, "milvus_root_path_plan": milvus_root_path_plan}
