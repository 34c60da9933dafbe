"""e2e tier: the sandbox cluster that molecule/default leaves running, and how to drive it.

test_molecule.py converges the cluster (and verifies it); test_operations.py then runs the
operations playbooks on it exactly as an operator would (`ansible-playbook playbooks/X.yml -i
inventories/sandbox`) and tears the sandbox down at the end. A search loop in the test process
(the collection's own load-test code: proxy failover, failure spans) runs beside playbooks.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import yaml

from tests.conftest import ROOT, VENV_BIN, ansible_json

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

INVENTORY = ROOT / "inventories" / "sandbox"
_HOSTS = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["children"]["sandbox_hosts"]
HOSTS: dict[str, dict[str, str]] = {
    name: {"container": h["ansible_host"], "ip": h["sandbox_ip"]}
    for name, h in _HOSTS["hosts"].items()
}
_CLUSTER_VARS = yaml.safe_load((INVENTORY / "group_vars" / "all" / "cluster.yml").read_text())
PASSWORD = _CLUSTER_VARS["milvus_root_password"]
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
                        lines.append(f"{host}: {t['task']['name']}: {res.get('msg', '')}")
        return "\n".join(lines) or self.stderr[-3000:]


def playbook(
    name: str,
    extra_vars: dict[str, Any] | None = None,
    *,
    inventories: tuple[str, ...] = (),
    check: bool = False,
    tags: str = "",
    timeout: float = 1800,
) -> PlaybookRun:
    """`ansible-playbook playbooks/NAME.yml -i inventories/sandbox [-i more] [-e json] [--tags]`."""
    import json

    cmd = [str(VENV_BIN / "ansible-playbook"), f"playbooks/{name}.yml", "-i", str(INVENTORY)]
    for inv in inventories:
        cmd += ["-i", str(inv)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if tags:
        cmd += ["--tags", tags]
    start = time.monotonic()
    proc, data = ansible_json(cmd, timeout)
    return PlaybookRun(proc.returncode, data, proc.stdout, proc.stderr, time.monotonic() - start)


def connect(hosts: list[str] | None = None) -> Milvus:
    return Milvus.connect({"hosts": hosts or PROXIES, "user": "root", "password": PASSWORD, "timeout": 10})


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
        max_seconds: float = 1200,
        max_requests: int = 2_000_000,
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
        self.slots: list[dict[str, Any]] = [{} for _ in range(threads)]
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
                          self.stop_event),
                    daemon=True,
                )
            )
        for th in self.threads:
            th.start()

    def stop(self) -> dict[str, Any]:
        self.stop_event.set()
        for th in self.threads:
            th.join(timeout=30)
        for c in self.clients:
            c.close()
        errors: dict[str, int] = {}
        for s in self.slots:
            for k, v in s.get("errors", {}).items():
                errors[k] = errors.get(k, 0) + v
        lat = [x for s in self.slots for x in s.get("lat", [])]
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
        }


def docker_on(host: str, *args: str, timeout: float = 120) -> str:
    """`docker ARGS` run inside a sandbox host (its nested engine); stdout."""
    import subprocess

    res = subprocess.run(
        ["docker", "exec", HOSTS[host]["container"], "docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, f"docker {' '.join(args)} on {host}: {res.stderr}"
    return res.stdout


def container_starts() -> dict[str, str]:
    """host/container -> StartedAt of every container on every sandbox host."""
    out = {}
    for host in HOSTS:
        ids = docker_on(host, "ps", "-aq").split()
        if not ids:
            continue
        for line in docker_on(host, "inspect", "-f", "{{.Name}} {{.State.StartedAt}}", *ids).splitlines():
            name, started = line.split()
            out[f"{host}{name}"] = started
    return out


def registered_querynodes() -> dict[str, dict[str, Any]]:
    """host name -> its query node (id, address), from the sessions Milvus keeps in etcd (what the
    coordinators route by; GetMetrics can lag minutes behind a restarted node)."""
    from ansible_collections.vectorops.milvus.plugins.filter.operations import milvus_session_nodes

    by_ip = {h["ip"]: name for name, h in HOSTS.items()}
    out = docker_on(
        "node1", "exec", "vectorops-etcd-etcd-1", "etcdctl", "get", "--prefix", "by-dev/meta/session/"
    )
    return {
        by_ip[n["address"].rsplit(":", 1)[0]]: n
        for n in milvus_session_nodes(out.splitlines())
        if n["role"] == "querynode"
    }
