#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: milvus_loadtest."""

from __future__ import annotations

DOCUMENTATION = r"""
module: milvus_loadtest
short_description: Bounded insert and search load on a Milvus collection, with latency, throughput and recall
version_added: 0.1.0
description:
  - Sends concurrent insert and/or search requests to one collection from several worker
    processes (so the client is not the bottleneck), each phase bounded by O(duration) and
    O(count), never unbounded. A warm-up (O(warmup) seconds) precedes each phase and is left
    out of the figures.
  - Reports per phase the requests, QPS, rows/s, latency p50/p95/p99/max, errors by kind and the
    client CPU time, and optionally recall@k of the index against brute force over every row.
  - Optional O(thresholds) fail the task, with all the figures, when the cluster misses them.
  - Works on an existing collection, or creates one (O(create)) and, if asked, drops it again (O(drop)).
    Inserts go into an existing collection only with O(insert_into_existing).
  - Bad input (unknown collection or field, dimension or metric mismatch, a collection that is
    not loaded) fails before any load is sent.
extends_documentation_fragment:
  - vectorops.milvus.connection
  - vectorops.milvus.attributes
options:
  collection:
    description: Collection to load.
    type: str
    required: true
  phases:
    description: What to send, in this order.
    type: list
    elements: str
    choices: [insert, search]
    default: [search]
  create:
    description:
      - Create O(collection) when it does not exist (an INT64 key O(pk_field) and a float vector
        O(vector_field) of O(dim)), build the O(index_type) index and load it.
    type: bool
    default: false
  drop:
    description:
      - Drop the collection at the end, only when this run created it.
      - Also when the run fails after creating it (an index that cannot be built, a failed phase).
    type: bool
    default: false
  insert_into_existing:
    description:
      - Allow the insert phase into a collection this run did not create. Random rows are added to
        it for good, so this is refused by default, with O(create) too when the collection exists.
    type: bool
    default: false
  dim:
    description:
      - Vector dimension. Needed with O(create); on an existing collection it must match the schema.
    type: int
  vector_field:
    description:
      - Float vector field to insert into and search. The only float vector field when omitted.
      - Defaults to C(vector) when the collection is created.
    type: str
  pk_field:
    description: Primary key field of a created collection.
    type: str
    default: id
  metric_type:
    description:
      - Metric. Taken from the vector index when omitted; must match the index when given.
      - Defaults to C(L2) when the collection is created.
    type: str
    choices: [L2, IP, COSINE]
  index_type:
    description: Index of a created collection.
    type: str
    default: HNSW
  index_params:
    description: Build parameters of a created collection's index.
    type: dict
    default: {M: 16, efConstruction: 64}
  shards_num:
    description: Shards of a created collection.
    type: int
    default: 1
  duration:
    description: Seconds each phase runs after its warm-up, at most 3600.
    type: float
    default: 30
  count:
    description:
      - Requests per phase (insert batches or searches) after the warm-up. The phase ends at
        whichever comes first, O(count) or O(duration).
    type: int
  phase_counts:
    description:
      - "Requests of one phase, overriding O(count) for it, e.g. C({insert: 100, search: 1000})
        for 100 insert batches then 1000 searches."
    type: dict
    suboptions:
      insert:
        description: Insert batches.
        type: int
      search:
        description: Searches.
        type: int
  warmup:
    description: Seconds of load before each phase's measurements start.
    type: float
    default: 2
  concurrency:
    description: Requests in flight at once (closed loop, each waits for its answer).
    type: int
    default: 4
  processes:
    description:
      - Worker processes sharing O(concurrency). Default min(concurrency, CPU count).
      - With O(hosts), worker I(n) starts with the I(n)-th proxy and falls back to the others, so
        the load is spread over every proxy that answers.
    type: int
  batch_size:
    description: Rows per insert request.
    type: int
    default: 100
  nq:
    description: Query vectors per search request.
    type: int
    default: 1
  top_k:
    description: Hits per query vector.
    type: int
    default: 10
  search_params:
    description:
      - Index search parameters, for example C(ef=64) for HNSW or C(nprobe=16) for IVF.
      - Defaults by index type (HNSW C(ef) = max(64, top_k), IVF C(nprobe) = 16, otherwise none).
    type: dict
  consistency_level:
    description: Consistency level of the searches.
    type: str
    choices: [Strong, Bounded, Eventually]
    default: Bounded
  flush:
    description: Flush the collection after the insert phase (outside the figures).
    type: bool
    default: false
  recall:
    description:
      - Measure recall@top_k of the index against exact brute-force results over every row, read
        back from the collection, after the phases.
    type: bool
    default: false
  recall_queries:
    description: Query vectors used for recall.
    type: int
    default: 100
  recall_max_rows:
    description: Skip recall (with a warning) when the collection holds more rows than this.
    type: int
    default: 200000
  seed:
    description: Seed of the random vectors, for repeatable runs.
    type: int
    default: 0
  failover:
    description:
      - A client's retry policy for reads. A search that fails transiently (unavailable,
        timeout, or a server error such as a query node going away) is sent again, after 0.5 s
        the first time and 1.5 s the next (a moving shard leader needs a moment); with
        several O(hosts), a worker whose proxy was unavailable or timed out first moves to the
        next proxy (as a client behind a load balancer would). A search goes at most once
        through each proxy (twice with a single one); only the failure of its last attempt
        counts, and RV(search.resent) says how many were sent again. Inserts move but are
        never resent (the first attempt may have been applied).
      - C(false) counts every first failure.
      - Failure spans are reported either way, as RV(search.outages).
    type: bool
    default: true
  thresholds:
    description: Service levels; the task fails with all the figures when one is missed.
    type: dict
    suboptions:
      p99_ms:
        description: Highest acceptable search p99 latency in milliseconds.
        type: float
      min_qps:
        description: Lowest acceptable search QPS.
        type: float
      min_rows_per_sec:
        description: Lowest acceptable insert rows per second.
        type: float
      max_error_rate:
        description: Highest acceptable share of failed requests in any phase (0.01 = 1%).
        type: float
      min_recall:
        description: Lowest acceptable recall (needs O(recall)).
        type: float
attributes:
  check_mode:
    support: partial
    details:
      - A load test cannot be simulated. In check mode the module sends nothing, creates nothing
        and fails at once with a one-line message, rather than being skipped as a module without
        check mode would be, so a playbook that reads its figures stops there.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: A search-only run changes nothing; an insert phase adds rows every time (changed).
author:
  - vectorops team (!UNKNOWN)
"""

