"""e2e tier: the sandbox cluster that molecule/default leaves running, and how to drive it.

test_molecule.py converges the cluster (and verifies it); test_operations.py then runs the
operations playbooks on it exactly as an operator would (`ansible-playbook playbooks/X.yml -i
inventories/test`: the suite's own hosts, never the user's sandbox) and tears them down at the
end. A search loop in the test process (the collection's own load-test code: proxy failover,
failure spans) runs beside playbooks.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT, TEST_INVENTORY, VENV_BIN, ansible_json, inventory_hosts, spare_hosts

if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.vectorops.milvus.plugins.module_utils._loadtest import (  # noqa: E402
    ProxyClient,
    closed_loop,
    latency_summary,
    make_op,
    merge_outages,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import Milvus  # noqa: E402

INVENTORY = TEST_INVENTORY
HOSTS: dict[str, dict[str, str]] = inventory_hosts(INVENTORY)
# The spare host (node4): made with the others, in no group of the cluster until a test's
# inventory overlay puts it in one (scale-out onto a new host, preflight with a host joining).
SPARES: dict[str, dict[str, str]] = spare_hosts(INVENTORY)
MADE = {**HOSTS, **SPARES}  # every host the sandbox made, spare or not
_CLUSTER_VARS = yaml.safe_load((INVENTORY / "group_vars" / "all" / "cluster.yml").read_text())
PASSWORD = _CLUSTER_VARS["milvus_root_password"]
# Molecule's default scenario deploys DEPLOYED_VERSION (molecule/default/molecule.yml); the
# upgrade test takes the cluster to the inventory's milvus_version.
TARGET_VERSION = str(_CLUSTER_VARS["milvus_version"])
_MOLECULE = (ROOT / "molecule" / "default" / "molecule.yml").read_text()
DEPLOYED_VERSION = re.search(r"milvus_version=([\d.]+)", _MOLECULE).group(1)
# test_molecule.py writes it when the scenario passed; test_operations.py needs it.
READY = ROOT / ".cache" / "e2e" / "cluster-ready"
PROXIES = [f"{h['ip']}:19530" for h in HOSTS.values()]


@dataclass
class PlaybookRun:
    """One ansible-playbook run: exit status, the JSON callback's output, wall seconds."""

    rc: int
    data: dict[str, Any]
    stdout: str
    stderr: str
    seconds: float

    def results(self, task: str) -> list[dict[str, Any]]:
        """Every host result of the tasks named `task` (in every play), in order."""
        out = []
        for play in self.data.get("plays", []):
            for t in play.get("tasks", []):
                if t["task"]["name"] == task:
                    out.extend(t["hosts"].values())
        return out

    def result(self, task: str) -> dict[str, Any]:
        found = self.results(task)
        assert found, f"task {task!r} did not run:\n{self.failure()}"
        return found[-1]

    def _task_spans(self):
        """(name, start, end) of every finished task, in epoch seconds, in order."""
        from datetime import datetime

        def epoch(stamp: str) -> float:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

        for play in self.data.get("plays", []):
            for t in play.get("tasks", []):
                span = t["task"].get("duration", {})
                if span.get("start") and span.get("end"):
                    yield t["task"]["name"], epoch(span["start"]), epoch(span["end"])

    def hosts_ran(self, task: str) -> list[str]:
        """The hosts on which the tasks named `task` ran (were not skipped), sorted."""
        out = set()
        for play in self.data.get("plays", []):
            for t in play.get("tasks", []):
                if t["task"]["name"] == task:
                    out.update(host for host, res in t["hosts"].items() if not res.get("skipped"))
        return sorted(out)

    def task_names(self) -> list[str]:
        """Names of the tasks that ran (not skipped on every host), in order."""
        return [t["task"]["name"] for play in self.data.get("plays", []) for t in play.get("tasks", [])
                if any(not r.get("skipped") for r in t["hosts"].values())]

    def during(self, start: float, end: float) -> list[str]:
        """Names of the tasks that ran between the epoch seconds `start` and `end` (to tell
        which step an outage of a concurrent search loop belongs to)."""
        out: list[str] = []
        for name, begin, finish in self._task_spans():
            if begin <= end and finish >= start and name not in out:
                out.append(name)
        return out

    def slowest(self, n: int = 6) -> list[list[Any]]:
        """The n longest tasks as [name, seconds] (where a playbook's time goes)."""
        spans = [[name, round(finish - begin, 1)] for name, begin, finish in self._task_spans()]
        return sorted(spans, key=lambda x: -x[1])[:n]

    @property
    def changed(self) -> int:
        return sum(s.get("changed", 0) for s in self.data.get("stats", {}).values())

    def failure(self) -> str:
        """The failed tasks' messages, for assertion output."""
        lines = []
        for play in self.data.get("plays", []):
            for t in play.get("tasks", []):
                for host, res in t["hosts"].items():
                    if res.get("failed") and not res.get("ignore_errors"):
                        # a loop's own message says only "One or more items failed": add the items'
                        items = [str(r.get("msg", "")) for r in res.get("results", []) if r.get("failed")]
                        said = " | ".join([str(res.get("msg", "")), *items])
                        lines.append(f"{host}: {t['task']['name']}: {said}")
        return "\n".join(lines) or self.stderr[-3000:]


