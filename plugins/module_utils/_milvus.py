# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""The one place that talks to pymilvus: connection, retries, version probing, metrics.

Everything else in the collection works on the plain dicts returned here, so when pymilvus
drops an API (its ORM goes away in 3.1) only this file changes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

try:
    import grpc
    from pymilvus import DataType, MilvusClient
    from pymilvus.client.call_context import _api_level_md
    from pymilvus.client.prepare import Prepare
    from pymilvus.exceptions import MilvusException
    from pymilvus.grpc_gen import milvus_pb2

    HAS_PYMILVUS = True
    PYMILVUS_IMPORT_ERROR: str | None = None
    # pymilvus logs every failed RPC with a traceback on stderr; failures reach the user as
    # one-line messages from this file instead.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL + 1)
except ImportError as _exc:  # pragma: no cover - exercised only without pymilvus
    HAS_PYMILVUS = False
    PYMILVUS_IMPORT_ERROR = str(_exc)
    grpc = DataType = MilvusClient = MilvusException = milvus_pb2 = Prepare = _api_level_md = None

DEFAULT_PORT = 19530
MIN_VERSION = (2, 3, 0)

# LoadBalance / segment errors that mean "the distribution changed under us": re-read and retry
RACE_PATTERNS = (
    "not found in source node",
    "task with the same segment exists",
    "segment not found",
    "has been released",
    "is balancing",
)


class MilvusError(Exception):
    """A failure already phrased as one line for fail_json."""


# --------------------------------------------------------------------------- endpoints


def endpoints(params: dict[str, Any]) -> list[str]:
    """URIs to try, in order: `hosts` (host or host:port each) or `uri`.

    `hosts` given but empty, or with an empty entry (an inventory group or address that came out
    empty), is an error rather than the localhost default: a task meant for the cluster must not
    talk to whatever listens on this machine.
    """
    scheme = "https" if params.get("secure") else "http"
    hosts = params.get("hosts")
    if hosts is None:
        return [params.get("uri") or f"{scheme}://localhost:{DEFAULT_PORT}"]
    if not hosts:
        raise MilvusError("hosts is empty: name at least one Milvus proxy (host, host:port or URI), "
                          "or leave hosts out and set uri")
    blank = [i for i, host in enumerate(hosts, 1) if host is None or not str(host).strip()]
    if blank:
        raise MilvusError(f"hosts has an empty entry (item {', '.join(map(str, blank))} of {len(hosts)}): "
                          "every entry must name a Milvus proxy (host, host:port or URI)")
    out = []
    for host in hosts:
        host = str(host).strip()
        if "://" in host:
            out.append(host)
            continue
        if not re.search(r":\d+$", host) or (host.count(":") > 1 and not host.startswith("[")):
            host = f"[{host}]" if host.count(":") > 1 else host
            host = f"{host}:{DEFAULT_PORT}"
        out.append(f"{scheme}://{host}")
    return out


def address_of(uri: str) -> str:
    """host:port part of a URI."""
    return re.sub(r"^[a-z]+://", "", uri).split("/", 1)[0].split("@")[-1]


# --------------------------------------------------------------------------- errors


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and all(cur is not s for s in seen) and len(seen) < 10:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def classify(exc: BaseException) -> str:
    """Kind of failure: auth, unavailable, timeout, not_found, rate_limit, quota, race, error."""
    for item in _chain(exc):
        if grpc is not None and isinstance(item, grpc.RpcError) and hasattr(item, "code"):
            code = item.code()
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                return "auth"
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return "timeout"
            if code == grpc.StatusCode.UNAVAILABLE:
                return "unavailable"
    text = one_line(exc).lower()
    code = getattr(exc, "code", None)
    if "auth" in text and ("fail" in text or "denied" in text) or "permission" in text:
        return "auth"
    if any(p in text for p in RACE_PATTERNS):
        return "race"
    if code == 100 or code == 800 or "not found" in text or "not exist" in text:
        return "not_found"
    if code == 8 or "rate limit" in text or "ratelimit" in text:
        return "rate_limit"
    if "deny to write" in text or "quota" in text or "memory" in text and "exceed" in text:
        return "quota"
    if "timeout" in text or "deadline" in text:
        return "timeout"
    if code == 2 or "unavailable" in text or "fail connecting" in text:
        return "unavailable"
    return "error"