EXAMPLES = r"""
- name: 30 s of search load on an existing collection, fail above 50 ms p99
  vectorops.milvus.milvus_loadtest:
    hosts: [10.0.0.11:19530, 10.0.0.12:19530]
    user: root
    password: "{{ milvus_root_password }}"
    collection: products
    duration: 30
    concurrency: 16
    top_k: 10
    search_params: {ef: 64}
    thresholds:
      p99_ms: 50
      max_error_rate: 0.001

- name: Throw-away collection, insert then search, with recall
  vectorops.milvus.milvus_loadtest:
    uri: http://10.0.0.11:19530
    token: "{{ milvus_token }}"
    collection: loadtest_tmp
    create: true
    drop: true
    dim: 128
    phases: [insert, search]
    batch_size: 1000
    duration: 20
    recall: true
  register: load

- name: Exactly 10000 searches (or 120 s, whichever first)
  vectorops.milvus.milvus_loadtest:
    uri: http://10.0.0.11:19530
    token: "{{ milvus_token }}"
    collection: products
    count: 10000
    duration: 120
"""

RETURN = r"""
collection:
  description: The collection loaded.
  returned: always
  type: str
  sample: products
created:
  description: Whether this run created the collection.
  returned: always
  type: bool
  sample: false
dropped:
  description: Whether this run dropped the collection at the end.
  returned: always
  type: bool
  sample: false
parameters:
  description: The effective load parameters.
  returned: always
  type: dict
  sample: {"vector_field": "vector", "dim": 128, "metric_type": "L2", "index_type": "HNSW",
           "search_params": {"metric_type": "L2", "params": {"ef": 64}}, "top_k": 10, "nq": 1,
           "batch_size": 100, "concurrency": 16, "processes": 2, "duration": 30.0, "count": null,
           "phase_counts": {"search": null}, "warmup": 2.0}
insert:
  description:
    - Figures of the insert phase.
    - C(errors_by_kind) counts failed requests by kind, among them C(short) (a search that returned
      fewer than nq x top_k hits, or fewer than the collection holds) and C(unfinished) (a request
      loop still running at the phase's end, or one that recorded nothing).
  returned: when phases include insert
  type: dict
  sample: {"requests": 812, "ok": 812, "errors": 0, "errors_by_kind": {}, "error_rate": 0.0,
           "first_error": "",
           "warmup_requests": 50, "started_at": 1795824000.125, "duration_s": 20.0, "qps": 40.6,
           "rows": 81200,
           "rows_per_sec": 4060.0,
           "latency_ms": {"p50": 22.1, "p95": 41.0, "p99": 60.2, "max": 95.3, "mean": 24.0},
           "client_cpu_s": 3.1, "client_cpu_s_per_1000": 3.8177, "processes": 2, "concurrency": 4}
search:
  description: Figures of the search phase (same keys as RV(insert); rows counts query vectors).
  returned: when phases include search
  type: dict
  sample: {"requests": 24000, "ok": 24000, "errors": 0, "errors_by_kind": {}, "error_rate": 0.0,
           "first_error": "", "warmup_requests": 1500, "started_at": 1795824000.125, "duration_s": 30.0,
           "qps": 800.0, "rows": 24000,
           "rows_per_sec": 800.0,
           "latency_ms": {"p50": 4.8, "p95": 8.2, "p99": 12.5, "max": 40.1, "mean": 5.0},
           "client_cpu_s": 19.7, "client_cpu_s_per_1000": 0.8208, "processes": 2, "concurrency": 4,
           "proxy_failovers": 1, "resent": 3, "unavailable_s": 12.41, "longest_outage_s": 12.41,
           "outages": [{"start_s": 8.02, "seconds": 12.41, "failures": 37, "recovered": true}]}
  contains:
    outages:
      description:
        - Spans during which requests failed, from the first failed request until one succeeded
          again (the union over all workers), with their start in seconds from the start of
          measurement. C(recovered=false) when requests still failed at the end.
        - A failover drill reads its failed-request window here.
      type: list
      elements: dict
      sample: [{"start_s": 12.41, "seconds": 3.88, "failures": 7, "recovered": true}]
    unavailable_s:
      description: Sum of the outage spans in seconds.
      type: float
      sample: 3.88
    longest_outage_s:
      description: The longest outage span in seconds.
      type: float
      sample: 3.88
    proxy_failovers:
      description: How many times a worker moved to another proxy.
      type: int
      sample: 2
    resent:
      description: Searches sent a second time under O(failover) (each counted once in the figures).
      type: int
      sample: 5
    started_at:
      description: When measurement began, in seconds since the epoch (to place outages in time).
      type: float
      sample: 1764624000.52
recall:
  description: recall@k against brute force, or why it was skipped.
  returned: when recall is true
  type: dict
  sample: {"k": 10, "queries": 100, "rows": 20000, "value": 0.987}
thresholds:
  description: Each threshold checked, its value and whether it passed.
  returned: when thresholds are given
  type: dict
  sample: {"passed": true,
           "checks": [{"name": "p99_ms", "phase": "search", "limit": 50.0, "value": 12.5, "passed": true}]}
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible.module_utils.basic import missing_required_lib  # noqa: E402
from ansible_collections.vectorops.milvus.plugins.module_utils._loadtest import (  # noqa: E402
    MAX_DURATION,
    field_plan,
    measure_recall,
    run_phase,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import (  # noqa: E402
    Milvus,
    MilvusError,
    default_search_params,
    one_line,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._module import (  # noqa: E402
    CONNECTION_OPTIONS,
    MilvusModule,
)

try:
    import numpy  # noqa: F401  # pylint: disable=unused-import

    HAS_NUMPY = True
except ImportError:  # pragma: no cover
    HAS_NUMPY = False


def _phase_counts(p: dict[str, Any]) -> list[int | None]:
    return list((p.get("phase_counts") or {}).values())


def validate_numbers(p: dict[str, Any]) -> str | None:
    """First problem with the numeric options, or None."""
    checks = [
        (0 < p["duration"] <= MAX_DURATION, f"duration must be in (0, {MAX_DURATION:.0f}] seconds"),
        (p["count"] is None or p["count"] >= 1, "count must be >= 1"),
        (all(v is None or v >= 1 for v in _phase_counts(p)), "phase_counts must be >= 1"),
        (0 <= p["warmup"] <= 600, "warmup must be in [0, 600] seconds"),
        (1 <= p["concurrency"] <= 1024, "concurrency must be in [1, 1024]"),
        (p["processes"] is None or 1 <= p["processes"] <= 256, "processes must be in [1, 256]"),
        (1 <= p["batch_size"] <= 100000, "batch_size must be in [1, 100000]"),
        (1 <= p["nq"] <= 16384, "nq must be in [1, 16384]"),
        (1 <= p["top_k"] <= 16384, "top_k must be in [1, 16384]"),
        (p["dim"] is None or 1 <= p["dim"] <= 32768, "dim must be in [1, 32768]"),
        (1 <= p["recall_queries"] <= 10000, "recall_queries must be in [1, 10000]"),
        (p["recall_max_rows"] >= 1, "recall_max_rows must be >= 1"),
        (len(p["phases"]) > 0, "phases must name insert and/or search"),
    ]
    for ok, msg in checks:
        if not ok:
            return msg
    return None


class LoadTest:
    """Validation, collection set-up, phases, recall and thresholds of one run."""

    def __init__(self, module: MilvusModule, milvus: Milvus):
        self.module = module
        self.p = module.params
        self.milvus = milvus
        self.name = self.p["collection"]
        self.created = False

    def prepare(self) -> dict[str, Any]:
        """Check (or create) the collection and work out the effective parameters; sends no load."""
        p, m = self.p, self.milvus
        m.require_version()
        exists = m.has_collection(self.name)
        if not exists and not p["create"]:
            raise MilvusError(
                f"collection {self.name} does not exist in database {p['db_name']} "
                "(create: true and dim create it)"
            )
        if not exists:
            if p["dim"] is None:
                raise MilvusError("dim is required to create a collection")
            vector_field = p["vector_field"] or "vector"
            if vector_field == p["pk_field"]:
                raise MilvusError("vector_field and pk_field must differ")
            try:
                m.create_collection(
                    self.name,
                    dim=p["dim"],
                    metric_type=p["metric_type"] or "L2",
                    index_type=p["index_type"],
                    index_params=p["index_params"] or {},
                    shards_num=p["shards_num"],
                    pk_field=p["pk_field"],
                    vector_field=vector_field,
                )
            except MilvusError:
                # The collection may exist by now without its index or load (a bad index_type or
                # index_params): it is this run's, so the failure path drops it when drop is true.
                try:
                    self.created = m.has_collection(self.name)
                except MilvusError:
                    self.created = True  # unknown: try the drop rather than leave it behind
                raise
            self.created = True
        schema = m.describe_collection(self.name)
        vectors = [f for f in schema["fields"] if f["type"] == "FLOAT_VECTOR"]
        names = [f["name"] for f in schema["fields"]]
        if p["vector_field"]:
            fld = next((f for f in schema["fields"] if f["name"] == p["vector_field"]), None)
            if fld is None:
                raise MilvusError(
                    f"unknown field {p['vector_field']} in collection {self.name} "
                    f"(fields: {', '.join(names)})"
                )
            if fld["type"] != "FLOAT_VECTOR":
                raise MilvusError(f"field {fld['name']} is {fld['type']}, not FLOAT_VECTOR")
        elif len(vectors) == 1:
            fld = vectors[0]
        else:
            raise MilvusError(
                f"collection {self.name} has {len(vectors)} float vector fields; set vector_field"
            )
        dim = int(fld["dim"])
        if p["dim"] is not None and p["dim"] != dim:
            raise MilvusError(
                f"dim mismatch: dim is {p['dim']} but field {fld['name']} of {self.name} has dim {dim}"
            )
        index = next((i for i in m.indexes(self.name) if i.get("field_name") == fld["name"]), {})
        index_metric = str(index.get("metric_type") or "").upper()
        metric = (p["metric_type"] or index_metric or "L2").upper()
        if index_metric and metric != index_metric:
            raise MilvusError(
                f"metric_type {metric} does not match the index metric {index_metric} of {fld['name']}"
            )
        index_type = str(index.get("index_type") or "")
        params = (
            p["search_params"]
            if p["search_params"] is not None
            else default_search_params(index_type, p["top_k"])
        )
        pk = next(f for f in schema["fields"] if f["is_primary"])
        plan = field_plan(schema, fld["name"]) if "insert" in p["phases"] else None
        if "search" in p["phases"] or p["recall"]:
            state = m.load_state(self.name)
            if state != "Loaded":
                raise MilvusError(
                    f"collection {self.name} is not loaded (state {state}); load it before searching"
                )
            try:  # one query validates field, metric and parameters before any load is sent
                import numpy as np

                m.search(
                    self.name,
                    fld["name"],
                    np.zeros((1, dim), dtype="float32") + 0.5,
                    p["top_k"],
                    {"metric_type": metric, "params": params},
                )
            except Exception as exc:  # noqa: BLE001 - one line
                raise MilvusError(f"probe search failed: {one_line(exc)}") from None
        if "insert" in p["phases"] and not self.created and not p["insert_into_existing"]:
            if p["create"]:
                raise MilvusError(
                    f"collection {self.name} already exists and this run did not create it: create: true "
                    "does not insert random rows into an existing collection (set insert_into_existing: "
                    "true to do so, or name a new collection)"
                )
            raise MilvusError(
                f"the insert phase would add random rows to {self.name}, a collection this run did not "
                "create: set insert_into_existing: true to do so, or create: true with a new collection"
            )
        return {
            "vector_field": fld["name"],
            "pk_field": pk["name"],
            "dim": dim,
            "metric_type": metric,
            "index_type": index_type,
            "search_params": {"metric_type": metric, "params": params},
            "field_plan": plan,
        }

    def count_of(self, kind: str) -> int | None:
        """Request quota of one phase: phase_counts[kind], else count."""
        own = (self.p.get("phase_counts") or {}).get(kind)
        return own if own is not None else self.p["count"]

    def phase_spec(self, kind: str, eff: dict[str, Any]) -> dict[str, Any]:
        p = self.p
        spec = {
            "kind": kind,
            "collection": self.name,
            "concurrency": p["concurrency"],
            "processes": p["processes"],
            "duration": p["duration"],
            "count": self.count_of(kind),
            "warmup": p["warmup"],
            "seed": p["seed"],
            "failover": p["failover"],
        }
        if kind == "search":
            spec.update(
                vector_field=eff["vector_field"],
                dim=eff["dim"],
                nq=p["nq"],
                top_k=p["top_k"],
                search_params=eff["search_params"],
                consistency_level=p["consistency_level"],
                row_count=self.searchable_rows(p["top_k"]),
            )
        else:
            spec.update(field_plan=eff["field_plan"], batch_size=p["batch_size"], id_base=time.time_ns())
        return spec

    def searchable_rows(self, top_k: int) -> int:
        """How many hits a search can return at most: top_k, or the rows the collection serves when
        it holds fewer (statistics first; they count deleted rows, so a small one is counted)."""
        rows = self.milvus.row_count(self.name)
        return rows if rows >= top_k else min(rows, self.milvus.served_rows(self.name))

    def thresholds(self, result: dict[str, Any]) -> dict[str, Any] | None:
        """Check each given threshold against the figures."""
        limits = self.p["thresholds"] or {}
        checks: list[dict[str, Any]] = []

        def check(name: str, phase: str, value: Any, ok: bool) -> None:
            checks.append({"name": name, "phase": phase, "limit": limits[name], "value": value, "passed": ok})

        search, insert = result.get("search"), result.get("insert")
        if limits.get("p99_ms") is not None and search:
            p99 = search["latency_ms"]["p99"]
            check("p99_ms", "search", p99, p99 is not None and p99 <= limits["p99_ms"])
        if limits.get("min_qps") is not None and search:
            check("min_qps", "search", search["qps"], search["qps"] >= limits["min_qps"])
        if limits.get("min_rows_per_sec") is not None and insert:
            check(
                "min_rows_per_sec",
                "insert",
                insert["rows_per_sec"],
                insert["rows_per_sec"] >= limits["min_rows_per_sec"],
            )
        if limits.get("max_error_rate") is not None:
            for phase in ("insert", "search"):
                if result.get(phase):
                    rate = result[phase]["error_rate"]
                    check("max_error_rate", phase, rate, rate <= limits["max_error_rate"])
        if limits.get("min_recall") is not None:
            value = (result.get("recall") or {}).get("value")
            check("min_recall", "recall", value, value is not None and value >= limits["min_recall"])
        if not any(v is not None for v in limits.values()):
            return None
        return {"passed": all(c["passed"] for c in checks), "checks": checks}

    def run(self) -> dict[str, Any]:
        p = self.p
        eff = self.prepare()
        result: dict[str, Any] = {"collection": self.name, "created": self.created, "dropped": False}
        conn_params = {k: p[k] for k in CONNECTION_OPTIONS}
        if not conn_params["hosts"]:
            conn_params["uri"] = self.milvus.uri
        try:
            for kind in p["phases"]:
                result[kind] = run_phase(conn_params, self.phase_spec(kind, eff))
                if kind == "insert" and p["flush"]:
                    self.milvus.flush(self.name)
            if p["recall"]:
                result["recall"] = measure_recall(
                    self.milvus,
                    self.name,
                    eff["pk_field"],
                    eff["vector_field"],
                    eff["dim"],
                    eff["metric_type"],
                    eff["search_params"],
                    p["top_k"],
                    p["recall_queries"],
                    p["recall_max_rows"],
                    p["seed"],
                )
                if "skipped" in result["recall"]:
                    self.module.warn(f"recall skipped: {result['recall']['skipped']}")
        finally:
            if self.created and p["drop"]:
                self.milvus.drop_collection(self.name)
                result["dropped"] = True
        procs = (result.get("search") or result.get("insert") or {}).get("processes")
        result["parameters"] = {
            "vector_field": eff["vector_field"],
            "dim": eff["dim"],
            "metric_type": eff["metric_type"],
            "index_type": eff["index_type"],
            "search_params": eff["search_params"],
            "top_k": p["top_k"],
            "nq": p["nq"],
            "batch_size": p["batch_size"],
            "concurrency": p["concurrency"],
            "processes": procs,
            "duration": p["duration"],
            "count": p["count"],
            "phase_counts": {k: self.count_of(k) for k in p["phases"]},
            "warmup": p["warmup"],
        }
        slo = self.thresholds(result)
        if slo is not None:
            result["thresholds"] = slo
        return result


def main() -> None:
    spec = dict(
        collection={"type": "str", "required": True},
        phases={"type": "list", "elements": "str", "choices": ["insert", "search"], "default": ["search"]},
        create={"type": "bool", "default": False},
        drop={"type": "bool", "default": False},
        insert_into_existing={"type": "bool", "default": False},
        dim={"type": "int"},
        vector_field={"type": "str"},
        pk_field={"type": "str", "default": "id"},
        metric_type={"type": "str", "choices": ["L2", "IP", "COSINE"]},
        index_type={"type": "str", "default": "HNSW"},
        index_params={"type": "dict", "default": {"M": 16, "efConstruction": 64}},
        shards_num={"type": "int", "default": 1},
        duration={"type": "float", "default": 30.0},
        count={"type": "int"},
        phase_counts={"type": "dict", "options": {"insert": {"type": "int"}, "search": {"type": "int"}}},
        warmup={"type": "float", "default": 2.0},
        concurrency={"type": "int", "default": 4},
        processes={"type": "int"},
        batch_size={"type": "int", "default": 100},
        nq={"type": "int", "default": 1},
        top_k={"type": "int", "default": 10},
        search_params={"type": "dict"},
        consistency_level={
            "type": "str",
            "choices": ["Strong", "Bounded", "Eventually"],
            "default": "Bounded",
        },
        flush={"type": "bool", "default": False},
        recall={"type": "bool", "default": False},
        recall_queries={"type": "int", "default": 100},
        recall_max_rows={"type": "int", "default": 200000},
        seed={"type": "int", "default": 0},
        failover={"type": "bool", "default": True},
        thresholds={
            "type": "dict",
            "options": {
                "p99_ms": {"type": "float"},
                "min_qps": {"type": "float"},
                "min_rows_per_sec": {"type": "float"},
                "max_error_rate": {"type": "float"},
                "min_recall": {"type": "float"},
            },
        },
    )
    # supports_check_mode so that check mode reaches the refusal below: a skipped task would leave
    # the playbook that reads its figures with nothing to read.
    module = MilvusModule(argument_spec=spec, supports_check_mode=True)
    if module.check_mode:
        module.fail_json(
            msg="milvus_loadtest sends real load and cannot run in check mode; run it without --check"
        )
    if not HAS_NUMPY:
        module.fail_json(msg=missing_required_lib("numpy"))
    problem = validate_numbers(module.params)
    if problem:
        module.fail_json(msg=problem)
    test = None
    try:
        test = LoadTest(module, module.connect())
        result = test.run()
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        created = bool(test and test.created)
        dropped = False
        if created and module.params["drop"]:
            try:
                test.milvus.drop_collection(module.params["collection"])
                dropped = True
            except MilvusError:
                pass
        module.fail(exc, changed=created, created=created, dropped=dropped)
    finally:
        module.close()
    changed = result["created"] or result["dropped"] or bool((result.get("insert") or {}).get("rows"))
    slo = result.get("thresholds")
    if slo and not slo["passed"]:
        missed = "; ".join(
            f"{c['phase']} {c['name']} {c['value']} (limit {c['limit']})"
            for c in slo["checks"]
            if not c["passed"]
        )
        module.fail_json(msg=f"thresholds missed: {missed}", changed=changed, **result)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