def playbook(
    name: str,
    extra_vars: dict[str, Any] | None = None,
    *,
    inventories: tuple[str, ...] = (),
    check: bool = False,
    tags: str = "",
    limit: str = "",
    timeout: float = 1800,
    base: Path = INVENTORY,
) -> PlaybookRun:
    """`ansible-playbook playbooks/NAME.yml -i inventories/test [-i more] [-e json] [--tags]
    [--limit]` (`base` in place of inventories/test)."""
    import json

    cmd = [str(VENV_BIN / "ansible-playbook"), f"playbooks/{name}.yml", "-i", str(base)]
    for inv in inventories:
        cmd += ["-i", str(inv)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if tags:
        cmd += ["--tags", tags]
    if limit:
        cmd += ["--limit", limit]
    start = time.monotonic()
    proc, data = ansible_json(cmd, timeout)
    return PlaybookRun(proc.returncode, data, proc.stdout, proc.stderr, time.monotonic() - start)


def connect(hosts: list[str] | None = None) -> Milvus:
    return Milvus.connect({"hosts": hosts or PROXIES, "user": "root", "password": PASSWORD, "timeout": 10})


# The search loops' own time bound: longer than playbook()'s default timeout (1800 s), so a loop
# runs for the whole of any playbook it measures (the tests assert it was still running at the
# playbook's end) and still stops by itself.
LOOP_SECONDS = 1900
# The search loops watch availability; they are not load. Each thread waits this long between
# an answer and its next search, so a handful of loops do not take a core of this 2-core machine
# from the cluster they watch (flat out, five threads made about 60 searches/s). The figures'
# resolution is still a fraction of a second per thread.
PAUSE_S = 0.25


class SearchLoop:
    """Searches in `threads` threads until stop() (or max_seconds / max_requests), each thread
    with its own connection that moves to another proxy when its proxy goes away."""

    def __init__(
        self,
        collection: str,
        dim: int,
        *,
        hosts: list[str] | None = None,
        threads: int = 2,
        max_seconds: float = LOOP_SECONDS,
        max_requests: int = 2_000_000,
        pause: float = PAUSE_S,
    ):
        import numpy as np

        self.params = {"hosts": hosts or PROXIES, "user": "root", "password": PASSWORD, "timeout": 5}
        spec = {
            "kind": "search",
            "collection": collection,
            "vector_field": "vector",
            "dim": dim,
            "nq": 1,
            "top_k": 10,
            "search_params": {"metric_type": "L2", "params": {"nprobe": 8}},
            "consistency_level": "Bounded",
        }
        self.stop_event = threading.Event()
        self.slots: list[dict[str, Any]] = [{} for _unused in range(threads)]
        self.clients = []
        self.threads = []
        self.t0 = time.time()
        end = self.t0 + max_seconds
        for i in range(threads):
            shift = i % len(self.params["hosts"])
            params = dict(self.params, hosts=self.params["hosts"][shift:] + self.params["hosts"][:shift])
            client = ProxyClient(params, Milvus.connect(params))
            op = make_op(client, spec, i, 1, np.random.default_rng(i))
            self.clients.append(client)
            self.threads.append(
                threading.Thread(
                    target=closed_loop,
                    args=(op, 0, max_requests // threads, self.t0, self.t0, end, self.slots[i],
                          self.stop_event, pause),
                    daemon=True,
                )
            )
        for th in self.threads:
            th.start()

    def running(self) -> bool:
        """Every thread still searching (not stopped by its own time or request bound)."""
        return all(th.is_alive() for th in self.threads)

    def stop(self) -> dict[str, Any]:
        self.stop_event.set()
        for th in self.threads:
            th.join(timeout=30)
        alive = [th.is_alive() for th in self.threads]
        assert not any(alive), f"a search thread did not finish: {alive}"
        assert all(s.get("ok", 0) + sum(s.get("errors", {}).values()) > 0 for s in self.slots), self.slots
        for c in self.clients:
            c.close()
        errors: dict[str, int] = {}
        for s in self.slots:
            for k, v in s.get("errors", {}).items():
                errors[k] = errors.get(k, 0) + v
        lat = [x for s in self.slots for x in s.get("lat", [])]
        # Longest stall of a closed loop: its slowest success, or an outage (from the first
        # failed search's start to the next success's end, or to the loop's end).
        spans = [x / 1000.0 for x in lat] + [o[1] - o[0] for s in self.slots for o in s.get("outages", [])]
        return {
            "ok": sum(s.get("ok", 0) for s in self.slots),
            "errors": sum(errors.values()),
            "errors_by_kind": errors,
            "first_error": next((s["first_error"] for s in self.slots if s.get("first_error")), ""),
            "outages": merge_outages([o for s in self.slots for o in s.get("outages", [])], self.t0),
            "proxy_failovers": sum(c.failovers for c in self.clients),
            "resent": sum(c.resends for c in self.clients),
            "seconds": round(time.time() - self.t0, 1),
            "latency_ms": latency_summary(lat) if lat else {},
            "longest_stall_s": round(max(spans, default=0.0), 3),
        }


def describe_failure(exc: BaseException) -> str:
    """A failed call's first line, with the gRPC status when the error carries one (a gRPC
    error's first line is only "<_InactiveRpcError of RPC that terminated with:")."""
    first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    code = getattr(exc, "code", None)
    if callable(code):
        with contextlib.suppress(Exception):
            return f"{code().name}: {first}"[:200]
    return first


class PlainSearchLoop:
    """The availability an application sees: one thread per proxy, each a plain pymilvus
    MilvusClient with no product code in its path, a per-call deadline and no resends. Every
    search is recorded (start, end, ok) so figures can be taken after a given moment: failed
    searches, the longest stall (the longest gap between two successful searches of one loop,
    or from a moment to the next success) and latency percentiles. A search is OK only when it
    returns nq x top_k hits (or every row when the collection holds fewer). Bounded by
    max_seconds and max_requests; stop() joins every thread and checks it finished."""

    def __init__(
        self,
        collection: str,
        dim: int,
        rows: int,
        *,
        proxies: list[str] | None = None,
        deadline: float = 5.0,
        top_k: int = 10,
        max_seconds: float = LOOP_SECONDS,
        max_requests: int = 1_000_000,
        pause: float = PAUSE_S,
    ):
        import numpy as np

        self.collection, self.deadline, self.top_k, self.pause = collection, deadline, top_k, pause
        self.want_hits = min(top_k, rows)
        self.proxies = proxies or PROXIES
        self.stop_event = threading.Event()
        self.t0 = time.time()
        self.end = self.t0 + max_seconds
        self.max_each = max_requests // len(self.proxies)
        self.vectors = np.random.default_rng(11).random((256, dim), dtype="float32").tolist()
        self.records: list[list[tuple[float, float, bool, str]]] = [[] for _unused in self.proxies]
        self.done = [False] * len(self.proxies)
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True)
                        for i in range(len(self.proxies))]
        for th in self.threads:
            th.start()

    def _client(self, proxy: str):
        from pymilvus import MilvusClient

        try:
            return MilvusClient(uri=f"http://{proxy}", user="root", password=PASSWORD, timeout=self.deadline)
        except Exception:  # noqa: BLE001 - a refused connection is a failed search below
            return None

    def _loop(self, i: int) -> None:
        proxy, out = self.proxies[i], self.records[i]
        client = self._client(proxy)
        n = 0
        while not self.stop_event.is_set() and time.time() < self.end and n < self.max_each:
            vec = self.vectors[n % len(self.vectors)]
            n += 1
            start = time.time()
            try:
                if client is None:
                    client = self._client(proxy)
                    if client is None:
                        raise ConnectionError(f"cannot connect to {proxy}")
                res = client.search(self.collection, data=[vec], limit=self.top_k, timeout=self.deadline,
                                    search_params={"metric_type": "L2", "params": {"nprobe": 8}})
                hits = len(res[0])
                ok, why = hits == self.want_hits, "" if hits == self.want_hits else f"{hits} hits"
            except Exception as exc:  # noqa: BLE001 - every failure counts, whatever its kind
                ok, why = False, describe_failure(exc)
            failed_fast = not ok and time.time() - start < 0.05
            out.append((start, time.time(), ok, why))
            # The pause between searches; after a refused connection (it fails fast) never a spin.
            self.stop_event.wait(max(self.pause, 0.05) if failed_fast else self.pause)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        self.done[i] = True

    def running(self) -> bool:
        """Every loop still searching (not stopped by its own time or request bound)."""
        return all(th.is_alive() for th in self.threads)

    def stop(self) -> None:
        self.stop_event.set()
        for th in self.threads:
            th.join(timeout=self.deadline + 30)
        alive = [th.is_alive() for th in self.threads]
        assert all(self.done) and not any(alive), f"a search loop did not finish: {alive}"
        assert all(self.records), f"a search loop recorded nothing: {[len(r) for r in self.records]}"

    def failure_spans(self, gap: float = 2.0) -> list[dict[str, Any]]:
        """Failures grouped into spans per proxy and kind (failures less than `gap` s apart),
        with their epoch start and end, to be matched with the playbook's tasks."""
        spans: list[dict[str, Any]] = []
        for proxy, recs in zip(self.proxies, self.records, strict=True):
            open_: dict[str, dict[str, Any]] = {}
            for start, end, ok, why in recs:
                if ok:
                    continue
                kind = self.kind(why)
                span = open_.get(kind)
                if span and start - span["end"] <= gap:
                    span.update(end=end, failures=span["failures"] + 1)
                else:
                    span = {"proxy": proxy, "kind": kind, "start": start, "end": end, "failures": 1,
                            "first": why}
                    open_[kind] = span
                    spans.append(span)
        return sorted(spans, key=lambda s: s["start"])

    @staticmethod
    def kind(why: str) -> str:
        """A failure's kind, for the figures: short (too few hits), delegator, timeout, connect,
        not loaded, other."""
        low = why.lower()
        for kind, marks in (("short", (" hits",)), ("delegator", ("delegator",)),
                            ("timeout", ("deadline", "timed out", "timeout")),
                            ("connect", ("connect", "unavailable")), ("not loaded", ("not loaded",))):
            if any(m in low for m in marks):
                return kind
        return "other"

    def figures(self, since: float | None = None, until: float | None = None) -> dict[str, Any]:
        """Figures over the searches started in [since, until] (epoch seconds; default: all)."""
        since = self.t0 if since is None else since
        until = time.time() if until is None else until
        per_proxy = {}
        lat, stall_max, failed_total, ok_total = [], 0.0, 0, 0
        first_errors: dict[str, str] = {}
        kinds: dict[str, int] = {}
        for proxy, recs in zip(self.proxies, self.records, strict=True):
            window = [r for r in recs if since <= r[0] <= until]
            ok = [r for r in window if r[2]]
            failed = [r for r in window if not r[2]]
            # Longest stall: how long a search waited for an answer, its failed predecessors'
            # time included: from `since` (then from the first search after each success) to
            # the next success's end; an open end counts too. The pause between searches is not
            # a stall.
            marks, ends, after_ok = [since], [], False
            for r in window:
                if after_ok:
                    marks.append(r[0])
                    after_ok = False
                if r[2]:
                    ends.append(r[1])
                    after_ok = True
            if len(marks) > len(ends):
                ends.append(min(until, max((r[1] for r in window), default=since)))
            stall = max((b - a for a, b in zip(marks, ends, strict=True)), default=0.0)
            stall_max = max(stall_max, stall)
            lat += [(r[1] - r[0]) * 1000 for r in ok]
            ok_total += len(ok)
            failed_total += len(failed)
            if failed:
                first_errors[proxy] = failed[0][3]
            for r in failed:
                kinds[self.kind(r[3])] = kinds.get(self.kind(r[3]), 0) + 1
            per_proxy[proxy] = {"ok": len(ok), "failed": len(failed), "longest_stall_s": round(stall, 3)}
        lat.sort()

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None

        return {"ok": ok_total, "failed": failed_total, "failed_by_kind": kinds,
                "longest_stall_s": round(stall_max, 3),
                "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(lat[-1], 1) if lat else None,
                "per_proxy": per_proxy, "first_errors": first_errors}


