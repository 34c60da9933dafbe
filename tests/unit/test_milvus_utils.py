"""Parsing of real server answers (replayed from fixtures), error classification, small helpers."""

from __future__ import annotations

import re

import grpc
import pytest
from ansible_collections.vectorops.milvus.plugins.module_utils import _balance, _milvus
from ansible_collections.vectorops.milvus.plugins.module_utils._cluster import (
    distribution_balance,
    node_distribution,
    replica_placement,
    replica_view,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._common import (
    node_label,
    resolve_node,
    resolve_subset,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import (
    Milvus,
    MilvusError,
    address_of,
    classify,
    connect_failure,
    endpoints,
    one_line,
    parse_system_info,
    parse_version,
    retry,
)
from pymilvus.exceptions import MilvusException

# ------------------------------------------------------------------ GetMetrics system_info


def test_system_info_lists_every_node_with_its_address(fixture_json):
    nodes = parse_system_info(fixture_json("system_info.json"))
    roles = [n["role"] for n in nodes]
    assert set(roles) == {
        "rootcoord",
        "querycoord",
        "datacoord",
        "proxy",
        "querynode",
        "datanode",
        "indexnode",
    }
    assert roles.index("rootcoord") < roles.index("proxy") < roles.index("querynode")  # coordinators first
    qn = next(n for n in nodes if n["role"] == "querynode")
    assert qn["id"] == 1 and qn["name"] == "querynode1"
    host, port = qn["address"].rsplit(":", 1)
    assert host and port.isdigit()
    assert qn["build_version"] == "v2.3.5-lite" and qn["has_error"] is False
    assert qn["memory_bytes"] > 0


def test_system_info_accepts_json_text_and_tolerates_gaps():
    text = '{"nodes_info": [{"identifier": 9, "infos": {"name": "querynode9", "hardware_infos": {}}}]}'
    (node,) = parse_system_info(text)
    assert node == {**node, "id": 9, "role": "querynode", "address": "unknown", "name": "querynode9"}
    assert parse_system_info("") == []
    assert parse_system_info({"nodes_info": None}) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v2.3.5-lite", (2, 3, 5)),
        ("2.4.17", (2, 4, 17)),
        ("v2.6.0-rc1", (2, 6, 0)),
        ("v2.5", (2, 5, 0)),
        ("master", (0, 0, 0)),
        ("", (0, 0, 0)),
    ],
)
def test_parse_version(text, expected):
    assert parse_version(text) == expected


def test_captured_version(fixture_json):
    ver = fixture_json("version.json")
    assert (ver["major"], ver["minor"], ver["patch"]) == parse_version(ver["raw"]) == (2, 3, 5)


# ------------------------------------------------------------------ segments and replicas


def test_replica_placement_from_captured_answers(fixture_json):
    (replica,) = fixture_json("replicas.json")
    segs = fixture_json("loaded_segments.json")
    place, in_flight = replica_placement(segs, replica)
    assert list(place) == [1] and in_flight == []
    assert sorted(r for _unused, r in place[1]) == [300, 700, 1000, 1500]


def test_replica_placement_skips_growing_and_flags_segments_in_flight():
    replica = {"id": 1, "node_ids": [1, 2], "shards": []}
    segs = [
        {"segment_id": 10, "num_rows": 5, "state": "Sealed", "node_ids": [1]},
        {"segment_id": 11, "num_rows": 5, "state": "Growing", "node_ids": [2]},
        {"segment_id": 12, "num_rows": 5, "state": "Sealed", "node_ids": [1, 2]},  # being moved
        {"segment_id": 13, "num_rows": 5, "state": "Sealed", "node_ids": [3]},  # other replica
    ]
    place, in_flight = replica_placement(segs, replica)
    assert place == {1: [(10, 5)], 2: []}
    assert in_flight == [12]


def test_node_distribution_and_balance_keep_addresses(fixture_json):
    segs = fixture_json("loaded_segments.json")
    addresses = {1: "10.0.0.1:21123", 2: "10.0.0.2:21123"}
    dist = node_distribution(segs, [1, 2], addresses)
    assert [(d["id"], d["address"], d["segments"], d["rows"]) for d in dist] == [
        (1, "10.0.0.1:21123", 4, 3500),
        (2, "10.0.0.2:21123", 0, 0),
    ]
    bal = distribution_balance(dist, "rows", 0.2, addresses)
    assert bal["balanced"] is False and bal["min_node"]["address"] == "10.0.0.2:21123"
    view = replica_view(fixture_json("replicas.json")[0], {1: "10.0.0.1:21123"})
    assert view["nodes"] == [{"id": 1, "address": "10.0.0.1:21123"}]
    assert view["shards"][0]["leader"] == {"id": 1, "address": "10.0.0.1:21123"}


# ------------------------------------------------------------------ errors


