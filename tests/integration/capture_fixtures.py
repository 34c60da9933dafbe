"""Capture real Milvus 2.3.5 answers once into tests/unit/fixtures/*.json for the unit tier.

    .venv/bin/python -m tests.integration.capture_fixtures            # starts its own standalone
    .venv/bin/python -m tests.integration.capture_fixtures --uri http://127.0.0.1:19530
    .venv/bin/python -m tests.integration.capture_fixtures --only connect_errors.json

The unit tests replay these files; run this again only when the server version changes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import (  # noqa: E402
    Milvus,
    MilvusError,
    _chain,
    classify,
    one_line,
)

from tests.integration.milvus_server import ROOT_PASSWORD, Standalone  # noqa: E402

FIXTURES = ROOT / "tests" / "unit" / "fixtures"
SEGMENT_ROWS = (1500, 1000, 700, 300)  # one flush each: four sealed segments of different sizes
DIM = 16


def seed_collection(
    m: Milvus, name: str, rows: tuple[int, ...] = SEGMENT_ROWS, dim: int = DIM, load: bool = True
) -> None:
    """A collection whose sealed segments hold exactly `rows` rows each (auto compaction must be off)."""
    import numpy as np

    if m.has_collection(name):
        m.drop_collection(name)
    client = m.client
    from pymilvus import DataType  # the capture tool may import pymilvus; the collection may not

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.VARCHAR, max_length=32)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    client.create_collection(name, schema=schema, shards_num=1)
    rng = np.random.default_rng(42)
    start = 0
    for count in rows:
        vecs = rng.random((count, dim), dtype=np.float32)
        client.insert(name, [{"id": start + i, "tag": f"t{i % 7}", "vec": vecs[i]} for i in range(count)])
        client.flush(name)
        start += count
    index = client.prepare_index_params()
    index.add_index("vec", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
    client.create_index(name, index)
    if load:
        client.load_collection(name, timeout=120)


def load_balance_errors(m: Milvus, name: str, unloaded: str) -> list[dict[str, Any]]:
    """The server's exact wording for each impossible LoadBalance request."""
    segs = m.loaded_segments(name)
    node = segs[0]["node_ids"][0]
    cases = [
        ("unknown source node", name, 999, [], []),
        ("target outside the replica", name, node, [999], []),
        ("segment not on the source", name, node, [], [123456789]),
        ("collection not loaded", unloaded, node, [], []),
        ("collection does not exist", "no_such_collection", node, [], []),
        ("move to itself (accepted)", name, node, [node], [segs[0]["segment_id"]]),
        ("all sealed to all others (accepted)", name, node, [], []),
    ]
    out = []
    for case, coll, src, dst, seg_ids in cases:
        entry: dict[str, Any] = {
            "case": case,
            "collection": coll,
            "source": src,
            "targets": dst,
            "segment_ids": seg_ids,
        }
        try:
            m.load_balance(coll, src, dst, seg_ids)
            entry.update(ok=True)
        except Exception as exc:  # noqa: BLE001 - recorded
            entry.update(ok=False, code=getattr(exc, "code", None), message=one_line(exc), kind=classify(exc))
        out.append(entry)
    return out


def _raw(exc: BaseException) -> dict[str, Any]:
    """What the client library raised, as the unit tier rebuilds it: code and message of the
    exception, and its chain of causes (a gRPC error's status code and details)."""
    import grpc

    chain = []
    for item in _chain(exc)[1:]:
        if isinstance(item, grpc.RpcError) and callable(getattr(item, "code", None)):
            chain.append({"grpc_code": item.code().name, "details": item.details()})
        else:
            chain.append({"type": type(item).__name__, "message": str(item)})
    return {"code": getattr(exc, "code", None), "raw_message": str(getattr(exc, "message", "") or exc),
            "cause_chain": chain}


def connect_errors(m: Milvus, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Each refused connection or request: the server's raw exception (what the client library
    raised: code and message), how _milvus classifies it and the one line Milvus reports.

    step says where the raw exception came from: "client" (the MilvusClient constructor),
    "list_collections" (the database check after connecting) or "describe_collection"."""
    from pymilvus import MilvusClient

    out = []
    for case, override in (
        ("wrong password", {"password": "not-the-password"}),
        ("no credentials", {"user": None, "password": None}),
        ("unknown database", {"db_name": "no_such_db"}),
    ):
        p = {**params, **override}
        entry: dict[str, Any] = {"case": case, "params": {k: p[k] for k in ("user", "db_name")}}
        try:
            Milvus.connect(p).close()
            entry["ok"] = True
        except MilvusError as exc:
            entry.update(ok=False, message=str(exc))
        kwargs: dict[str, Any] = {"timeout": params["timeout"], "db_name": p["db_name"] or ""}
        if p["user"]:
            kwargs.update(user=p["user"], password=p["password"] or "")
        step = "client"
        try:
            client = MilvusClient(uri=params["uri"], **kwargs)
            step = "list_collections"
            client.list_collections(timeout=params["timeout"])
            client.close()
        except Exception as exc:  # noqa: BLE001 - recorded
            entry.update(step=step, kind=classify(exc), **_raw(exc))
        out.append(entry)
    entry = {"case": "unknown collection", "params": {}}
    try:
        m.describe_collection("no_such_collection")
        entry["ok"] = True
    except MilvusError as exc:
        entry.update(ok=False, message=str(exc))
    try:
        m.client.describe_collection("no_such_collection", timeout=params["timeout"])
    except Exception as exc:  # noqa: BLE001 - recorded
        entry.update(step="describe_collection", kind=classify(exc), **_raw(exc))
    out.append(entry)
    return out


def capture(uri: str, only: list[str] | None = None) -> None:
    """Write every fixture, or only the files named in `only` (the others stay as they are)."""
    params = {"uri": uri, "user": "root", "password": ROOT_PASSWORD, "timeout": 20.0, "db_name": "default"}
    m = Milvus.connect(params)
    if only == ["connect_errors.json"]:  # needs no collection: the ids of the others stay put
        _write({"connect_errors.json": connect_errors(m, params)})
        m.close()
        return
    seed_collection(m, "balance_demo")
    seed_collection(m, "unloaded_demo", rows=(200,), load=False)
    data = {
        "version.json": m.version(),
        "system_info.json": m.metrics_raw("system_info"),
        "loaded_segments.json": m.loaded_segments("balance_demo"),
        "replicas.json": m.replicas("balance_demo"),
        "describe_collection.json": m.describe_collection("balance_demo"),
        "indexes.json": m.indexes("balance_demo"),
        "load_balance_errors.json": load_balance_errors(m, "balance_demo", "unloaded_demo"),
        "connect_errors.json": connect_errors(m, params),
    }
    _write({k: v for k, v in data.items() if not only or k in only})
    m.drop_collection("balance_demo")
    m.drop_collection("unloaded_demo")
    m.close()


def _write(data: dict[str, Any]) -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for fname, payload in data.items():
        (FIXTURES / fname).write_text(json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")
        print(f"wrote {FIXTURES / fname}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="use this running server (root/Milvus, auto compaction off)")
    parser.add_argument("--only", action="append", metavar="FILE.json",
                        help="write only this fixture (repeatable); connect_errors.json alone seeds nothing")
    args = parser.parse_args()
    if args.uri:
        capture(args.uri, args.only)
        return
    with tempfile.TemporaryDirectory(prefix="milvus-capture-") as tmp:
        srv = Standalone(Path(tmp))
        srv.start()
        try:
            capture(srv.uri, args.only)
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