class InsertLoop:
    """Writes an application would make during an operation: one thread, a plain pymilvus
    MilvusClient, batches of `batch` rows with ids counting up, one proxy after another (a
    failed insert moves to the next proxy; its rows are not acknowledged, and never resent).
    Records which ids were acknowledged, the failed inserts and the longest gap between two
    acknowledged ones. Bounded by max_seconds and max_batches; `pause` s between batches. `proxies`:
    the ones it writes through (default: every proxy)."""

    def __init__(self, collection: str, dim: int, *, batch: int = 50, pause: float = 0.2,
                 deadline: float = 10.0, max_seconds: float = LOOP_SECONDS, max_batches: int = 20_000,
                 proxies: list[str] | None = None):
        import numpy as np

        self.collection, self.batch, self.pause, self.deadline = collection, batch, pause, deadline
        self.proxies = list(proxies or PROXIES)
        self.end, self.max_batches = time.time() + max_seconds, max_batches
        self.vectors = np.random.default_rng(5).random((batch, dim), dtype="float32")
        self.acked: list[int] = []
        self.failed: list[str] = []
        self.ack_times: list[float] = []
        self.t0 = time.time()
        self.stop_event = threading.Event()
        self.done = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        from pymilvus import MilvusClient

        clients: dict[str, Any] = {}
        next_id, n = 0, 0
        while not self.stop_event.is_set() and time.time() < self.end and n < self.max_batches:
            proxy = self.proxies[n % len(self.proxies)]
            n += 1
            ids = list(range(next_id, next_id + self.batch))
            next_id += self.batch  # a failed batch's ids are never reused: the server may hold them
            try:
                if proxy not in clients:
                    clients[proxy] = MilvusClient(uri=f"http://{proxy}", user="root", password=PASSWORD,
                                                  timeout=self.deadline)
                rows = [{"id": i, "vector": v} for i, v in zip(ids, self.vectors, strict=True)]
                clients[proxy].insert(self.collection, rows, timeout=self.deadline)
                self.acked += ids
                self.ack_times.append(time.time())
            except Exception as exc:  # noqa: BLE001 - every failure counts, whatever its kind
                self.failed.append(describe_failure(exc))
                clients.pop(proxy, None)
            self.stop_event.wait(self.pause)
        for client in clients.values():
            with contextlib.suppress(Exception):
                client.close()
        self.done = True

    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> dict[str, Any]:
        self.stop_event.set()
        self.thread.join(timeout=self.deadline + 30)
        assert self.done and not self.thread.is_alive(), "the insert loop did not finish"
        marks = [self.t0, *self.ack_times, time.time()]
        return {"acknowledged_rows": len(self.acked), "failed_inserts": len(self.failed),
                "first_errors": self.failed[:3],
                "longest_gap_s": round(max(b - a for a, b in zip(marks, marks[1:], strict=False)), 3)}

    def missing(self, client: Any) -> list[int]:
        """Acknowledged ids a Strong query does not find."""
        found: set[int] = set()
        for k in range(0, len(self.acked), 1000):
            chunk = self.acked[k:k + 1000]
            rows = client.query(self.collection, filter=f"id in {chunk}", output_fields=["id"],
                                consistency_level="Strong")
            found.update(int(r["id"]) for r in rows)
        return [i for i in self.acked if i not in found]


