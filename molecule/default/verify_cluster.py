#!/usr/bin/env python3
"""Verifies the sandbox cluster for real through its proxies; prints one JSON document.

    verify_cluster.py --proxies 10.213.4.11:19530,... --password-file F [--rows 100000]

Checks: every proxy accepts the configured root password and refuses a wrong one; through the
first proxy a 2-shard collection takes `rows` 128-dim vectors (flushed in several rounds so
there are several sealed segments), an IVF_FLAT index and a load; 100 sampled ids search back
as their own top-1; the same searches through every other proxy return the same ids; the
loaded segments sit on every query node (--querynodes of them). Exits non-zero with the reason on failure.
With --drop it only removes the collection (the verification leaves no data behind).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for tests.milvus_data
from tests.milvus_data import fresh_collection, index_and_load  # noqa: E402

COLLECTION = "verify_e2e"
DIM = 128


def connect(address: str, password: str) -> MilvusClient:
    return MilvusClient(uri=f"http://{address}", user="root", password=password, timeout=30)


def check_auth(proxies: list[str], password: str) -> dict[str, str]:
    out = {}
    for address in proxies:
        client = connect(address, password)
        client.list_collections()
        client.close()
        try:
            bad = connect(address, password + "-wrong")
            bad.list_collections()
        except MilvusException as exc:
            out[address] = f"refused wrong password ({exc.code})"
            continue
        raise SystemExit(f"{address} accepted a wrong password")
    return out


def build(client: MilvusClient, rows: int, rounds: int) -> np.ndarray:
    fresh_collection(client, COLLECTION, DIM, vector_field="vec")
    vectors = np.random.default_rng(20261127).random((rows, DIM), dtype=np.float32)
    per_round = rows // rounds
    batch = 5000
    for start in range(0, rows, batch):
        chunk = vectors[start:start + batch]
        client.insert(COLLECTION, [{"id": start + i, "vec": v} for i, v in enumerate(chunk.tolist())])
        if (start + batch) % per_round == 0:
            client.flush(COLLECTION)
    client.flush(COLLECTION)
    index_and_load(client, COLLECTION, "vec", "IVF_FLAT", {"nlist": 128}, timeout=600)
    return vectors


def top1(client: MilvusClient, vectors: np.ndarray, ids: list[int]) -> list[int]:
    res = client.search(COLLECTION, data=[vectors[i].tolist() for i in ids], limit=1, anns_field="vec",
                        search_params={"metric_type": "L2", "params": {"nprobe": 8}})
    return [hits[0]["id"] for hits in res]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxies", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--querynodes", type=int, help="query nodes that must hold segments (all of them)")
    parser.add_argument("--drop", action="store_true", help="only drop the verification collection")
    args = parser.parse_args()
    if args.querynodes is None and not args.drop:
        parser.error("--querynodes is required: every query node of the inventory must hold segments")
    proxies = args.proxies.split(",")
    with open(args.password_file, encoding="utf-8") as handle:
        password = handle.read().strip()
    if args.drop:
        client = connect(proxies[0], password)
        client.drop_collection(COLLECTION)
        client.close()
        return

    report: dict = {"auth": check_auth(proxies, password)}
    client = connect(proxies[0], password)
    start = time.monotonic()
    vectors = build(client, args.rows, args.rounds)
    report["build_seconds"] = round(time.monotonic() - start, 1)
    count = client.query(COLLECTION, filter="", output_fields=["count(*)"])[0]["count(*)"]
    if count != args.rows:
        raise SystemExit(f"count(*) is {count}, inserted {args.rows}")
    sample = sorted(np.random.default_rng(7).choice(args.rows, size=100, replace=False).tolist())
    first = top1(client, vectors, sample)
    misses = [i for i, got in zip(sample, first, strict=True) if got != i]
    if misses:
        raise SystemExit(f"{len(misses)} of 100 sampled ids are not their own top-1: {misses[:5]}")
    report["self_top1"] = "100/100"
    for address in proxies[1:]:
        other = connect(address, password)
        if top1(other, vectors, sample) != first:
            raise SystemExit(f"search through {address} returned other ids than through {proxies[0]}")
        other.close()
    report["same_results_through"] = proxies
    segments = client.list_loaded_segments(COLLECTION)
    nodes = sorted({n for seg in segments for n in (getattr(seg, "node_ids", None) or [])})
    report["segments"] = len(segments)
    report["segment_nodes"] = nodes
    report["rows_per_node"] = {
        str(n): sum(seg.num_rows for seg in segments if n in (seg.node_ids or [])) for n in nodes}
    if len(nodes) != args.querynodes:
        raise SystemExit(f"loaded segments sit on {len(nodes)} query node(s) {nodes}, "
                         f"not on all {args.querynodes}")
    client.close()
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