# what each real LoadBalance refusal must be classified as (wording captured from 2.3.5)
EXPECTED_KIND = {
    "unknown source node": "not_found",
    "target outside the replica": "not_found",
    "segment not on the source": "race",  # compaction raced the plan: re-read and retry
    "collection not loaded": "error",
    "collection does not exist": "not_found",
}


def test_load_balance_errors_from_the_real_server(fixture_json):
    seen = set()
    for entry in fixture_json("load_balance_errors.json"):
        if entry["ok"]:
            continue
        exc = MilvusException(code=entry["code"], message=entry["message"])
        assert classify(exc) == EXPECTED_KIND[entry["case"]], entry
        assert "\n" not in one_line(exc)
        seen.add(entry["case"])
    assert seen == set(EXPECTED_KIND)


def test_load_balance_accepts_noop_requests_on_one_node(fixture_json):
    # Milvus 2.3.5 answered Success to a move onto the segment's own node and to a request with
    # no segments and no targets, and moved nothing: a plan holding either would wait for a move
    # that never comes. The planner never makes them, not even when asked for the same shape.
    accepted = {e["case"]: e for e in fixture_json("load_balance_errors.json") if e["ok"]}
    assert set(accepted) == {"move to itself (accepted)", "all sealed to all others (accepted)"}
    itself = accepted["move to itself (accepted)"]
    node, other, seg = itself["source"], itself["source"] + 1, itself["segment_ids"][0]
    # The captured request's shape: its source as the only target.
    with pytest.raises(_balance.PlanError, match="has no other query node in its replica"):
        _balance.plan_replica({node: [(seg, 100)], other: []}, drain=node, targets=itself["targets"])
    placements = [
        {node: [(seg, 100), (seg + 1, 100), (seg + 2, 100)], other: []},  # piled on the captured node
        {node: [(seg, 100)], other: []},
        {node: [], other: []},  # nothing to move: no request at all
    ]
    for place in placements:
        for drain in (None, node):
            moves = _balance.plan_replicas({1: place}, drain=drain, tolerance=0.0)
            for move_set in _balance.group_moves(moves):
                assert move_set["segment_ids"], move_set
                assert move_set["source"] != move_set["target"], move_set
    assert _balance.group_moves(_balance.plan_replicas({1: placements[2]})) == []


class CapturedRpcError(grpc.RpcError):
    """A gRPC error with the status code and details a real server sent."""

    def __init__(self, code: str, details: str):
        super().__init__(details)
        self._code, self._details = getattr(grpc.StatusCode, code), details

    def code(self):
        return self._code

    def details(self):
        return self._details


def _captured_exception(entry: dict) -> MilvusException:
    """The exception pymilvus raised for a captured case, with its chain of causes."""
    exc = MilvusException(code=entry["code"], message=entry["raw_message"])
    outer: BaseException = exc
    for cause in entry["cause_chain"]:
        inner = (
            CapturedRpcError(cause["grpc_code"], cause["details"])
            if "grpc_code" in cause
            else Exception(cause["message"])
        )
        outer.__context__ = inner
        outer = inner
    return exc


def _replaying_client(entry: dict):
    """A MilvusClient stand-in that fails at the step the real server failed."""
    exc = _captured_exception(entry)

    class Client:
        def __init__(self, **kwargs):
            if entry["step"] == "client":
                raise exc

        def list_collections(self, **kwargs):
            if entry["step"] == "list_collections":
                raise exc
            return []

        def describe_collection(self, name, **kwargs):
            raise exc

        def close(self):
            pass

    return Client


def _address(message: str) -> str:
    return re.sub(r"127\.0\.0\.1:\d+", "ADDR", message)


CONNECT_CASES = {
    "wrong password": "auth",
    "no credentials": "auth",
    "unknown database": "not_found",
    "unknown collection": "not_found",
}


def test_connect_errors_are_classified_as_captured(fixture_json):
    entries = fixture_json("connect_errors.json")
    assert {e["case"]: e["kind"] for e in entries} == CONNECT_CASES
    for entry in entries:
        exc = _captured_exception(entry)
        assert classify(exc) == entry["kind"], entry["case"]
        assert one_line(exc) == " ".join(entry["raw_message"].split())


