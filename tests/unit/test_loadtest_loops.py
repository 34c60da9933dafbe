"""The load loops' counting: closed_loop through make_op and ProxyClient against Milvus-like
stand-ins that answer or fail as told (no network), and the worker's accounting of its threads."""

from __future__ import annotations

import queue
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from ansible_collections.vectorops.milvus.plugins.module_utils import _loadtest
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import MilvusError

# Messages seen from Milvus 2.3.5 on the sandbox while a host's processes restarted, and a
# refusal that no retry can mend.
DELEGATOR_GONE = MilvusError("failed to search/query delegator 2 for channel by-dev-rootcoord-dml_2_4707v0")
PROXY_GONE = MilvusError("<_InactiveRpcError: StatusCode.UNAVAILABLE, failed to connect to all addresses>")
DEADLINE = MilvusError("Deadline Exceeded")
AUTH = MilvusError("auth check failure, please check username and password are correct")

NQ, TOP_K = 2, 5
FULL = NQ * TOP_K  # hits of a complete answer


class FakeProxy:
    """A Milvus connection to one proxy: prebuilt requests are tokens; send_search plays the
    proxy's script in turn (a number of hits, or an exception to raise), then answers in full."""

    def __init__(self, address: str, script: list):
        self.address = address
        self.script = script
        self.sent: list = []
        self.closed = False

    def search_requests(self, coll, field, vectors, nq, top_k, params, consistency_level):
        assert (nq, top_k) == (NQ, TOP_K)
        return [("request", i) for i in range(len(vectors) // nq)]

    def send_search(self, request):
        self.sent.append(request)
        outcome = self.script.pop(0) if self.script else FULL
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self):
        self.closed = True


@pytest.fixture
def proxies(monkeypatch):
    """Scripts per proxy address; Milvus.connect opens the first proxy of its list."""
    scripts: dict[str, list] = {"p1": [], "p2": [], "p3": []}
    opened: list[FakeProxy] = []

    def connect(params):
        conn = FakeProxy(params["hosts"][0], scripts[params["hosts"][0]])
        opened.append(conn)
        return conn

    monkeypatch.setattr(_loadtest.Milvus, "connect", staticmethod(connect))
    return SimpleNamespace(scripts=scripts, opened=opened)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(_loadtest, "_pause", recorded.append)
    return recorded


def search_loop(client, requests, row_count=None, warm=0.0, seconds=30.0, stop=None):
    """One closed loop of `requests` measured searches (quota) built by the real make_op."""
    spec = {
        "kind": "search",
        "collection": "c",
        "vector_field": "v",
        "dim": 4,
        "nq": NQ,
        "top_k": TOP_K,
        "search_params": {},
    }
    if row_count is not None:
        spec["row_count"] = row_count
    op = _loadtest.make_op(client, spec, 0, 1, np.random.default_rng(0))
    out: dict = {}
    now = time.time()
    _loadtest.closed_loop(op, 0, requests, now, now + warm, now + warm + seconds, out, stop)
    return out


def client_on(proxies, first: str = "p1", failover: bool = True):
    params = {"hosts": ["p1", "p2", "p3"], "timeout": 1}
    return _loadtest.ProxyClient(params, _loadtest.Milvus.connect(dict(params, hosts=[first])), failover)


def test_each_failure_kind_is_counted_where_it_belongs(proxies, waits):
    """Eight searches through three proxies:
    0 answers on p1; 1 meets a moving delegator (error kind) and is resent to the same proxy;
    2 finds p1 gone (unavailable): moves to p2 and is resent, times out there (timeout): moves
    to p3 and is resent again, and answers; 3 is refused (auth: never resent); 4 meets the
    error kind three times: resent twice (one attempt per proxy), its last failure counts;
    5 returns 7 of 10 hits (short); 6 and 7 answer.
    """
    proxies.scripts["p1"] += [FULL, DELEGATOR_GONE, FULL, PROXY_GONE]
    proxies.scripts["p2"] += [DEADLINE]
    proxies.scripts["p3"] += [FULL, AUTH, DELEGATOR_GONE, DELEGATOR_GONE, DELEGATOR_GONE, 7, FULL, FULL]
    client = client_on(proxies)
    out = search_loop(client, 8)

    assert out["ok"] == 5 and out["rows"] == 5 * NQ and len(out["lat"]) == 5
    assert out["errors"] == {"auth": 1, "error": 1, "short": 1}
    assert (client.resends, client.failovers) == (5, 2)
    assert [c.address for c in proxies.opened] == ["p1", "p2", "p3"]
    assert proxies.opened[0].closed and proxies.opened[1].closed and not proxies.opened[2].closed
    assert [len(c.sent) for c in proxies.opened] == [4, 1, 8]
    assert all(not script for script in proxies.scripts.values())
    # each resend waits; the second resend of one search waits longer
    assert waits == [0.5, 0.5, 1.5, 0.5, 1.5]
    assert out["first_error"] == "auth check failure, please check username and password are correct"
    # searches 3-5 failed in a row and 6 answered: one outage of three failures, recovered
    ((start, end, failures, recovered),) = out["outages"]
    assert (failures, recovered) == (3, 1) and start <= end <= out["finish"]
    assert out["warm"] == 0


def test_without_a_retry_policy_the_first_failure_counts(proxies, waits):
    proxies.scripts["p1"] += [DELEGATOR_GONE, PROXY_GONE, DEADLINE]
    client = client_on(proxies, failover=False)
    out = search_loop(client, 4)
    assert (out["ok"], out["errors"]) == (1, {"error": 1, "unavailable": 1, "timeout": 1})
    assert (client.resends, client.failovers, waits) == (0, 0, [])
    assert [(f, r) for _unused, _unused, f, r in out["outages"]] == [(3, 1)]


def test_a_phase_that_ends_down_reports_an_open_outage(proxies, waits):
    """Every proxy gone until the deadline: only unavailable failures, each search tried once
    per proxy, and the outage is still open (not recovered) when the loop stops."""
    for script in proxies.scripts.values():
        script += [PROXY_GONE] * 10_000
    client = client_on(proxies)
    out = search_loop(client, None, seconds=0.3)
    failed = out["errors"]["unavailable"]
    assert out["ok"] == 0 and set(out["errors"]) == {"unavailable"} and failed > 0
    assert client.resends == 2 * failed and client.failovers == 3 * failed
    ((start, end, failures, recovered),) = out["outages"]
    assert (failures, recovered) == (failed, 0)


def test_requests_before_measure_from_are_warmup_only(proxies, waits, monkeypatch):
    proxies.scripts["p1"] += [AUTH, AUTH]
    client = client_on(proxies)
    now = time.time()
    clock = iter([now - 1.0, now - 1.0, now + 1.0, now + 1.0, now + 1.0, now + 1.0])
    monkeypatch.setattr(_loadtest.time, "time", lambda: next(clock, now + 1.0))
    spec = {"kind": "search", "collection": "c", "vector_field": "v", "dim": 4, "nq": NQ,
            "top_k": TOP_K, "search_params": {}}
    op = _loadtest.make_op(client, spec, 0, 1, np.random.default_rng(0))
    out: dict = {}
    _loadtest.closed_loop(op, 0, 1, now - 1.0, now, now + 30, out)
    # the first search (before measure_from) failed but counts only as warmup
    assert (out["warm"], out["errors"], out["ok"]) == (1, {"auth": 1}, 0)


# ------------------------------------------------------------------ short answers


@pytest.mark.parametrize(
    ("row_count", "hits", "kind"),
    [
        (None, FULL, None),  # nq x top_k
        (None, FULL - 1, "short"),  # one query came back a hit short
        (None, 0, "short"),  # an empty answer is not a success
        (1000, FULL - 1, "short"),
        (3, NQ * 3, None),  # the collection holds 3 rows: 3 hits per query is all there is
        (3, NQ * 3 - 1, "short"),
        (0, 0, None),
    ],
)
def test_a_search_counts_only_with_every_hit(proxies, waits, row_count, hits, kind):
    proxies.scripts["p1"] += [hits]
    client = client_on(proxies)
    out = search_loop(client, 1, row_count=row_count)
    if kind is None:
        assert (out["ok"], out["errors"]) == (1, {})
    else:
        assert (out["ok"], out["errors"]) == (0, {kind: 1})
        want = NQ * min(TOP_K, row_count if row_count is not None else TOP_K)
        assert out["first_error"] == f"search returned {hits} of {want} hits (nq {NQ}, top_k {TOP_K})"
    assert client.resends == 0  # an answer came: a short one is not sent again


# ------------------------------------------------------------------ threads and result slots


def test_join_loops_names_a_loop_still_running_and_an_empty_slot():
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, args=(10,), daemon=True)
    crashed = threading.Thread(target=lambda: None)  # ended without writing its slot
    done = threading.Thread(target=lambda: None)
    for th in (stuck, crashed, done):
        th.start()
    slots = [{}, {}, {"finish": 1.0}]
    try:
        problems = _loadtest.join_loops([stuck, crashed, done], slots, time.time() + 0.2)
    finally:
        release.set()
    assert problems == ["loop 0 still running at its deadline", "loop 1 ended without a result"]
    assert _loadtest.join_loops([done], [{"finish": 1.0}], time.time()) == []


