# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Bounded multi-process load generation for milvus_loadtest (and bench/).

Workers are spawned processes (never forked: gRPC threads do not survive fork), each running
a few threads in a closed loop. Every loop stops at its deadline AND at its request quota.
pymilvus is only reached through _milvus.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import (
    Milvus,
    MilvusError,
    classify,
    one_line,
)

HARD_REQUEST_CAP = 10_000_000  # per phase, whatever count and duration say
MAX_DURATION = 3600.0
SEARCH_POOL = 256  # distinct prebuilt requests per worker
MAX_OUTAGES_REPORTED = 20
INT_RANGES = {"INT8": (-128, 127), "INT16": (-32768, 32767), "INT32": (0, 2**31 - 1), "INT64": (0, 10**9)}


# --------------------------------------------------------------------------- data


def field_plan(schema: dict[str, Any], vector_field: str) -> list[dict[str, Any]]:
    """How to fill each field of `schema` on insert; MilvusError for types it cannot make."""
    plan = []
    for fld in schema["fields"]:
        ftype, name = fld["type"], fld["name"]
        if fld["is_primary"]:
            if fld["auto_id"]:
                continue
            if ftype not in ("INT64", "VARCHAR"):
                raise MilvusError(f"primary key {name} has unsupported type {ftype}")
            plan.append({"name": name, "kind": "pk_int" if ftype == "INT64" else "pk_str"})
        elif ftype == "FLOAT_VECTOR":
            plan.append({"name": name, "kind": "vector", "dim": int(fld["dim"])})
        elif ftype in INT_RANGES:
            plan.append({"name": name, "kind": "int", "range": INT_RANGES[ftype]})
        elif ftype in ("FLOAT", "DOUBLE"):
            plan.append({"name": name, "kind": "float"})
        elif ftype == "BOOL":
            plan.append({"name": name, "kind": "bool"})
        elif ftype == "VARCHAR":
            plan.append({"name": name, "kind": "str", "max_length": int(fld.get("max_length") or 16)})
        elif ftype == "JSON":
            plan.append({"name": name, "kind": "json"})
        else:
            raise MilvusError(f"cannot generate values for field {name} of type {ftype}")
    if not any(p["kind"] == "vector" and p["name"] == vector_field for p in plan):
        raise MilvusError(f"vector field {vector_field} is not a FLOAT_VECTOR field of the collection")
    return plan


def make_rows(
    plan: Sequence[dict[str, Any]], n: int, rng: Any, pk_values: Sequence[Any]
) -> list[dict[str, Any]]:
    """`n` rows following `plan`, random values from the numpy generator `rng`."""
    cols: dict[str, Sequence[Any]] = {}
    for item in plan:
        kind, name = item["kind"], item["name"]
        if kind in ("pk_int", "pk_str"):
            cols[name] = pk_values
        elif kind == "vector":
            cols[name] = rng.random((n, item["dim"]), dtype="float32")
        elif kind == "int":
            lo, hi = item["range"]
            cols[name] = [int(v) for v in rng.integers(lo, hi, size=n)]
        elif kind == "float":
            cols[name] = [float(v) for v in rng.random(n)]
        elif kind == "bool":
            cols[name] = [bool(v) for v in rng.integers(0, 2, size=n)]
        elif kind == "str":
            width = max(1, min(item["max_length"], 12))
            cols[name] = [format(int(v), "x")[:width] for v in rng.integers(0, 2**40, size=n)]
        elif kind == "json":
            cols[name] = [{"v": int(v)} for v in rng.integers(0, 1000, size=n)]
    names = list(cols)
    return [{k: cols[k][i] for k in names} for i in range(n)]


def latency_summary(latencies_ms: Any) -> dict[str, Any]:
    """p50/p95/p99/max/mean of latencies in milliseconds (numpy array or list)."""
    import numpy as np

    arr = np.asarray(latencies_ms, dtype="float64")
    if arr.size == 0:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "max": round(float(arr.max()), 3),
        "mean": round(float(arr.mean()), 3),
    }


# --------------------------------------------------------------------------- workers


