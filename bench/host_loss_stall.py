"""What a plain application sees when a whole sandbox host dies (issue #21): searches through
the surviving proxies while the host's container is SIGKILLed (`docker kill`, as a power loss:
its address stops answering), for a 1-replica and a 2-replica collection.

    .venv/bin/python bench/host_loss_stall.py [--inventory inventories/sandbox] [--host node3]
        [--rows 20000] [--baseline 15] [--observe 60] [--keep]

Each search loop is a pymilvus MilvusClient with its default settings: no deadline and no
resend, one thread per surviving proxy and collection, bounded in time and count. Printed per
collection and proxy: searches before and after the kill, failed ones, the longest single search
and the longest stall (the longest time with no successful search of that loop, from the kill
on), and when the loop served again. The host is started again (`docker start`) at the end;
its processes come back with Docker's restart policy, and `playbooks/health.yml` tells when the
cluster is whole. Only the sandbox's own host containers are touched.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.milvus_data import fresh_collection, index_and_load  # noqa: E402

DIM = 128
MAX_SEARCHES = 200_000  # per loop, on top of the time bound
PAUSE_S = 0.02


def inventory(path: str) -> dict[str, Any]:
    out = subprocess.run([str(ROOT / ".venv/bin/ansible-inventory"), "-i", path, "--list"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return json.loads(out)


class Loop(threading.Thread):
    """Searches one collection through one proxy until stopped, recording (start, end, ok)."""

    def __init__(self, uri: str, password: str, collection: str, end: float):
        super().__init__(daemon=True)
        self.uri, self.password, self.collection, self.end = uri, password, collection, end
        self.records: list[tuple[float, float, bool, str]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        import numpy as np
        from pymilvus import MilvusClient

        vectors = np.random.default_rng(7).random((64, DIM), dtype="float32").tolist()
        client = MilvusClient(uri=self.uri, user="root", password=self.password)  # default: no deadline
        n = 0
        while not self.stop_event.is_set() and time.time() < self.end and n < MAX_SEARCHES:
            start = time.time()
            try:
                res = client.search(self.collection, data=[vectors[n % 64]], limit=10,
                                    search_params={"metric_type": "L2", "params": {"nprobe": 8}})
                ok, why = len(res[0]) == 10, f"{len(res[0])} hits"
            except Exception as exc:  # noqa: BLE001 - every failure counts
                ok, why = False, (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            self.records.append((start, time.time(), ok, why))
            n += 1
            self.stop_event.wait(PAUSE_S if ok else 0.2)
        client.close()

    def figures(self, killed: float) -> dict[str, Any]:
        before = [r for r in self.records if r[1] < killed]
        after = [r for r in self.records if r[1] >= killed]
        ok_ends = [killed] + [r[1] for r in after if r[2]]
        gaps = [b - a for a, b in zip(ok_ends, ok_ends[1:], strict=False)]
        last = self.records[-1][1] if self.records else killed
        tail = last - ok_ends[-1]  # no success since: a stall still running when the loop stopped
        failed = [r for r in after if not r[2]]
        served_again = next((r[1] - killed for r in after if r[2] and r[0] > killed), None)
        return {
            "before": len(before), "after": len(after), "failed": len(failed),
            "longest_search_s": round(max((r[1] - r[0] for r in after), default=0.0), 2),
            "longest_stall_s": round(max(gaps + [tail]), 2),
            "first_sent_after_kill_ok_s": None if served_again is None else round(served_again, 2),
            "failures": sorted({r[3] for r in failed})[:3],
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inventory", default="inventories/sandbox")
    ap.add_argument("--host", default="node3")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--baseline", type=float, default=15)
    ap.add_argument("--observe", type=float, default=60)
    ap.add_argument("--keep", action="store_true", help="leave the host down (default: docker start it)")
    args = ap.parse_args()

    inv = inventory(args.inventory)
    hostvars = inv["_meta"]["hostvars"]
    victim = hostvars[args.host]
    password = victim["milvus_root_password"]
    proxies = [h for h in inv["milvus_proxy"]["hosts"] if h != args.host]
    uris = [f"http://{hostvars[h]['sandbox_ip']}:19530" for h in proxies]

    import numpy as np
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uris[0], user="root", password=password, timeout=120)
    names = {1: "vectorops_stall_r1", 2: "vectorops_stall_r2"}
    rng = np.random.default_rng(3)
    for replicas, name in names.items():
        fresh_collection(client, name, DIM)
        for start in range(0, args.rows, 5000):
            count = min(5000, args.rows - start)
            client.insert(name, [{"id": start + i, "vector": v}
                                 for i, v in enumerate(rng.random((count, DIM), dtype="float32").tolist())])
        client.flush(name)
        index_and_load(client, name, "vector", "IVF_FLAT", {"nlist": 128}, replica_number=replicas)
    time.sleep(5)

    end = time.time() + args.baseline + args.observe + 30
    loops = {(name, uri): Loop(uri, password, name, end) for name in names.values() for uri in uris}
    for loop in loops.values():
        loop.start()
    time.sleep(args.baseline)
    container = victim["ansible_host"]
    killed = time.time()
    subprocess.run(["docker", "kill", container], check=True, capture_output=True, timeout=60)
    print(f"killed {container} ({args.host}) at {killed:.3f}", flush=True)
    time.sleep(args.observe)
    for loop in loops.values():
        loop.stop_event.set()
    for loop in loops.values():
        loop.join(timeout=120)
    hung = [key for key, loop in loops.items() if loop.is_alive()]
    report = {f"{name} via {uri}": loop.figures(killed) for (name, uri), loop in loops.items()}
    print(json.dumps({"host": args.host, "observe_s": args.observe, "loops": report,
                      "still_waiting_after_stop": [f"{n} via {u}" for n, u in hung]}, indent=1))
    if not args.keep:
        subprocess.run(["docker", "start", container], check=True, capture_output=True, timeout=120)
        print(f"started {container} again; playbooks/health.yml tells when the cluster is whole", flush=True)
    for name in names.values():
        try:
            client.drop_collection(name)
        except Exception as exc:  # noqa: BLE001 - the host may not be back yet
            print(f"left {name} ({exc.__class__.__name__}); drop it once the cluster is whole", flush=True)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