def one_line(exc: BaseException) -> str:
    """The server's message without pymilvus wrappers, tracebacks or newlines."""
    msg = getattr(exc, "message", None)
    if not msg and callable(getattr(exc, "details", None)):
        msg = exc.details()
    msg = str(msg or exc)
    msg = re.sub(r"^<\w+: \(code=-?\d+, message=(.*)\)>$", r"\1", msg.strip(), flags=re.S)
    msg = " ".join(msg.split())
    return msg[:400] + ("..." if len(msg) > 400 else "")


def _grpc_details(exc: BaseException) -> str:
    """The gRPC status details behind a pymilvus connect failure ("" when there are none)."""
    for item in _chain(exc):
        if grpc is not None and isinstance(item, grpc.RpcError) and callable(getattr(item, "details", None)):
            with contextlib.suppress(Exception):
                return " ".join(str(item.details() or "").split())
    return ""


def connect_failure(exc: BaseException, address: str, tls: bool, params: dict[str, Any]) -> str:
    """One line on why connecting to `address` failed, naming the TLS option to check.

    pymilvus reports every handshake problem as "illegal connection params or server
    unavailable"; the gRPC details underneath say which one it was.
    """
    details = _grpc_details(exc)
    # "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:19530: <reason>"
    reason = re.sub(r"^.*?last error: (?:[A-Z_]+: )?(?:ipv[46]:\S+?: )?", "", details)
    if "CERTIFICATE_VERIFY_FAILED" in details:
        why = re.search(r"CERTIFICATE_VERIFY_FAILED: ([^:]+)", details)
        return (
            f"TLS handshake failed: the server certificate is not signed by "
            f"{'ca_cert' if params.get('ca_cert') else 'a system CA'} (set ca_cert to the CA that "
            f"signed it){f' [{why.group(1).strip()}]' if why else ''}"
        )
    if "Hostname Verification" in details or "hostname mismatch" in details.lower():
        name = params.get("server_name") or address.rsplit(":", 1)[0].strip("[]")
        return (
            f"TLS handshake failed: the server certificate is not valid for the name {name} "
            f"(set server_name to a name the certificate holds)"
        )
    if tls and any(
        mark in details
        for mark in ("TSI_DATA_CORRUPTED", "BAD_CERTIFICATE", "CERTIFICATE_REQUIRED", "UNKNOWN_CA")
    ):
        if params.get("client_cert"):
            return (
                "TLS handshake failed: the server refused the client certificate "
                "(client_cert must be signed by the CA the server trusts)"
            )
        return (
            "TLS handshake failed: the server refused the connection without a client certificate "
            "(mutual TLS: set client_cert and client_key)"
        )
    if tls and "WRONG_VERSION_NUMBER" in details:
        return (
            "TLS handshake failed: the proxy does not serve TLS (WRONG_VERSION_NUMBER); "
            "connect with secure: false and an http:// uri"
        )
    if tls and any(mark in details for mark in ("Handshake read failed", "handshake failed", "TSI_")):
        reason = re.sub(r"^Tls handshake failed \(\w+\): |: OK$", "", reason)
        return f"TLS handshake failed: {reason[:300]}"
    if not tls and "Socket closed" in details:
        return (
            "the proxy closed the connection during set-up; if it serves TLS, set secure: true "
            "(or an https:// uri) and ca_cert"
        )
    return one_line(exc)


def retry(
    func: Callable[[], Any],
    *,
    attempts: int = 3,
    deadline: float = 30.0,
    delay: float = 0.5,
    kinds: Sequence[str] = ("unavailable", "timeout", "rate_limit"),
) -> Any:
    """Call `func` again on transient failures, at most `attempts` times and `deadline` seconds."""
    end = time.monotonic() + deadline
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except Exception as exc:  # noqa: BLE001 - classified below
            if attempt == attempts or classify(exc) not in kinds or time.monotonic() + delay > end:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    return None  # unreachable