def _split(total: int | None, parts: int) -> list[int | None]:
    if total is None:
        return [None] * parts
    base, extra = divmod(int(total), parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _worker(
    idx: int,
    quotas: list[int | None],
    conn_params: dict[str, Any],
    spec: dict[str, Any],
    ready_q: Any,
    result_q: Any,
    go: Any,
    start_at: Any,
) -> None:
    """One process: connect, prepare requests, wait for `go`, run len(quotas) threads."""
    try:
        import numpy as np

        hosts = list(conn_params.get("hosts") or [])
        if hosts:  # spread workers over the proxies; each still falls back to the others
            shift = idx % len(hosts)
            conn_params = dict(conn_params, hosts=hosts[shift:] + hosts[:shift])
        conn = ProxyClient(conn_params, Milvus.connect(conn_params), bool(spec.get("failover", True)))
        rng = np.random.default_rng(int(spec.get("seed", 0)) * 1000 + idx)
        op = make_op(conn, spec, idx, len(quotas), rng)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        ready_q.put(("error", idx, one_line(exc)))
        return
    ready_q.put(("ready", idx, None))
    if not go.wait(timeout=float(spec["ready_timeout"])):
        return
    t0 = start_at.value
    measure_from = t0 + float(spec["warmup"])
    end = measure_from + float(spec["duration"])
    timeout = float(conn_params.get("timeout") or 10.0)
    slots: list[dict[str, Any]] = [{} for _unused in quotas]
    threads = [
        threading.Thread(target=closed_loop, args=(op, t, q, t0, measure_from, end, slots[t]), daemon=True)
        for t, q in enumerate(quotas)
    ]
    for th in threads:
        th.start()
    time.sleep(max(0.0, measure_from - time.time()))
    cpu0 = time.process_time()
    unfinished = join_loops(threads, slots, end + timeout + JOIN_GRACE_S)
    cpu = time.process_time() - cpu0
    lat = [x for s in slots for x in s.get("lat", [])]
    errors: Counter = Counter()
    for s in slots:
        errors.update(s.get("errors", {}))
    if unfinished:  # a loop still running or without figures: the result must not look whole
        errors["unfinished"] += len(unfinished)
    first_errors = [f"worker {idx}: {line}" for line in unfinished]
    first_errors += [s["first_error"] for s in slots if s.get("first_error")]
    result_q.put(
        {
            "worker": idx,
            "ok": sum(s.get("ok", 0) for s in slots),
            "rows": sum(s.get("rows", 0) for s in slots),
            "warmup_requests": sum(s.get("warm", 0) for s in slots),
            "errors": dict(errors),
            "first_error": next(iter(first_errors), ""),
            "outages": [span for s in slots for span in s.get("outages", [])],
            "failovers": conn.failovers,
            "resends": conn.resends,
            "latencies": np.asarray(lat, dtype="float32"),
            "cpu_s": cpu,
            "measure_from": measure_from,
            "last_finish": max([s.get("finish", measure_from) for s in slots] or [measure_from]),
        }
    )
    conn.close()


JOIN_GRACE_S = 5.0  # beyond the last request's own timeout, before a loop counts as unfinished


def join_loops(
    threads: Sequence[threading.Thread], slots: Sequence[dict[str, Any]], deadline: float
) -> list[str]:
    """Join every loop thread by `deadline` (time.time()); one line per loop that is still
    running then or ended without filling its result slot (closed_loop always sets "finish")."""
    problems = []
    for no, (th, slot) in enumerate(zip(threads, slots, strict=True)):
        th.join(timeout=max(0.0, deadline - time.time()))
        if th.is_alive():
            problems.append(f"loop {no} still running at its deadline")
        elif "finish" not in slot:
            problems.append(f"loop {no} ended without a result")
    return problems


class ShortResult(Exception):
    """A search that answered with fewer hits than it asked for (a failure of kind "short")."""

    kind = "short"


def failure_kind(exc: BaseException) -> str:
    """The kind a failed request is counted under: short for ShortResult, else classify's."""
    return getattr(exc, "kind", None) or classify(exc)


def closed_loop(
    op: Any,
    thread_no: int,
    quota: int | None,
    t0: float,
    measure_from: float,
    end: float,
    out: dict[str, Any],
    stop: threading.Event | None = None,
    pause: float = 0.0,
) -> None:
    """Closed loop of one thread, bounded by `end` and by `quota` measured requests (and `stop`).
    `pause`: seconds between one request's answer and the next request (0: none), for a probe
    that watches availability without loading the cluster; it is outside every latency."""
    cap = min(quota if quota is not None else HARD_REQUEST_CAP, HARD_REQUEST_CAP)
    lat: list[float] = []
    errors: Counter = Counter()
    ok = rows = warm = 0
    first_error = ""
    outages: list[list[float]] = []  # [first failed request's start, next success's end, failures]
    down_since: float | None = None
    down_errors = 0
    time.sleep(max(0.0, t0 - time.time()))
    seq = 0
    for seq in range(HARD_REQUEST_CAP):  # never unbounded, even if the clock misbehaves
        if ok + sum(errors.values()) >= cap:
            break
        start_wall = time.time()
        if start_wall >= end or (stop is not None and stop.is_set()):
            break
        started = time.perf_counter()
        try:
            n = op(thread_no, seq)
            failed = None
        except Exception as exc:  # noqa: BLE001 - counted by kind
            failed = exc
        elapsed = (time.perf_counter() - started) * 1000.0
        if pause > 0:
            if stop is not None:
                stop.wait(pause)
            else:
                time.sleep(pause)
        if start_wall < measure_from:
            warm += 1
            continue
        if failed is None:
            ok += 1
            rows += n
            lat.append(elapsed)
            if down_since is not None:
                outages.append([down_since, time.time(), down_errors, 1])
                down_since, down_errors = None, 0
        else:
            errors[failure_kind(failed)] += 1
            first_error = first_error or one_line(failed)
            if down_since is None:
                down_since = start_wall
            down_errors += 1
    finish = time.time()
    if down_since is not None:  # still failing when the phase ended
        outages.append([down_since, finish, down_errors, 0])
    out.update(
        lat=lat,
        errors=dict(errors),
        ok=ok,
        rows=rows,
        warm=warm,
        first_error=first_error,
        finish=finish,
        outages=outages,
    )


def make_op(client: ProxyClient, spec: dict[str, Any], idx: int, n_threads: int, rng: Any) -> Any:
    """The request one thread sends each turn: (thread_no, seq) -> rows or hits.

    A search must return nq x top_k hits, or nq x the collection's rows when spec["row_count"]
    says it holds fewer than top_k; fewer raises ShortResult (not resent: the answer came).
    """
    coll = spec["collection"]
    if spec["kind"] == "search":
        nq, top_k = int(spec["nq"]), int(spec["top_k"])
        row_count = spec.get("row_count")
        want = nq * (top_k if row_count is None else min(top_k, int(row_count)))
        vectors = rng.random((SEARCH_POOL * nq, int(spec["dim"])), dtype="float32")
        reqs = client.conn.search_requests(
            coll,
            spec["vector_field"],
            vectors,
            nq,
            top_k,
            spec["search_params"],
            spec.get("consistency_level") or "Bounded",
        )
        pool = len(reqs)

        def search(thread_no: int, seq: int) -> int:
            req = reqs[(seq * 7 + thread_no * 31) % pool]
            hits = client.call(lambda conn: conn.send_search(req))
            if hits < want:
                raise ShortResult(f"search returned {hits} of {want} hits (nq {nq}, top_k {top_k})")
            return nq

        return search

    plan, batch = spec["field_plan"], int(spec["batch_size"])
    slots = int(spec["slots"])
    base = int(spec["id_base"])
    pk_kind = next((p["kind"] for p in plan if p["kind"].startswith("pk_")), None)
    import numpy as np

    rngs = [np.random.default_rng(int(rng.integers(2**62))) for _unused in range(n_threads)]

    def insert(thread_no: int, seq: int) -> int:
        slot = idx * n_threads + thread_no
        first = seq * batch
        if pk_kind == "pk_int":
            pks: Sequence[Any] = [base + (first + k) * slots + slot for k in range(batch)]
        elif pk_kind == "pk_str":
            pks = [f"{base}-{slot}-{first + k}" for k in range(batch)]
        else:
            pks = []
        rows = make_rows(plan, batch, rngs[thread_no], pks)
        return client.call(lambda conn: conn.insert(coll, rows), resend=False)

    return insert


# --------------------------------------------------------------------------- proxies


# Failures worth one more attempt of a search, and those that also move to another proxy.
RESEND_KINDS = ("unavailable", "timeout", "error")
MOVE_KINDS = ("unavailable", "timeout")
# Seconds waited before the 1st, 2nd, ... resend of a search: a stopping query node's
# delegators move within about 1.6 s (measured on the sandbox during a rolling restart), and a
# resend at once meets the proxy's stale shard-leader cache again.
RESEND_WAIT_S = (0.5, 1.5)
_pause = time.sleep  # tests replace it


class ProxyClient:
    """A worker's connection with a client's retry policy for reads (failover=True).

    A search that fails transiently (kinds in RESEND_KINDS) is sent again after a short wait
    (RESEND_WAIT_S); when the proxy was unavailable or timed out, the worker first moves to the
    next proxy of the list (what a client behind a load balancer sees). A search goes at most
    once through each proxy (twice with a single one); only the failure of its last attempt
    counts, and resends are counted.
    Inserts move but are never resent: the first attempt may have been applied. Threads of
    one process share it; the lock keeps one reconnect per failure.
    """

    def __init__(self, conn_params: dict[str, Any], conn: Milvus, failover: bool = True):
        self.params = conn_params
        self.conn = conn
        self.failover = failover
        self.can_move = len(conn_params.get("hosts") or []) > 1
        self.generation = 0
        self.failovers = 0
        self.resends = 0
        self._lock = threading.Lock()

    def _reconnect(self, seen: int) -> None:
        with self._lock:
            if self.generation != seen:  # another thread already moved
                return
            hosts = list(self.params["hosts"])
            current = self.conn.address
            if current in hosts:
                i = hosts.index(current)
                hosts = hosts[i + 1 :] + hosts[:i] + [current]
            new = Milvus.connect(dict(self.params, hosts=hosts))
            old, self.conn = self.conn, new
            self.generation += 1
            self.failovers += 1
            old.close()

    def call(self, func: Any, resend: bool = True) -> Any:
        """func(conn); on a transient failure move on (see the class) and, if resend, retry.

        A search is sent at most once per proxy of the list (twice in all with one proxy).
        """
        budget = len(self.params.get("hosts") or []) - 1 if self.can_move else 1
        sent = 0
        while True:
            seen, conn = self.generation, self.conn
            try:
                return func(conn)
            except Exception as exc:
                kind = classify(exc)
                if not self.failover or kind not in RESEND_KINDS:
                    raise
                if self.can_move and kind in MOVE_KINDS:
                    try:
                        self._reconnect(seen)
                    except MilvusError:
                        raise exc from None
                if not resend or budget <= 0:
                    raise
                _pause(RESEND_WAIT_S[min(sent, len(RESEND_WAIT_S) - 1)])
                budget -= 1
                sent += 1
                with self._lock:
                    self.resends += 1

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- a phase


def run_phase(conn_params: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Run one bounded phase (spec["kind"] = insert|search) in spec["processes"] spawned workers.

    spec: collection, concurrency, processes, duration, count (optional), warmup, seed and the
    kind's own keys (search: vector_field, dim, nq, top_k, search_params, consistency_level and
    optionally row_count, the collection's rows; insert: field_plan, batch_size). Returns the
    aggregated figures: errors_by_kind counts short searches as "short" and loops that did not
    finish or report as "unfinished".
    """
    import numpy as np

    concurrency = max(1, int(spec["concurrency"]))
    processes = max(1, min(int(spec.get("processes") or min(concurrency, os.cpu_count() or 1)), concurrency))
    duration = min(float(spec["duration"]), MAX_DURATION)
    spec = dict(
        spec,
        duration=duration,
        warmup=float(spec.get("warmup", 0)),
        slots=concurrency,
        id_base=int(spec.get("id_base") or time.time_ns()),
    )
    spec.setdefault("ready_timeout", 60 + 10 * processes)
    threads = _split(concurrency, processes)
    quotas = _split(spec.get("count"), concurrency)
    per_proc = []
    pos = 0
    for n in threads:
        per_proc.append(quotas[pos : pos + n])
        pos += n
    ctx = multiprocessing.get_context("spawn")
    ready_q, result_q = ctx.Queue(), ctx.Queue()
    go, start_at = ctx.Event(), ctx.Value("d", 0.0)
    procs = [
        ctx.Process(
            target=_worker,
            args=(i, per_proc[i], conn_params, spec, ready_q, result_q, go, start_at),
            daemon=True,
        )
        for i in range(processes)
    ]
    results: list[dict[str, Any]] = []
    try:
        for proc in procs:
            proc.start()
        deadline = time.time() + float(spec["ready_timeout"])
        ready = 0
        while ready < processes:
            try:
                state, widx, err = ready_q.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                raise MilvusError(
                    f"{spec['kind']} workers not ready after {spec['ready_timeout']:.0f} s"
                ) from None
            if state == "error":
                raise MilvusError(f"{spec['kind']} worker {widx} could not start: {err}")
            ready += 1
        start_at.value = time.time() + 0.2
        go.set()
        timeout = float(conn_params.get("timeout") or 10.0)
        deadline = start_at.value + spec["warmup"] + duration + timeout + 30
        while len(results) < processes:
            try:
                results.append(result_q.get(timeout=max(0.1, deadline - time.time())))
            except queue.Empty:
                raise MilvusError(f"{spec['kind']} workers did not report within their deadline") from None
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    lat = np.concatenate([r["latencies"] for r in results]) if results else np.zeros(0)
    ok = sum(r["ok"] for r in results)
    errors: Counter = Counter()
    for r in results:
        errors.update(r["errors"])
    n_err = sum(errors.values())
    measure_from = min(r["measure_from"] for r in results)
    window = min(max(r["last_finish"] for r in results), measure_from + duration) - measure_from
    window = max(window, 1e-6)
    cpu = sum(r["cpu_s"] for r in results)
    rows = sum(r["rows"] for r in results)
    outages = merge_outages([span for r in results for span in r["outages"]], measure_from)
    out = {
        "requests": ok + n_err,
        "ok": ok,
        "errors": n_err,
        "errors_by_kind": dict(errors),
        "error_rate": round(n_err / (ok + n_err), 6) if ok + n_err else 0.0,
        "first_error": next((r["first_error"] for r in results if r["first_error"]), ""),
        "warmup_requests": sum(r["warmup_requests"] for r in results),
        "started_at": round(measure_from, 3),
        "duration_s": round(window, 3),
        "qps": round(ok / window, 2),
        "rows": rows,
        "rows_per_sec": round(rows / window, 2),
        "latency_ms": latency_summary(lat),
        "client_cpu_s": round(cpu, 3),
        "client_cpu_s_per_1000": round(cpu / ok * 1000, 4) if ok else None,
        "processes": processes,
        "concurrency": concurrency,
        "proxy_failovers": sum(r["failovers"] for r in results),
        "resent": sum(r["resends"] for r in results),
        "outages": outages[:MAX_OUTAGES_REPORTED],
        "unavailable_s": round(sum(o["seconds"] for o in outages), 3),
        "longest_outage_s": max((o["seconds"] for o in outages), default=0.0),
    }
    return out


def merge_outages(spans: list[list[float]], origin: float) -> list[dict[str, Any]]:
    """Union of the threads' failure spans: when requests failed until one succeeded again.

    spans: [start, end, failures, recovered] per thread; returns [{start_s (from origin),
    seconds, failures, recovered}], overlapping spans merged, in time order.
    """
    merged: list[list[float]] = []
    for start, end, fails, recovered in sorted(spans):
        if merged and start <= merged[-1][1]:
            last = merged[-1]
            if end >= last[1]:
                last[1], last[3] = end, recovered
            last[2] += fails
        else:
            merged.append([start, end, fails, recovered])
    return [
        {
            "start_s": round(start - origin, 3),
            "seconds": round(end - start, 3),
            "failures": int(fails),
            "recovered": bool(recovered),
        }
        for start, end, fails, recovered in merged
    ]


# --------------------------------------------------------------------------- recall


def exact_top_k(data: Any, queries: Any, k: int, metric: str) -> Any:
    """Indexes into `data` of the exact top k per query (L2, IP or COSINE)."""
    import numpy as np

    metric = metric.upper()
    if metric == "COSINE":
        data = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-12)
        queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    if metric == "L2":
        score = (queries**2).sum(1)[:, None] - 2 * queries @ data.T + (data**2).sum(1)[None, :]
    else:
        score = -(queries @ data.T)
    k = min(k, data.shape[0])
    part = np.argpartition(score, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(score, part, axis=1).argsort(axis=1)
    return np.take_along_axis(part, order, axis=1)


def measure_recall(
    conn: Milvus,
    collection: str,
    pk_field: str,
    vector_field: str,
    dim: int,
    metric: str,
    search_params: dict[str, Any],
    top_k: int,
    queries: int,
    max_rows: int,
    seed: int = 0,
) -> dict[str, Any]:
    """recall@k of the index against brute force over every row (at most `max_rows`)."""
    import numpy as np

    ids: list[Any] = []
    vecs: list[Any] = []
    for batch_ids, batch_vecs in conn.iterate_vectors(collection, pk_field, vector_field, max_rows + 1):
        ids.extend(batch_ids)
        vecs.extend(batch_vecs)
        if len(ids) > max_rows:
            return {"skipped": f"collection has more than recall_max_rows={max_rows} rows"}
    if not ids:
        return {"skipped": "collection is empty"}
    data = np.asarray(vecs, dtype="float32")
    qs = np.random.default_rng(seed + 7).random((queries, dim), dtype="float32")
    truth = exact_top_k(data, qs, top_k, metric)
    got: list[list[Any]] = []
    for start in range(0, queries, 16):
        try:
            got.extend(
                conn.search(
                    collection,
                    vector_field,
                    qs[start : start + 16],
                    top_k,
                    search_params,
                    consistency_level="Strong",
                )
            )
        except Exception as exc:  # noqa: BLE001 - one line
            raise MilvusError(f"recall search: {one_line(exc)}") from None
    k = min(top_k, len(ids))
    hits = [len(set(g[:k]) & {ids[j] for j in truth[i]}) / k for i, g in enumerate(got)]
    return {"k": top_k, "queries": queries, "rows": len(ids), "value": round(float(np.mean(hits)), 4)}
