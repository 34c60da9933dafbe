"""Load-test helpers: data generation from a real schema, latency maths, exact top-k, thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from ansible_collections.vectorops.milvus.plugins.module_utils._loadtest import (
    _split,
    exact_top_k,
    field_plan,
    latency_summary,
    make_rows,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import MilvusError
from ansible_collections.vectorops.milvus.plugins.modules import milvus_loadtest


def test_field_plan_from_captured_schema(fixture_json):
    schema = fixture_json("describe_collection.json")
    plan = field_plan(schema, "vec")
    assert [(p["name"], p["kind"]) for p in plan] == [("id", "pk_int"), ("tag", "str"), ("vec", "vector")]
    rows = make_rows(plan, 5, np.random.default_rng(0), [10, 11, 12, 13, 14])
    assert [r["id"] for r in rows] == [10, 11, 12, 13, 14]
    assert all(len(r["tag"]) <= 32 and r["vec"].shape == (16,) and r["vec"].dtype == np.float32 for r in rows)


@pytest.mark.parametrize(
    ("fields", "vector", "match"),
    [
        (
            [{"name": "v", "type": "BINARY_VECTOR", "dim": 64, "is_primary": False, "auto_id": False}],
            "v",
            "cannot generate values for field v of type BINARY_VECTOR",
        ),
        (
            [{"name": "id", "type": "INT32", "dim": None, "is_primary": True, "auto_id": False}],
            "v",
            "primary key id has unsupported type INT32",
        ),
        (
            [{"name": "v", "type": "FLOAT_VECTOR", "dim": 8, "is_primary": False, "auto_id": False}],
            "w",
            "vector field w is not a FLOAT_VECTOR field",
        ),
    ],
)
def test_field_plan_refuses_what_it_cannot_fill(fields, vector, match):
    with pytest.raises(MilvusError, match=match):
        field_plan({"fields": fields}, vector)


def test_field_plan_skips_auto_id_and_fills_scalars():
    schema = {
        "fields": [
            {"name": "pk", "type": "INT64", "dim": None, "is_primary": True, "auto_id": True},
            {"name": "n", "type": "INT8", "dim": None, "is_primary": False, "auto_id": False},
            {"name": "f", "type": "DOUBLE", "dim": None, "is_primary": False, "auto_id": False},
            {"name": "b", "type": "BOOL", "dim": None, "is_primary": False, "auto_id": False},
            {"name": "j", "type": "JSON", "dim": None, "is_primary": False, "auto_id": False},
            {"name": "v", "type": "FLOAT_VECTOR", "dim": 4, "is_primary": False, "auto_id": False},
        ]
    }
    plan = field_plan(schema, "v")
    assert "pk" not in [p["name"] for p in plan]
    (row,) = make_rows(plan, 1, np.random.default_rng(1), [])
    assert set(row) == {"n", "f", "b", "j", "v"}
    assert -128 <= row["n"] <= 127 and isinstance(row["b"], bool) and isinstance(row["j"], dict)


def test_latency_summary():
    out = latency_summary(np.arange(1, 101, dtype="float32"))
    assert out["p50"] == pytest.approx(50.5) and out["p99"] == pytest.approx(99.01) and out["max"] == 100
    assert latency_summary([]) == {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}


@pytest.mark.parametrize(
    ("total", "parts", "expected"), [(10, 3, [4, 3, 3]), (2, 4, [1, 1, 0, 0]), (None, 2, [None, None])]
)
def test_split(total, parts, expected):
    assert _split(total, parts) == expected


@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_exact_top_k_matches_a_naive_scan(metric):
    rng = np.random.default_rng(3)
    data = rng.random((300, 8), dtype="float32")
    queries = rng.random((5, 8), dtype="float32")
    got = exact_top_k(data, queries, 10, metric)
    for q, row in zip(queries, got, strict=True):
        if metric == "L2":
            score = ((data - q) ** 2).sum(1)
        elif metric == "IP":
            score = -(data @ q)
        else:
            score = -(data @ q) / np.linalg.norm(data, axis=1) / np.linalg.norm(q)
        assert list(row) == list(np.argsort(score, kind="stable")[:10])


@pytest.mark.parametrize(
    ("index_type", "top_k", "expected"),
    [("HNSW", 10, {"ef": 64}), ("HNSW", 100, {"ef": 100}), ("IVF_SQ8", 10, {"nprobe": 16}), ("FLAT", 10, {})],
)
def test_default_search_params(index_type, top_k, expected):
    assert milvus_loadtest.default_search_params(index_type, top_k) == expected


BASE = {
    "duration": 30.0,
    "count": None,
    "warmup": 2.0,
    "concurrency": 4,
    "processes": None,
    "batch_size": 100,
    "nq": 1,
    "top_k": 10,
    "dim": None,
    "recall_queries": 100,
    "recall_max_rows": 1000,
    "phases": ["search"],
}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({}, None),
        ({"duration": 0}, "duration must be in (0, 3600] seconds"),
        ({"duration": 7200}, "duration must be in (0, 3600] seconds"),
        ({"count": 0}, "count must be >= 1"),
        ({"concurrency": 0}, "concurrency must be in [1, 1024]"),
        ({"phases": []}, "phases must name insert and/or search"),
    ],
)
def test_numbers_are_bounded(override, message):
    assert milvus_loadtest.validate_numbers({**BASE, **override}) == message


def make_test(thresholds):
    test = milvus_loadtest.LoadTest.__new__(milvus_loadtest.LoadTest)
    test.p = {"thresholds": thresholds}
    return test


FIGURES = {
    "search": {"latency_ms": {"p99": 12.5}, "qps": 800.0, "error_rate": 0.0},
    "insert": {"rows_per_sec": 4000.0, "error_rate": 0.02},
    "recall": {"value": 0.97},
}


@pytest.mark.parametrize(
    ("limits", "passed", "failed_names"),
    [
        ({"p99_ms": 20, "min_qps": 500}, True, []),
        ({"p99_ms": 10}, False, ["p99_ms"]),
        ({"min_rows_per_sec": 5000, "max_error_rate": 0.01}, False, ["min_rows_per_sec", "max_error_rate"]),
        ({"min_recall": 0.95}, True, []),
        ({"min_recall": 0.99}, False, ["min_recall"]),
    ],
)
def test_thresholds(limits, passed, failed_names):
    full = {
        "p99_ms": None,
        "min_qps": None,
        "min_rows_per_sec": None,
        "max_error_rate": None,
        "min_recall": None,
    }
    out = make_test({**full, **limits}).thresholds(FIGURES)
    assert out["passed"] is passed
    assert [c["name"] for c in out["checks"] if not c["passed"]] == failed_names


def test_no_thresholds_no_report():
    assert make_test(None).thresholds(FIGURES) is None


class _Conn:
    """Stands in for a Milvus connection: answers or raises what it is told, in turn."""

    def __init__(self, address: str, outcomes: list):
        self.address = address
        self.outcomes = outcomes
        self.closed = False

    def search(self):
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        return f"{outcome} via {self.address}"

    def close(self):
        self.closed = True


# Messages seen from Milvus 2.3.5 on the sandbox while a host's processes restarted.
DELEGATOR_GONE = MilvusError("failed to search/query delegator 2 for channel by-dev-rootcoord-dml_2_4707v0")
PROXY_GONE = MilvusError("<_InactiveRpcError: StatusCode.UNAVAILABLE, failed to connect to all addresses>")
DEADLINE = MilvusError("Deadline Exceeded")
AUTH = MilvusError("auth check failure, please check username and password are correct")


@pytest.fixture(autouse=True)
def resend_waits(monkeypatch) -> list[float]:
    """The retry policy's waits, recorded instead of slept."""
    from ansible_collections.vectorops.milvus.plugins.module_utils import _loadtest

    waits: list[float] = []
    monkeypatch.setattr(_loadtest, "_pause", waits.append)
    return waits