# --------------------------------------------------------------------------- pure parsing


def default_search_params(index_type: str, top_k: int) -> dict[str, Any]:
    """Reasonable search parameters for an index type."""
    kind = (index_type or "").upper()
    if kind == "HNSW":
        return {"ef": max(64, top_k)}
    if kind.startswith("IVF") or kind == "SCANN":
        return {"nprobe": 16}
    return {}


def parse_version(text: str) -> tuple[int, int, int]:
    """(2, 3, 5) from "v2.3.5-lite" and friends; (0, 0, 0) when unknown."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not match:
        return (0, 0, 0)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


ROLE_ORDER = (
    "rootcoord",
    "mixcoord",
    "querycoord",
    "datacoord",
    "indexcoord",
    "proxy",
    "querynode",
    "datanode",
    "indexnode",
    "streamingnode",
)


def parse_system_info(payload: Any) -> list[dict[str, Any]]:
    """Nodes (id, role, address, name, health, hardware) from a GetMetrics system_info answer."""
    if isinstance(payload, (str, bytes)):
        payload = json.loads(payload or "{}")
    nodes: dict[tuple[str, int], dict[str, Any]] = {}
    for item in (payload or {}).get("nodes_info") or []:
        info = item.get("infos") or {}
        hw = info.get("hardware_infos") or {}
        sysinfo = info.get("system_info") or {}
        role = str(info.get("type") or re.sub(r"\d+$", "", info.get("name", "")) or "unknown").lower()
        node_id = int(info.get("id", item.get("identifier", 0)) or 0)
        nodes[(role, node_id)] = {
            "id": node_id,
            "role": role,
            "address": hw.get("ip") or "unknown",
            "name": info.get("name") or f"{role}{node_id}",
            "has_error": bool(info.get("has_error")),
            "error_reason": info.get("error_reason") or "",
            "build_version": sysinfo.get("build_version") or "",
            "deploy_mode": sysinfo.get("deploy_mode") or "",
            "cpu_cores": hw.get("cpu_core_count"),
            "memory_bytes": hw.get("memory"),
            "memory_used_bytes": hw.get("memory_usage"),
        }

    def order(node: dict[str, Any]) -> tuple[int, str, int]:
        role = node["role"]
        return (ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER), role, node["id"])

    return sorted(nodes.values(), key=order)


def segment_dict(seg: Any) -> dict[str, Any]:
    """Plain dict of one loaded segment (pymilvus LoadedSegmentInfo or a protobuf)."""
    state = getattr(seg, "state_name", None) or str(getattr(seg, "state", ""))
    nodes = list(getattr(seg, "node_ids", None) or getattr(seg, "nodeIds", None) or [])
    return {
        "segment_id": int(getattr(seg, "segment_id", getattr(seg, "segmentID", 0))),
        "partition_id": int(getattr(seg, "partition_id", getattr(seg, "partitionID", 0)) or 0),
        "num_rows": int(seg.num_rows),
        "state": state,
        "node_ids": sorted(int(n) for n in nodes),
    }


def replica_dict(rep: Any) -> dict[str, Any]:
    """Plain dict of one replica (pymilvus ReplicaInfo)."""
    return {
        "id": int(rep.id),
        "node_ids": sorted(int(n) for n in rep.group_nodes),
        "resource_group": getattr(rep, "resource_group", "") or "",
        "shards": [
            {
                "channel": s.channel_name,
                "leader": int(s.shard_leader),
                "node_ids": sorted(int(n) for n in s.shard_nodes),
            }
            for s in rep.shards
        ],
    }


# --------------------------------------------------------------------------- the connection


class Milvus:
    """A connected client plus the calls the modules need, each returning plain data."""

    def __init__(self, client: Any, uri: str, timeout: float, tried: list[str]):
        self.client = client
        self.uri = uri
        self.address = address_of(uri)
        self.timeout = timeout
        self.tried = tried
        self._system_info: list[dict[str, Any]] | None = None

    # ---- connecting
    @classmethod
    def connect(cls, params: dict[str, Any]) -> Milvus:
        """Try each endpoint in turn; fail at once on bad credentials or database."""
        if not HAS_PYMILVUS:
            raise MilvusError(f"pymilvus is not importable: {PYMILVUS_IMPORT_ERROR}")
        timeout = float(params.get("timeout") or 10.0)
        kwargs: dict[str, Any] = {
            "timeout": timeout,
            "dedicated": True,
            "db_name": params.get("db_name") or "",
        }
        if params.get("token"):
            kwargs["token"] = params["token"]
        elif params.get("user"):
            kwargs["user"], kwargs["password"] = params["user"], params.get("password") or ""
        if params.get("client_cert") and not params.get("ca_cert"):
            # pymilvus would silently drop a client certificate that comes without its CA
            raise MilvusError("client_cert needs ca_cert too (the CA that signed the server certificate)")
        tls_kwargs: dict[str, Any] = {"secure": True}
        if params.get("client_cert"):
            tls_kwargs.update(
                client_pem_path=params["client_cert"],
                client_key_path=params["client_key"],
                ca_pem_path=params["ca_cert"],
            )
        elif params.get("ca_cert"):
            tls_kwargs["server_pem_path"] = params["ca_cert"]
        if params.get("server_name"):
            tls_kwargs["server_name"] = params["server_name"]
        failures: list[str] = []
        tried: list[str] = []
        for uri in endpoints(params):
            tried.append(address_of(uri))
            # secure, or an https:// endpoint (which pymilvus would otherwise open without ca_cert)
            tls = bool(params.get("secure")) or uri.lower().startswith("https://")
            try:
                client = MilvusClient(uri=uri, **kwargs, **(tls_kwargs if tls else {}))
            except Exception as exc:  # noqa: BLE001 - classified
                kind = classify(exc)
                if kind == "auth":
                    raise MilvusError(
                        f"authentication failed at {address_of(uri)}: wrong user/password or token"
                    ) from None
                if kind == "not_found":
                    raise MilvusError(f"{address_of(uri)}: {one_line(exc)}") from None
                failures.append(f"{address_of(uri)}: {connect_failure(exc, address_of(uri), tls, params)}")
                continue
            db_name = kwargs["db_name"]
            if db_name and db_name != "default":  # 2.3 accepts the connection to a missing database
                try:
                    client.list_collections(timeout=timeout)
                except Exception as exc:  # noqa: BLE001 - classified
                    with contextlib.suppress(Exception):
                        client.close()
                    raise MilvusError(f"{address_of(uri)}: database {db_name}: {one_line(exc)}") from None
            return cls(client, uri, timeout, tried)
        raise MilvusError("no Milvus proxy reachable (" + "; ".join(failures) + ")")

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self.client.close()

    @property
    def _handler(self) -> Any:
        return self.client._get_connection()

    def _ctx(self) -> Any:
        return self.client._generate_call_context()

    def _call(self, what: str, func: Callable[[], Any]) -> Any:
        """Run one request with bounded retries; raise MilvusError with one line."""
        try:
            return retry(func, attempts=3, deadline=self.timeout * 3)
        except MilvusError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as one line
            raise MilvusError(f"{what}: {one_line(exc)}") from None

    # ---- server
    def version(self) -> dict[str, Any]:
        """Server version string, its numeric tuple and build details."""
        detail = self._call(
            "get server version", lambda: self._handler.get_server_version(timeout=self.timeout, detail=True)
        )
        if not isinstance(detail, dict):
            detail = {"version": str(detail)}
        raw = str(detail.get("version") or "")
        parsed = parse_version(raw)
        return {
            "version": ".".join(map(str, parsed)),
            "raw": raw,
            "major": parsed[0],
            "minor": parsed[1],
            "patch": parsed[2],
            "deploy_mode": detail.get("deploy_mode", ""),
            "build_time": detail.get("build_time", ""),
            "git_commit": detail.get("git_commit", ""),
        }

    def require_version(self, minimum: tuple[int, int, int] = MIN_VERSION) -> dict[str, Any]:
        """The version, or MilvusError when the server is older than `minimum`."""
        ver = self.version()
        if (ver["major"], ver["minor"], ver["patch"]) < minimum and ver["major"] != 0:
            raise MilvusError(
                f"Milvus {ver['raw']} is older than the supported {'.'.join(map(str, minimum))}"
            )
        return ver

    def metrics_raw(self, metric_type: str = "system_info") -> dict[str, Any]:
        """GetMetrics answer as a dict (pymilvus has no wrapper: the stub is called directly)."""

        def call() -> dict[str, Any]:
            req = milvus_pb2.GetMetricsRequest(request=json.dumps({"metric_type": metric_type}))
            resp = self._handler._stub.GetMetrics(
                req, timeout=self.timeout, metadata=_api_level_md(self._ctx())
            )
            status = resp.status
            if getattr(status, "code", 0) or getattr(status, "error_code", 0):
                raise MilvusError(f"GetMetrics {metric_type}: {status.reason or 'error'}")
            return json.loads(resp.response or "{}")

        return self._call(f"GetMetrics {metric_type}", call)

    def nodes(self) -> list[dict[str, Any]]:
        """Every node the proxy knows, from GetMetrics system_info (cached per connection)."""
        if self._system_info is None:
            self._system_info = parse_system_info(self.metrics_raw("system_info"))
        return self._system_info

    def query_node_addresses(self) -> dict[int, str]:
        return {n["id"]: n["address"] for n in self.nodes() if n["role"] == "querynode"}

    # ---- collections
    def list_collections(self) -> list[str]:
        return sorted(
            self._call("list collections", lambda: self.client.list_collections(timeout=self.timeout))
        )

    def has_collection(self, name: str) -> bool:
        return bool(
            self._call(
                f"has collection {name}", lambda: self.client.has_collection(name, timeout=self.timeout)
            )
        )

    def describe_collection(self, name: str) -> dict[str, Any]:
        """Schema as plain data: fields (name, type, dim, max_length, primary), auto_id, id."""
        raw = self._call(
            f"describe collection {name}", lambda: self.client.describe_collection(name, timeout=self.timeout)
        )
        fields = []
        for fld in raw.get("fields", []):
            params = fld.get("params") or {}
            dtype = fld.get("type")
            fields.append(
                {
                    "name": fld["name"],
                    "type": getattr(dtype, "name", str(dtype)),
                    "dim": int(params["dim"]) if "dim" in params else None,
                    "max_length": int(params["max_length"]) if "max_length" in params else None,
                    "is_primary": bool(fld.get("is_primary")),
                    "auto_id": bool(fld.get("auto_id", raw.get("auto_id", False)))
                    and bool(fld.get("is_primary")),
                }
            )
        return {
            "name": name,
            "id": raw.get("collection_id"),
            "auto_id": bool(raw.get("auto_id")),
            "num_shards": raw.get("num_shards"),
            "fields": fields,
            "consistency_level": raw.get("consistency_level_name") or raw.get("consistency_level"),
        }

    def describe_raw(self, name: str) -> dict[str, Any]:
        """describe_collection's answer as pymilvus gives it (field ids, params, dynamic field)."""
        return dict(self._call(
            f"describe collection {name}", lambda: self.client.describe_collection(name, timeout=self.timeout)
        ))

    def partitions(self, name: str) -> dict[int, str]:
        """Partition id -> name (pymilvus' list_partitions gives the names only)."""

        def call() -> dict[int, str]:
            resp = self._handler._stub.ShowPartitions(
                Prepare.show_partitions_request(name), timeout=self.timeout,
                metadata=_api_level_md(self._ctx()),
            )
            status = resp.status
            if getattr(status, "code", 0) or getattr(status, "error_code", 0):
                raise MilvusError(f"partitions of {name}: {status.reason or 'error'}")
            return {int(i): str(n) for i, n in zip(resp.partitionIDs, resp.partition_names, strict=False)}

        return self._call(f"partitions of {name}", call)

    def persistent_segments(self, name: str) -> list[dict[str, Any]]:
        """Segments datacoord keeps for a collection (growing, flushing, flushed, sealed)."""
        segs = self._call(
            f"persistent segments of {name}",
            lambda: self.client.list_persistent_segments(name, timeout=self.timeout),
        )
        return [{"segment_id": int(s.segment_id), "partition_id": int(s.partition_id),
                 "num_rows": int(s.num_rows), "state": s.state_name} for s in segs]

    def sample_top1(
        self, name: str, pk_field: str, vector_field: str, count: int, search_params: dict[str, Any]
    ) -> list[list[Any]]:
        """Up to `count` primary keys with the top-1 hit of their own vector: [[pk, top-1 id]]
        (Strong consistency: what was acknowledged before the call)."""

        def call() -> list[list[Any]]:
            rows = self.client.query(name, filter="", limit=int(count),
                                     output_fields=[pk_field, vector_field],
                                     consistency_level="Strong", timeout=self.timeout)
            return self._own_top1(name, rows, pk_field, vector_field, search_params)

        return self._call(f"sample {name}", call)

    def top1_of(
        self, name: str, pk_field: str, vector_field: str, keys: Sequence[Any], search_params: dict[str, Any]
    ) -> dict[Any, Any]:
        """Primary key -> top-1 hit of its own vector, for the `keys` the collection holds (Strong
        consistency); keys it does not hold are absent."""

        def call() -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                rows = self.client.query(name, filter=f"{pk_field} in {json.dumps(chunk)}",
                                         output_fields=[pk_field, vector_field],
                                         consistency_level="Strong", timeout=self.timeout)
                out.update(self._own_top1(name, rows, pk_field, vector_field, search_params))
            return out

        return self._call(f"search the samples of {name}", call)

    def _own_top1(
        self, name: str, rows: list[dict[str, Any]], pk_field: str, vector_field: str,
        search_params: dict[str, Any],
    ) -> list[list[Any]]:
        """[[pk, top-1 id]] of queried rows: each row's vector searched for its nearest hit."""
        if not rows:
            return []
        hits = self.client.search(name, data=[r[vector_field] for r in rows], limit=1,
                                  anns_field=vector_field, search_params=search_params,
                                  consistency_level="Strong", timeout=max(self.timeout, 60))
        return [[r[pk_field], (h[0]["id"] if h else None)] for r, h in zip(rows, hits, strict=True)]

    def load_state(self, name: str) -> str:
        """Loaded, Loading, NotLoad or NotExist."""
        state = self._call(
            f"load state of {name}", lambda: self.client.get_load_state(name, timeout=self.timeout)
        )
        state = state.get("state") if isinstance(state, dict) else state
        return getattr(state, "name", str(state))

    def row_count(self, name: str) -> int:
        stats = self._call(
            f"statistics of {name}", lambda: self.client.get_collection_stats(name, timeout=self.timeout)
        )
        return int(stats.get("row_count", 0))

    def served_rows(self, name: str) -> int:
        """Rows the query nodes serve for a loaded collection: count(*) with Strong consistency
        (what a search sees; get_collection_stats counts what was persisted)."""
        res = self._call(
            f"count(*) of {name}",
            lambda: self.client.query(name, output_fields=["count(*)"], consistency_level="Strong",
                                      timeout=self.timeout),
        )
        return int(res[0]["count(*)"])

    def indexes(self, name: str) -> list[dict[str, Any]]:
        """Index descriptions (field_name, index_type, metric_type, params) of a collection."""

        def call() -> list[dict[str, Any]]:
            out = []
            for idx in self.client.list_indexes(name, timeout=self.timeout) or []:
                out.append(dict(self.client.describe_index(name, idx, timeout=self.timeout) or {}))
            return out

        return self._call(f"indexes of {name}", call)

    def replicas(self, name: str) -> list[dict[str, Any]]:
        reps = self._call(
            f"replicas of {name}", lambda: self.client.describe_replica(name, timeout=self.timeout)
        )
        return sorted((replica_dict(r) for r in reps), key=lambda r: r["id"])

    def loaded_segments(self, name: str) -> list[dict[str, Any]]:
        """Segments the query nodes hold (list_loaded_segments)."""
        segs = self._call(
            f"loaded segments of {name}", lambda: self.client.list_loaded_segments(name, timeout=self.timeout)
        )
        return sorted((segment_dict(s) for s in segs), key=lambda s: s["segment_id"])

    def load_balance(
        self, name: str, source: int, targets: Sequence[int], segment_ids: Sequence[int]
    ) -> None:
        """One LoadBalance request; errors keep the server's wording (the caller classifies them)."""
        self._handler.load_balance(
            name,
            int(source),
            [int(t) for t in targets],
            [int(s) for s in segment_ids],
            timeout=self.timeout,
            context=self._ctx(),
        )

    # ---- data (load tests)
    def create_collection(
        self,
        name: str,
        *,
        dim: int,
        metric_type: str,
        index_type: str,
        index_params: dict[str, Any],
        shards_num: int = 1,
        pk_field: str = "id",
        vector_field: str = "vector",
    ) -> None:
        """An INT64-keyed collection with one float vector field, indexed and loaded."""

        def call() -> None:
            schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field(pk_field, DataType.INT64, is_primary=True)
            schema.add_field(vector_field, DataType.FLOAT_VECTOR, dim=int(dim))
            self.client.create_collection(
                name, schema=schema, shards_num=int(shards_num), timeout=self.timeout
            )
            idx = self.client.prepare_index_params()
            idx.add_index(
                vector_field, index_type=index_type, metric_type=metric_type, params=index_params or {}
            )
            self.client.create_index(name, idx, timeout=self.timeout)
            self.client.load_collection(name, timeout=max(self.timeout, 120))

        self._call(f"create collection {name}", call)

    # ---- restore (collection mode, module_utils/_restore.py plans it)
    def create_collection_like(self, name: str, spec: dict[str, Any]) -> None:
        """Create a collection from a plain spec (_restore.collection_spec): fields in their order
        with their types by name, shards, dynamic field, consistency level."""

        def call() -> None:
            schema = self.client.create_schema(auto_id=bool(spec["auto_id"]),
                                               enable_dynamic_field=bool(spec["enable_dynamic_field"]),
                                               description=spec.get("description", ""))
            for fld in spec["fields"]:
                extra = dict(fld["params"])
                if fld.get("element_type"):
                    extra["element_type"] = DataType[fld["element_type"]]
                schema.add_field(fld["name"], DataType[fld["type"]], is_primary=fld["is_primary"],
                                 auto_id=fld["auto_id"], is_partition_key=fld["is_partition_key"],
                                 description=fld["description"], **extra)
            kwargs = {"num_partitions": spec["num_partitions"]} if spec.get("num_partitions") else {}
            self.client.create_collection(name, schema=schema, shards_num=int(spec["num_shards"]),
                                          consistency_level=spec["consistency_level"],
                                          timeout=self.timeout, **kwargs)

        self._call(f"create collection {name}", call)

    def create_partition(self, name: str, partition: str) -> None:
        self._call(f"create partition {partition} of {name}",
                   lambda: self.client.create_partition(name, partition, timeout=self.timeout))

    def import_backup_files(self, name: str, partition: str, files: Sequence[str]) -> int:
        """Start a bulk insert in backup mode (one segment's [insert dir, delete dir or ""]);
        its task id. Sent once: a retry could import the segment twice."""
        try:
            return int(self._handler.do_bulk_insert(name, partition, list(files), timeout=self.timeout,
                                                    context=self._ctx(), backup="true"))
        except Exception as exc:  # noqa: BLE001 - one line
            raise MilvusError(f"bulk insert into {name} ({partition}): {one_line(exc)}") from None

    def import_state(self, task_id: int) -> dict[str, Any]:
        """A bulk insert task: state (Pending, Started, Persisted, Completed, Failed, ...), rows
        and the server's failure reason."""
        st = self._call(f"bulk insert task {task_id}", lambda: self._handler.get_bulk_insert_state(
            int(task_id), timeout=self.timeout, context=self._ctx()))
        infos = dict(st.infos or {})
        return {"task_id": int(task_id), "state": st.state_name, "row_count": int(st.row_count or 0),
                "failed_reason": " ".join(str(infos.get("failed_reason") or "").split()),
                "progress": infos.get("progress_percent", "")}

    def create_indexes(self, name: str, specs: Sequence[dict[str, Any]]) -> None:
        """Create indexes from plain specs (field_name, index_name, index_type, metric_type, params)."""

        def call() -> None:
            for spec in specs:
                idx = self.client.prepare_index_params()
                extra = {"metric_type": spec["metric_type"]} if spec.get("metric_type") else {}
                idx.add_index(spec["field_name"], index_type=spec["index_type"],
                              index_name=spec.get("index_name") or "", params=dict(spec["params"]), **extra)
                self.client.create_index(name, idx, timeout=self.timeout)

        self._call(f"create the indexes of {name}", call)

    def load(self, name: str, replica_number: int, timeout: float) -> None:
        """Load a collection with `replica_number` replicas and wait, at most `timeout` seconds."""
        try:
            self.client.load_collection(name, replica_number=int(replica_number), timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - one line
            raise MilvusError(f"load {name} ({replica_number} replica(s)): {one_line(exc)}") from None

    def drop_collection(self, name: str) -> None:
        self._call(f"drop collection {name}", lambda: self.client.drop_collection(name, timeout=self.timeout))

    def flush(self, name: str) -> None:
        self._call(f"flush {name}", lambda: self.client.flush(name, timeout=max(self.timeout, 60)))

    def insert(self, name: str, rows: list[dict[str, Any]]) -> int:
        """Insert rows; the raw exception propagates so load loops can count it by kind."""
        res = self.client.insert(name, rows, timeout=self.timeout)
        return int(res.get("insert_count", len(rows)) if isinstance(res, dict) else len(rows))

    def search(
        self,
        name: str,
        field: str,
        vectors: Any,
        top_k: int,
        params: dict[str, Any],
        consistency_level: str | None = None,
    ) -> list[list[Any]]:
        """Ids of the top_k hits per query vector (raw exception on failure)."""
        kwargs = {"consistency_level": consistency_level} if consistency_level else {}
        res = self.client.search(
            name,
            data=vectors,
            limit=int(top_k),
            anns_field=field,
            search_params=params,
            timeout=self.timeout,
            **kwargs,
        )
        return [[hit["id"] for hit in hits] for hits in res]

    def search_requests(
        self,
        name: str,
        field: str,
        vectors: Any,
        nq: int,
        top_k: int,
        params: dict[str, Any],
        consistency_level: str = "Bounded",
    ) -> list[Any]:
        """Prebuilt SearchRequests, `nq` vectors each, to replay with send_search (cheap per call)."""
        out = []
        for start in range(0, len(vectors) - nq + 1, nq):
            out.append(
                Prepare.search_requests_with_expr(
                    collection_name=name,
                    anns_field=field,
                    param=params,
                    limit=int(top_k),
                    data=vectors[start : start + nq],
                    consistency_level=consistency_level,
                )
            )
        return out

    def send_search(self, request: Any, timeout: float | None = None) -> int:
        """Send one prebuilt SearchRequest; number of hits, or the raw exception."""
        resp = self._handler._stub.Search(
            request, timeout=timeout or self.timeout, metadata=_api_level_md(self._ctx())
        )
        status = resp.status
        if getattr(status, "code", 0) or getattr(status, "error_code", 0):
            raise MilvusException(code=getattr(status, "code", 0) or status.error_code, message=status.reason)
        return len(resp.results.scores)

    def iterate_vectors(
        self, name: str, pk_field: str, field: str, limit: int, batch_size: int = 2000
    ) -> Iterable[tuple[list[Any], list[list[float]]]]:
        """(ids, vectors) batches of the whole collection, at most `limit` rows (Strong consistency)."""
        try:
            it = self.client.query_iterator(
                name,
                batch_size=batch_size,
                limit=limit,
                filter="",
                output_fields=[pk_field, field],
                consistency_level="Strong",
                timeout=self.timeout,
            )
        except Exception as exc:  # noqa: BLE001 - one line
            raise MilvusError(f"read vectors of {name}: {one_line(exc)}") from None
        try:
            for _unused in range(limit // max(batch_size, 1) + 2):  # bounded: never more than limit rows
                batch = it.next()
                if not batch:
                    break
                yield [r[pk_field] for r in batch], [r[field] for r in batch]
        finally:
            it.close()