@pytest.mark.parametrize("case", sorted(CONNECT_CASES))
def test_connect_errors_from_the_real_server_become_its_one_line(monkeypatch, fixture_json, case):
    (entry,) = [e for e in fixture_json("connect_errors.json") if e["case"] == case]
    assert entry["ok"] is False
    monkeypatch.setattr(_milvus, "MilvusClient", _replaying_client(entry))
    params = {"uri": "http://127.0.0.1:19530", "password": "x", "timeout": 0.1, **entry["params"]}
    with pytest.raises(MilvusError) as raised:
        if entry["step"] == "describe_collection":
            Milvus.connect(params).describe_collection("no_such_collection")
        else:
            Milvus.connect(params)
    assert _address(str(raised.value)) == _address(entry["message"])
    assert "\n" not in str(raised.value) and "Traceback" not in str(raised.value)


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (
            2,
            "Fail connecting to server on 10.0.0.1:19530, illegal connection params or server unavailable",
            "unavailable",
        ),
        (8, "rate limit exceeded[rate=100]", "rate_limit"),
        (65535, "deny to write, reason: memory quota exceeded", "quota"),
        (65535, "failed to balance segments: task with the same segment exists", "race"),
        (65535, "context deadline exceeded", "timeout"),
        (1800, "auth check failure, please check username and password are correct", "auth"),
        (65535, "something else", "error"),
    ],
)
def test_classify(code, message, kind):
    assert classify(MilvusException(code=code, message=message)) == kind


def test_one_line_strips_wrappers_and_newlines():
    exc = MilvusException(code=5, message="first line\n  second line")
    assert one_line(exc) == "first line second line"
    assert one_line(ValueError("<MilvusException: (code=1, message=inner)>")) == "inner"
    assert len(one_line(ValueError("x" * 2000))) <= 403


def test_retry_is_bounded_in_attempts_and_retries_only_transient_errors():
    calls = []

    def flaky():
        calls.append(1)
        raise MilvusException(code=2, message="Fail connecting to server on x, server unavailable")

    with pytest.raises(MilvusException):
        retry(flaky, attempts=3, deadline=5, delay=0.01)
    assert len(calls) == 3

    calls.clear()

    def broken():
        calls.append(1)
        raise MilvusException(code=100, message="collection not found")

    with pytest.raises(MilvusException):
        retry(broken, attempts=3, deadline=5, delay=0.01)
    assert len(calls) == 1
    assert retry(lambda: 42) == 42


# ------------------------------------------------------------------ connection options


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["http://localhost:19530"]),
        ({"uri": "http://10.0.0.1:19530"}, ["http://10.0.0.1:19530"]),
        ({"hosts": ["10.0.0.1", "10.0.0.2:19531"]}, ["http://10.0.0.1:19530", "http://10.0.0.2:19531"]),
        ({"hosts": ["milvus-a"], "secure": True}, ["https://milvus-a:19530"]),
        ({"hosts": ["::1"]}, ["http://[::1]:19530"]),
        ({"hosts": ["[::1]:19540"]}, ["http://[::1]:19540"]),
        ({"hosts": ["https://m.example:443"]}, ["https://m.example:443"]),
    ],
)
def test_endpoints(params, expected):
    assert endpoints(params) == expected


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ([], "hosts is empty: name at least one Milvus proxy"),
        ([""], "hosts has an empty entry (item 1 of 1)"),
        (["10.0.0.1", "  "], "hosts has an empty entry (item 2 of 2)"),
    ],
)
def test_empty_hosts_never_fall_back_to_localhost(hosts, message):
    with pytest.raises(MilvusError) as err:
        endpoints({"hosts": hosts, "uri": None})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_address_of():
    assert address_of("https://root:pw@10.0.0.1:19530/db") == "10.0.0.1:19530"


# gRPC details behind pymilvus's "Fail connecting" seen against a mutual-TLS Milvus 2.3.5
# (tests/integration/test_tls.py), each with the option the message should point to.
_LAST = "failed to connect to all addresses; last error: "
TLS_DETAILS = [
    (
        _LAST + "UNKNOWN: ipv4:127.0.0.1:19530: Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: "
        "error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: unable to get local "
        "issuer certificate: OK",
        {"secure": True, "ca_cert": "/ca.pem"},
        "the server certificate is not signed by ca_cert (set ca_cert to the CA that signed it) "
        "[unable to get local issuer certificate]",
    ),
    (
        _LAST + "UNKNOWN: ipv4:127.0.0.1:19530: Custom verification check failed with error: "
        "UNAUTHENTICATED: Hostname Verification Check failed.",
        {"secure": True, "ca_cert": "/ca.pem", "server_name": "milvus.test"},
        "not valid for the name milvus.test (set server_name",
    ),
    (
        _LAST + "UNAVAILABLE: ipv4:127.0.0.1:19530: Unwrap failed (TSI_DATA_CORRUPTED)",
        {"secure": True, "ca_cert": "/ca.pem"},
        "without a client certificate (mutual TLS: set client_cert and client_key)",
    ),
    (
        _LAST + "UNAVAILABLE: ipv4:127.0.0.1:19530: Unwrap failed (TSI_DATA_CORRUPTED)",
        {"secure": True, "ca_cert": "/ca.pem", "client_cert": "/c.pem", "client_key": "/c.key"},
        "the server refused the client certificate",
    ),
    (
        _LAST + "UNAVAILABLE: ipv4:127.0.0.1:19530: Socket closed",
        {},
        "if it serves TLS, set secure: true",
    ),
    (
        _LAST + "UNKNOWN: ipv4:127.0.0.1:19530: Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: "
        "error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER: Invalid certificate "
        "verification context: OK",
        {"secure": True, "ca_cert": "/ca.pem"},
        "the proxy does not serve TLS",
    ),
    (  # not TLS: pymilvus's own message, as before
        _LAST + "UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused",
        {"secure": True},
        "Fail connecting to server on 127.0.0.1:19530",
    ),
]