def _fresh(params):
    """Milvus.connect's stand-in: a healthy connection to the first proxy of the list."""
    return _Conn(params["hosts"][0], [])


@pytest.mark.parametrize(
    ("first", "failover", "hosts", "expected", "moved", "resent"),
    [
        (DELEGATOR_GONE, True, 3, "ok via p1", 0, 1),  # server error: resent on the same proxy
        (PROXY_GONE, True, 3, "ok via p2", 1, 1),  # proxy gone: moves, then resends
        (DEADLINE, True, 3, "ok via p2", 1, 1),  # a timed-out proxy is left too
        (PROXY_GONE, True, 1, "ok via p1", 0, 1),  # nowhere to move: resent where it is
        (AUTH, True, 3, AUTH, 0, 0),  # not transient: fails at once
        (DELEGATOR_GONE, False, 3, DELEGATOR_GONE, 0, 0),  # no retry policy: first failure counts
    ],
)
def test_proxy_client_retry_policy(monkeypatch, first, failover, hosts, expected, moved, resent):
    from ansible_collections.vectorops.milvus.plugins.module_utils import _loadtest

    proxies = [f"p{i}" for i in range(1, hosts + 1)]
    monkeypatch.setattr(_loadtest.Milvus, "connect", staticmethod(_fresh))
    client = _loadtest.ProxyClient({"hosts": proxies}, _Conn("p1", [first]), failover=failover)
    if isinstance(expected, Exception):
        with pytest.raises(MilvusError):
            client.call(lambda c: c.search())
    else:
        assert client.call(lambda c: c.search()) == expected
    assert (client.failovers, client.resends) == (moved, resent)


