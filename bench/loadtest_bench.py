"""Search throughput of milvus_loadtest against two other clients, same server, same parameters.

    .venv/bin/python bench/loadtest_bench.py                      # starts its own standalone
    .venv/bin/python bench/loadtest_bench.py --uri http://127.0.0.1:19530 --password ...

1. milvus_loadtest, run through Ansible exactly as a playbook would;
2. a minimal raw multi-process pymilvus client (MilvusClient.search in P processes x T threads):
   the ceiling a client can reach on this machine;
3. the reference approach: one thread pool, one search per call, query vectors built as Python
   lists of random.random(), a Collection object per batch.

Prints QPS, p99 latency and client CPU seconds per 1000 searches for each, and the ratios to the
ceiling. Every loop is bounded in time and count; only the local server is targeted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "collections"))

MAX_REQUESTS = 2_000_000  # per client run, on top of the time bound
BENCH_PASSWORD = "bench-R00t-pw"  # not the built-in one: Ansible would mask "Milvus" in output


# --------------------------------------------------------------------------- set-up


def prepare(uri: str, password: str, name: str, rows: int, dim: int) -> None:
    """An HNSW collection of `rows` random vectors, loaded (kept between runs if it matches)."""
    import numpy as np
    from pymilvus import MilvusClient

    from tests.milvus_data import fresh_collection, index_and_load

    client = MilvusClient(uri=uri, user="root", password=password, timeout=60)
    if client.has_collection(name):
        stats = client.get_collection_stats(name)
        if int(stats.get("row_count", 0)) == rows:
            client.load_collection(name, timeout=300)
            client.close()
            return
    fresh_collection(client, name, dim, vector_field="vec", shards=1)
    rng = np.random.default_rng(1)
    for start in range(0, rows, 5000):
        n = min(5000, rows - start)
        vecs = rng.random((n, dim), dtype=np.float32)
        client.insert(name, [{"id": start + i, "vec": vecs[i]} for i in range(n)])
    client.flush(name)
    index_and_load(client, name, "vec", "HNSW", {"M": 16, "efConstruction": 64}, timeout=300)
    client.close()


def summary(latencies_ms: list[float], ok: int, window: float, cpu_s: float) -> dict[str, float]:
    lat = sorted(latencies_ms)
    p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))] if lat else float("nan")
    return {
        "qps": ok / window if window > 0 else 0.0,
        "p99_ms": p99,
        "cpu_per_1000": cpu_s / ok * 1000 if ok else 0.0,
        "ok": ok,
    }


# --------------------------------------------------------------------------- 1. the module


def run_module(args: argparse.Namespace) -> dict[str, float]:
    module_args = {
        "uri": args.uri,
        "user": "root",
        "password": args.password,
        "collection": args.collection,
        "duration": args.duration,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "processes": args.processes,
        "top_k": args.top_k,
        "search_params": {"ef": args.ef},
    }
    from tests.conftest import ansible_json, module_command

    _unused, data = ansible_json(
        module_command("milvus_loadtest", module_args, sys.executable),
        timeout=args.duration + args.warmup + 300,
    )
    result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    if result.get("failed"):
        raise SystemExit(f"milvus_loadtest failed: {result.get('msg')}")
    search = result["search"]
    return {
        "qps": search["qps"],
        "p99_ms": search["latency_ms"]["p99"],
        "cpu_per_1000": search["client_cpu_s_per_1000"],
        "ok": search["ok"],
    }


# --------------------------------------------------------------------------- 2. raw ceiling


def _raw_worker(args: dict[str, Any], threads: int, seed: int, start_at: float, out: Any) -> None:
    import numpy as np
    from pymilvus import MilvusClient

    client = MilvusClient(uri=args["uri"], user="root", password=args["password"], timeout=30)
    pool = np.random.default_rng(seed).random((256, args["dim"]), dtype=np.float32)
    params = {"metric_type": "L2", "params": {"ef": args["ef"]}}
    measure_from = start_at + args["warmup"]
    end = measure_from + args["duration"]
    per_thread: list[list[float]] = [[] for _unused in range(threads)]

    def loop(t: int) -> None:
        for i in range(MAX_REQUESTS):
            now = time.time()
            if now >= end:
                break
            started = time.perf_counter()
            client.search(
                args["collection"],
                data=pool[(i + t * 37) % 256 : (i + t * 37) % 256 + 1],
                limit=args["top_k"],
                anns_field="vec",
                search_params=params,
            )
            if now >= measure_from:
                per_thread[t].append((time.perf_counter() - started) * 1000)

    time.sleep(max(0.0, start_at - time.time()))
    ths = [threading.Thread(target=loop, args=(t,), daemon=True) for t in range(threads)]
    for th in ths:
        th.start()
    time.sleep(max(0.0, measure_from - time.time()))
    cpu0 = time.process_time()
    for th in ths:
        th.join(timeout=args["duration"] + args["warmup"] + 60)
    out.put({"lat": [x for lst in per_thread for x in lst], "cpu": time.process_time() - cpu0})


def run_raw(args: argparse.Namespace) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    conf = {
        k: getattr(args, k)
        for k in ("uri", "password", "collection", "dim", "ef", "top_k", "duration", "warmup")
    }
    procs = args.processes
    threads = [args.concurrency // procs + (1 if i < args.concurrency % procs else 0) for i in range(procs)]
    start_at = time.time() + 4.0  # spawned interpreters import pymilvus first
    workers = [
        ctx.Process(target=_raw_worker, args=(conf, threads[i], i, start_at, out), daemon=True)
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    results = [out.get(timeout=args.duration + args.warmup + 120) for _unused in workers]
    for w in workers:
        w.join(timeout=10)
    lat = [x for r in results for x in r["lat"]]
    return summary(lat, len(lat), args.duration, sum(r["cpu"] for r in results))


# --------------------------------------------------------------------------- 3. reference


def run_reference(args: argparse.Namespace) -> dict[str, float]:
    import warnings

    from pymilvus import Collection, connections

    warnings.filterwarnings("ignore", message=".*ORM-style PyMilvus API.*")  # that is the point here

    connections.connect(alias="bench_ref", uri=args.uri, user="root", password=args.password, timeout=30)
    lat: list[float] = []
    lock = threading.Lock()
    param = {"metric_type": "L2", "params": {"ef": args.ef}}

    def one_search(coll: Any, record: bool) -> None:
        vector = [random.random() for _unused in range(args.dim)]
        started = time.perf_counter()
        coll.search(data=[vector], anns_field="vec", param=param, limit=args.top_k)
        if record:
            with lock:
                lat.append((time.perf_counter() - started) * 1000)

    start = time.time()
    measure_from = start + args.warmup
    end = measure_from + args.duration
    cpu0 = None
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for _unused in range(MAX_REQUESTS):
            now = time.time()
            if now >= end:
                break
            if cpu0 is None and now >= measure_from:
                cpu0 = time.process_time()
            coll = Collection(args.collection, using="bench_ref")  # a Collection object per batch
            measured = now >= measure_from
            futures = [pool.submit(one_search, coll, measured) for _unused in range(args.concurrency)]
            for fut in futures:
                fut.result()
    cpu = time.process_time() - (cpu0 or time.process_time())
    connections.disconnect("bench_ref")
    return summary(lat, len(lat), args.duration, cpu)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="a running server (root user); default: start a local standalone")
    parser.add_argument("--password", default=BENCH_PASSWORD)
    parser.add_argument("--collection", default="bench_vectors")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--top-k", dest="top_k", type=int, default=10)
    parser.add_argument("--ef", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="repeat all three, order rotated; medians")
    args = parser.parse_args()
    args.duration = min(args.duration, 600.0)

    srv = None
    tmp = None
    if not args.uri:
        from pymilvus import MilvusClient

        from tests.integration.milvus_server import ROOT_PASSWORD, Standalone

        tmp = tempfile.TemporaryDirectory(prefix="milvus-bench-")
        srv = Standalone(Path(tmp.name)).start()
        args.uri = srv.uri
        first = MilvusClient(uri=srv.uri, user="root", password=ROOT_PASSWORD)
        first.update_password("root", ROOT_PASSWORD, args.password)
        first.close()
    try:
        prepare(args.uri, args.password, args.collection, args.rows, args.dim)
        contenders = [
            ("milvus_loadtest", run_module),
            ("raw pymilvus (ceiling)", run_raw),
            ("reference thread pool", run_reference),
        ]
        figures: dict[str, list[dict[str, float]]] = {name: [] for name, _unused in contenders}
        for rnd in range(args.rounds):
            order = contenders[rnd % 3 :] + contenders[: rnd % 3]
            for name, func in order:
                figures[name].append(func(args))
                time.sleep(2)
        report(
            args,
            {
                name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                for name, runs in figures.items()
            },
        )
    finally:
        if srv is not None:
            srv.stop(grace=3)
            tmp.cleanup()


def report(args: argparse.Namespace, med: dict[str, dict[str, float]]) -> None:
    ceiling = med["raw pymilvus (ceiling)"]
    print(
        f"server {args.uri}  collection {args.collection}: {args.rows} x {args.dim}-dim HNSW(M=16, efC=64)  "
        f"top_k={args.top_k} ef={args.ef}  concurrency={args.concurrency} processes={args.processes}  "
        f"{args.duration:.0f} s measured after {args.warmup:.0f} s warm-up  rounds={args.rounds}  "
        f"host cores={os.cpu_count()}"
    )
    head = ("client", "QPS", "p99 ms", "CPU s/1000", "QPS/ceiling", "CPU/ceiling", "searches")
    print(f"{head[0]:<24}{head[1]:>9}{head[2]:>9}{head[3]:>12}{head[4]:>13}{head[5]:>13}{head[6]:>10}")
    for name, fig in med.items():
        print(
            f"{name:<24}{fig['qps']:>9.1f}{fig['p99_ms']:>9.2f}{fig['cpu_per_1000']:>12.3f}"
            f"{fig['qps'] / ceiling['qps']:>13.2f}{fig['cpu_per_1000'] / ceiling['cpu_per_1000']:>13.2f}"
            f"{fig['ok']:>10.0f}"
        )
    mod, ref = med["milvus_loadtest"], med["reference thread pool"]
    print(
        f"milvus_loadtest vs reference: {mod['qps'] / ref['qps']:.2f}x QPS, "
        f"{ref['cpu_per_1000'] / mod['cpu_per_1000']:.2f}x less client CPU per search; "
        f"target milvus_loadtest >= 0.9 x ceiling QPS: "
        f"{'met' if mod['qps'] >= 0.9 * ceiling['qps'] else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