def docker_on(host: str, *args: str, timeout: float = 120) -> str:
    """`docker ARGS` run inside a sandbox host or spare host (its nested engine); stdout."""
    import subprocess

    for _attempt in range(3):
        res = subprocess.run(
            ["docker", "exec", MADE[host]["container"], "docker", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        # The nested engine sometimes fails to start an exec's process ("OCI runtime exec failed:
        # ... read init-p: connection reset by peer", rc 126, said on stdout): nothing ran, so
        # asking again is safe. Any other failure is an answer.
        if not (res.returncode == 126 and "init-p" in res.stdout and args[:1] == ("exec",)):
            break
        time.sleep(1)
    assert res.returncode == 0, f"docker {' '.join(args)} on {host}: {res.stderr or res.stdout}"
    return res.stdout


def container_starts(hosts: Iterable[str] | None = None) -> dict[str, str]:
    """host/container -> StartedAt of every container on the sandbox hosts (all by default)."""
    out = {}
    for host in hosts or HOSTS:
        ids = docker_on(host, "ps", "-aq").split()
        if not ids:
            continue
        for line in docker_on(host, "inspect", "-f", "{{.Name}} {{.State.StartedAt}}", *ids).splitlines():
            name, started = line.split()
            out[f"{host}{name}"] = started
    return out


def etcd_root() -> str:
    """The cluster's Milvus root path in etcd, as the milvus role recorded it (random per cluster)."""
    root = docker_on("node1", "exec", "vectorops-etcd-etcd-1", "etcdctl", "get", "--print-value-only",
                     "vectorops/milvus/etcd-root-path").strip()
    assert root, "no Milvus root path recorded in etcd (vectorops/milvus/etcd-root-path)"
    return root


def etcd_sessions(root: str | None = None) -> dict[str, dict[str, Any]]:
    """Every key under Milvus's session prefix (of the cluster's root path, or `root`) with its
    JSON value, read with etcdctl itself (an independent check: not the collection's own parser)."""
    prefix = f"{root or etcd_root()}/meta/session/"
    out = docker_on("node1", "exec", "vectorops-etcd-etcd-1", "etcdctl", "get", "--prefix", prefix,
                    "-w", "json")
    import base64
    import json

    out_map = {}
    for kv in json.loads(out).get("kvs", []):
        with contextlib.suppress(ValueError):
            value = json.loads(base64.b64decode(kv["value"]))
            if isinstance(value, dict):  # the server id counter is a bare number
                out_map[base64.b64decode(kv["key"]).decode()] = value
    return out_map


def registered_querynodes() -> dict[str, dict[str, Any]]:
    """host name -> its query node (id, address), from the sessions Milvus keeps in etcd (what the
    coordinators route by; GetMetrics can lag minutes behind a restarted node). A host's second
    and later query nodes (milvus_querynode_count, by port) are "host#2", "host#3"."""
    by_ip = {h["ip"]: name for name, h in MADE.items()}
    found = sorted(
        (by_ip[v["Address"].rsplit(":", 1)[0]], int(v["Address"].rsplit(":", 1)[1]), v)
        for key, v in etcd_sessions().items()
        if key.rsplit("/", 1)[-1].startswith("querynode-")
    )
    out: dict[str, dict[str, Any]] = {}
    seen: Counter = Counter()
    for host, _port, v in found:
        seen[host] += 1
        name = host if seen[host] == 1 else f"{host}#{seen[host]}"
        out[name] = {"id": v["ServerID"], "address": v["Address"]}
    return out


def proxy_facts(*extra: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The ad-hoc facts command as an operator types it: `ansible milvus_proxy -i inventories/test
    -m vectorops.milvus.milvus_facts EXTRA` (JSON callback; EXTRA may add `-i OVERLAY`)."""
    cmd = [str(VENV_BIN / "ansible"), "milvus_proxy", "-i", str(INVENTORY),
           "-m", "vectorops.milvus.milvus_facts", *extra]
    proc, data = ansible_json(cmd, timeout=600)
    return proc, data["plays"][0]["tasks"][0]["hosts"]


def active_coordinators() -> dict[str, dict[str, Any]]:
    """Coordinator role -> the server id and address holding its election key."""
    return {
        key.rsplit("/", 1)[-1]: {"id": v["ServerID"], "address": v["Address"]}
        for key, v in etcd_sessions().items()
        if key.rsplit("/", 1)[-1] in ("rootcoord", "querycoord", "datacoord", "indexcoord")
    }


# The files share one cluster: Molecule builds and verifies it, the ad-hoc facts run on it, and
# test_operations.py, which removes its hosts at its end, comes last.
FILE_ORDER = ("test_molecule.py", "test_adhoc.py", "test_operations.py")


def pytest_collection_modifyitems(items: list) -> None:
    """Orders this folder's tests by FILE_ORDER, in the places they hold among all the session's
    items (the other tiers keep theirs; this hook sees every item of the session)."""
    here = Path(__file__).parent
    places = [i for i, item in enumerate(items) if here in item.path.parents]

    def rank(item) -> int:
        name = item.path.name
        return FILE_ORDER.index(name) if name in FILE_ORDER else len(FILE_ORDER)

    ordered = sorted((items[i] for i in places), key=rank)  # stable: a file's tests keep their order
    for i, item in zip(places, ordered, strict=True):
        items[i] = item