def _run_worker(monkeypatch, proxies, ops):
    """_worker in this process (threads, queues and events in place of the spawned ones)."""
    monkeypatch.setattr(_loadtest, "JOIN_GRACE_S", 0.0)
    monkeypatch.setattr(_loadtest, "make_op", lambda client, spec, idx, n, rng: lambda t, seq: ops[t](seq))
    ready_q, result_q, go = queue.Queue(), queue.Queue(), threading.Event()
    go.set()
    start_at = SimpleNamespace(value=time.time())
    spec = {"seed": 0, "ready_timeout": 5, "warmup": 0.0, "duration": 0.3, "failover": True}
    # a loop counts as unfinished 1 s (the request timeout; no extra grace) after the phase's end
    _loadtest._worker(0, [None] * len(ops), {"hosts": ["p1"], "timeout": 1.0}, spec,
                      ready_q, result_q, go, start_at)
    assert ready_q.get_nowait() == ("ready", 0, None)
    return result_q.get_nowait()


def test_a_worker_reports_a_loop_that_did_not_finish(monkeypatch, proxies):
    release = threading.Event()

    def hangs(seq):
        release.wait(10)  # a request that never returns within the phase
        return NQ

    try:
        result = _run_worker(monkeypatch, proxies, [lambda seq: NQ, hangs])
    finally:
        release.set()
    assert result["ok"] > 0
    assert result["errors"] == {"unfinished": 1}
    assert result["first_error"] == "worker 0: loop 1 still running at its deadline"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_reports_a_loop_that_died_without_figures(monkeypatch, proxies):
    def dies(seq):
        raise SystemExit  # not an Exception: closed_loop does not count it and ends at once

    result = _run_worker(monkeypatch, proxies, [lambda seq: NQ, dies])
    assert result["errors"] == {"unfinished": 1}
    assert result["first_error"] == "worker 0: loop 1 ended without a result"


def test_a_worker_whose_loops_all_finish_reports_no_error(monkeypatch, proxies):
    result = _run_worker(monkeypatch, proxies, [lambda seq: NQ, lambda seq: NQ])
    assert result["errors"] == {} and result["first_error"] == "" and result["ok"] > 0


def test_a_paused_loop_waits_between_requests_outside_their_latency():
    """A probe's pause slows the loop, not the latency it reports, and stop() cuts it short."""
    calls: list[float] = []

    def op(_thread_no, _seq):
        calls.append(time.time())
        return 1

    out: dict = {}
    now = time.time()
    _loadtest.closed_loop(op, 0, 4, now, now, now + 30, out, threading.Event(), 0.2)
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert out["ok"] == 4 and len(gaps) == 3 and min(gaps) >= 0.19, gaps
    assert max(out["lat"]) < 100, out["lat"]  # milliseconds: the pause is not in them
    stop = threading.Event()
    stop.set()
    started, out = time.time(), {}
    _loadtest.closed_loop(op, 0, 100, time.time(), time.time(), time.time() + 30, out, stop, 60.0)
    assert time.time() - started < 5 and out["ok"] == 0