class FakeRpcError(grpc.RpcError):
    def __init__(self, details: str):
        super().__init__(details)
        self._details = details

    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return self._details


def _connect_error(details: str) -> MilvusException:
    try:
        try:
            raise FakeRpcError(details)
        except grpc.RpcError as exc:
            raise MilvusException(
                code=2,
                message="Fail connecting to server on 127.0.0.1:19530, illegal connection params or "
                "server unavailable",
            ) from exc
    except MilvusException as exc:
        return exc


@pytest.mark.parametrize(("details", "params", "fragment"), TLS_DETAILS)
def test_connect_failure_names_the_tls_option(details, params, fragment):
    exc = _connect_error(details)
    tls = bool(params.get("secure"))
    msg = connect_failure(exc, "127.0.0.1:19530", tls, params)
    assert fragment in msg and "\n" not in msg
    assert classify(exc) == "unavailable"  # still tried on the next proxy, never retried as auth


class RecordingClient:
    calls: list[dict] = []

    def __init__(self, **kwargs):
        RecordingClient.calls.append(kwargs)


@pytest.mark.parametrize(
    ("params", "expected", "absent"),
    [
        ({"uri": "http://m:19530", "ca_cert": "/ca.pem"}, {}, {"secure", "server_pem_path"}),
        (  # an https:// uri implies secure, and takes ca_cert with it
            {"uri": "https://m:19530", "ca_cert": "/ca.pem", "server_name": "m.test"},
            {"secure": True, "server_pem_path": "/ca.pem", "server_name": "m.test"},
            {"client_pem_path"},
        ),
        (
            {
                "hosts": ["m"],
                "secure": True,
                "ca_cert": "/ca.pem",
                "client_cert": "/c.pem",
                "client_key": "/c.key",
            },
            {
                "uri": "https://m:19530",
                "secure": True,
                "ca_pem_path": "/ca.pem",
                "client_pem_path": "/c.pem",
                "client_key_path": "/c.key",
            },
            {"server_pem_path"},
        ),
    ],
)
def test_tls_options_reach_pymilvus(monkeypatch, params, expected, absent):
    monkeypatch.setattr(_milvus, "MilvusClient", RecordingClient)
    RecordingClient.calls.clear()
    Milvus.connect(params)
    (kwargs,) = RecordingClient.calls
    assert {k: kwargs.get(k) for k in expected} == expected
    assert not absent & set(kwargs)


def test_client_cert_without_ca_cert_is_refused(monkeypatch):
    monkeypatch.setattr(_milvus, "MilvusClient", RecordingClient)
    with pytest.raises(MilvusError, match="client_cert needs ca_cert"):
        Milvus.connect({"uri": "https://m:19530", "client_cert": "/c.pem", "client_key": "/c.key"})


def test_milvus_error_is_plain():
    assert str(MilvusError("one line")) == "one line"


# ------------------------------------------------------------------ module helpers


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, {"version", "nodes", "collections", "distribution", "balance"}),
        (["all"], {"version", "nodes", "collections", "distribution", "balance"}),
        (["version", "nodes"], {"version", "nodes"}),
        (["!collections", "!balance"], {"version", "nodes", "distribution"}),
        (["all", "!nodes"], {"version", "collections", "distribution", "balance"}),
    ],
)
def test_resolve_subset(requested, expected):
    assert (
        resolve_subset(requested, ("version", "nodes", "collections", "distribution", "balance")) == expected
    )


def test_resolve_subset_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown filter item 'segmentz'"):
        resolve_subset(["segmentz"], ("version",))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("4", 4), (4, 4), ("10.0.0.12:21123", 4), ("querynode4", 4), ("querynode9", None), ("10.0.0.12", None)],
)
def test_resolve_node(spec, expected):
    nodes = [
        {"id": 4, "address": "10.0.0.12:21123", "name": "querynode4"},
        {"id": 7, "address": "10.0.0.13:21123", "name": "querynode7"},
    ]
    assert resolve_node(spec, nodes) == expected


def test_node_label():
    assert node_label(4, {4: "10.0.0.12:21123"}) == "4 (10.0.0.12:21123)"
    assert node_label(5, {}) == "5 (unknown address)"