def test_proxy_client_never_resends_an_insert(monkeypatch):
    from ansible_collections.vectorops.milvus.plugins.module_utils import _loadtest

    monkeypatch.setattr(_loadtest.Milvus, "connect", staticmethod(_fresh))
    client = _loadtest.ProxyClient({"hosts": ["p1", "p2"]}, _Conn("p1", [PROXY_GONE]))
    with pytest.raises(MilvusError):
        client.call(lambda c: c.search(), resend=False)
    assert (client.failovers, client.resends, client.conn.address) == (1, 0, "p2")
    assert client.call(lambda c: c.search(), resend=False) == "ok via p2"


def test_proxy_client_tries_each_proxy_once(monkeypatch):
    """A proxy that is starting (accepts, then times out) after one that went away: the search
    goes on to the third; a fourth failure is not retried (one attempt per proxy)."""
    from ansible_collections.vectorops.milvus.plugins.module_utils import _loadtest

    plans = {"p2": [DEADLINE], "p3": [], "p1": []}

    def connect(params):
        return _Conn(params["hosts"][0], plans[params["hosts"][0]])

    monkeypatch.setattr(_loadtest.Milvus, "connect", staticmethod(connect))
    client = _loadtest.ProxyClient({"hosts": ["p1", "p2", "p3"]}, _Conn("p1", [PROXY_GONE]))
    assert client.call(lambda c: c.search()) == "ok via p3"
    assert (client.failovers, client.resends) == (2, 2)

    plans.update(p1=[DEADLINE], p2=[DEADLINE])
    client = _loadtest.ProxyClient({"hosts": ["p1", "p2", "p3"]}, _Conn("p3", [DEADLINE]))
    with pytest.raises(MilvusError):
        client.call(lambda c: c.search())
    assert (client.failovers, client.resends) == (3, 2)


def test_proxy_client_waits_longer_before_each_resend(monkeypatch, resend_waits):
    """A delegator that is moving off a stopping query node fails twice in a row: the resends
    wait 0.5 s then 1.5 s, so the third attempt meets the new shard leader."""
    from ansible_collections.vectorops.milvus.plugins.module_utils import _loadtest

    monkeypatch.setattr(_loadtest.Milvus, "connect", staticmethod(_fresh))
    moving = _Conn("p1", [DELEGATOR_GONE, DELEGATOR_GONE])
    client = _loadtest.ProxyClient({"hosts": ["p1", "p2", "p3"]}, moving)
    assert client.call(lambda c: c.search()) == "ok via p1"
    assert resend_waits == list(_loadtest.RESEND_WAIT_S) and client.resends == 2
    resend_waits.clear()
    assert client.call(lambda c: c.search()) == "ok via p1"  # a healthy search does not wait
    assert resend_waits == []


def test_the_servers_index_answer_sets_metric_and_search_params(fixture_json):
    # Milvus.indexes() of an HNSW collection on a real 2.3.5 (tests/integration/capture_fixtures.py):
    # the keys the load test and the backup read are the server's own.
    from ansible_collections.vectorops.milvus.plugins.module_utils._backup import sample_search_params

    indexes = fixture_json("indexes.json")
    index = next(i for i in indexes if i.get("field_name") == "vec")
    assert (index["index_type"], index["metric_type"], index["state"]) == ("HNSW", "L2", "Finished")
    assert milvus_loadtest.default_search_params(index["index_type"], 10) == {"ef": 64}
    assert milvus_loadtest.default_search_params(index["index_type"], 100) == {"ef": 100}
    assert sample_search_params(indexes, "vec")["metric_type"] == "L2"
    assert "metric_type" not in sample_search_params(indexes, "other")
