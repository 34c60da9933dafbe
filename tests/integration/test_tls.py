"""The TLS connection options through Ansible against real standalones that serve TLS.

Two extra servers, one after the other (never both at once: the `tls_server` fixture is
parametrized by mode, so pytest runs each mode's tests together and stops that server before
starting the next), with a server certificate from a throw-away CA and authorization on:

- mutual TLS (tlsMode 2, client certificate required): the right CA + client certificate connects
  by uri, by hosts and with server_name; a wrong CA, a plain client, a client without (or with a
  foreign) certificate, a wrong server_name, and a TLS client towards the session's plain
  standalone each fail at once with one line that names the option to fix;
- one-way TLS (tlsMode 1, server certificate only): secure + ca_cert alone connects by uri and by
  hosts; a wrong CA, or no CA at all, fails at once in one line naming ca_cert.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import TEST_PASSWORD, Milvus, ModuleRun, run_tasks
from tests.integration.milvus_server import ROOT_PASSWORD, Standalone
from tests.integration.tls_certs import write_ca, write_tls_dir

INFO = "milvus_cluster_info"
VERSION_ONLY = {"filter": ["version"]}
# which TLS server a test runs against (indirect: the value is the tls_server fixture's tlsMode)
MUTUAL = pytest.mark.parametrize("tls_server", [2], indirect=True, ids=["mutual"])
ONE_WAY = pytest.mark.parametrize("tls_server", [1], indirect=True, ids=["one-way"])


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Our CA, server and client certificates, and an unrelated CA with a client of its own."""
    ours = write_tls_dir(tmp_path_factory.mktemp("tls-ours"))
    other = write_ca(tmp_path_factory.mktemp("tls-other")).parent
    return {
        "dir": ours,
        "ca": ours / "ca.pem",
        "client_cert": ours / "client.pem",
        "client_key": ours / "client.key",
        "other_ca": other / "ca.pem",
        "other_client_cert": other / "client.pem",
        "other_client_key": other / "client.key",
    }


@pytest.fixture(scope="module")
def tls_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tls_files):
    """A second standalone whose proxy serves TLS only, authorization on: mutual (tlsMode 2) or
    one-way (1), as the test's MUTUAL / ONE_WAY mark says. One per mode, stopped before the other
    mode's starts (pytest finishes a module fixture when its parameter changes)."""
    mode = request.param
    srv = Standalone(
        tmp_path_factory.mktemp(f"milvus-tls{mode}"), authorization=True, tls=tls_files["dir"], tls_mode=mode
    )
    srv.start(timeout=240)
    yield srv
    srv.stop(grace=3)


@pytest.fixture(scope="module")
def tls_conn(tls_server: Standalone, tls_files: dict[str, Path]) -> dict[str, Any]:
    """Module options for the TLS server: secure, our CA (and for mutual TLS our client
    certificate), root's new password.

    The built-in password is changed first (as `conn` does): "Milvus" as a no_log value would be
    masked everywhere in Ansible's output, module names included.
    """
    conn = {
        "uri": tls_server.uri,
        "secure": True,
        "ca_cert": str(tls_files["ca"]),
        "user": "root",
        "password": ROOT_PASSWORD,
        "timeout": 20,
    }
    if tls_server.tls_mode == 2:
        conn.update(client_cert=str(tls_files["client_cert"]), client_key=str(tls_files["client_key"]))
    first = Milvus.connect(conn)
    first.client.update_password("root", ROOT_PASSWORD, TEST_PASSWORD)
    first.close()
    return {**conn, "password": TEST_PASSWORD}


def rendered_tls(server: Standalone) -> dict[str, Any]:
    """The TLS settings the server really started with, from the milvus.yaml it rendered."""
    config = yaml.safe_load((server.data_dir / "configs" / "milvus.yaml").read_text())
    return {"tlsMode": config["common"]["security"]["tlsMode"], **config["tls"]}


def tls_settings(mode: int, tls_files: dict[str, Path]) -> dict[str, Any]:
    """What rendered_tls() must show: `mode` and our server certificate, key and CA."""
    return {
        "tlsMode": mode,
        "serverPemPath": str(tls_files["dir"] / "server.pem"),
        "serverKeyPath": str(tls_files["dir"] / "server.key"),
        "caPemPath": str(tls_files["ca"]),
    }


def durations(run: ModuleRun) -> list[float]:
    """Seconds each task of a run_tasks() playbook took, from the JSON callback's timestamps."""
    stamp = datetime.fromisoformat
    tasks = json.loads(run.stdout[run.stdout.find("{") :])["plays"][0]["tasks"]
    return [
        (stamp(t["task"]["duration"]["end"]) - stamp(t["task"]["duration"]["start"])).total_seconds()
        for t in tasks
    ]


def direct_version(conn: dict[str, Any]) -> str:
    """The server's version through pymilvus directly, with the same options."""
    direct = Milvus.connect(conn)
    try:
        return direct.version()["version"]
    finally:
        direct.close()


def without_uri(conn: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in conn.items() if k != "uri"}


@MUTUAL
def test_mutual_tls_connects_by_uri_hosts_and_server_name(tls_server, tls_conn, tls_files):
    assert rendered_tls(tls_server) == tls_settings(2, tls_files)
    expected, by_hosts = direct_version(tls_conn), without_uri(tls_conn)
    runs = run_tasks(
        [
            (INFO, {**tls_conn, **VERSION_ONLY}, False),  # https:// uri and secure
            (INFO, {**by_hosts, "hosts": [tls_server.address], **VERSION_ONLY}, False),  # secure: https
            (INFO, {**tls_conn, "secure": False, **VERSION_ONLY}, False),  # https:// implies secure
            # by IP, checking the certificate against its DNS name instead
            (INFO, {**by_hosts, "hosts": [tls_server.address], "server_name": "localhost"}, False),
        ]
    )
    assert expected == "2.3.5"
    for run in runs:
        assert run.rc == 0 and not run.failed, run.result
        assert run.result["version"] == expected, run.result
        assert run.result["server"]["connected_to"] == tls_server.address
    assert TEST_PASSWORD not in runs[0].stdout + runs[0].stderr  # never logged
    # the full answer works over TLS too (GetMetrics, collections)
    assert {n["role"] for n in runs[3].result["nodes"]} >= {"proxy", "querynode"}


@MUTUAL
def test_tls_misconfigurations_fail_in_one_line(tls_server, tls_conn, tls_files, conn):
    # a timeout well above a module run's start-up (~5-10 s here): a failure that waited it out shows
    slow = 30
    opts = {**tls_conn, "timeout": slow, **VERSION_ONLY}
    one_way = {k: v for k, v in opts.items() if k not in ("client_cert", "client_key")}
    plain = {k: v for k, v in one_way.items() if k != "ca_cert"}
    runs = run_tasks(
        [
            (INFO, {**opts, "ca_cert": str(tls_files["other_ca"])}, False),
            (INFO, {**plain, "uri": f"http://{tls_server.address}", "secure": False}, False),
            (INFO, one_way, False),
            (
                INFO,
                {
                    **opts,
                    "client_cert": str(tls_files["other_client_cert"]),
                    "client_key": str(tls_files["other_client_key"]),
                },
                False,
            ),
            (INFO, {**opts, "server_name": "milvus.test"}, False),
            (INFO, {**opts, "ca_cert": None}, False),
            # the reverse mistake: secure towards the session's plain standalone
            (
                INFO,
                {**conn, "secure": True, "ca_cert": str(tls_files["ca"]), "timeout": slow, **VERSION_ONLY},
                False,
            ),
        ]
    )
    wrong_ca, plain_run, no_client_cert, foreign_client, wrong_name, cert_without_ca, tls_to_plain = runs
    address = tls_server.address
    wrong_ca.assert_clean_failure(
        f"no Milvus proxy reachable ({address}: TLS handshake failed",
        "the server certificate is not signed by ca_cert (set ca_cert",
    )
    plain_run.assert_clean_failure(
        f"({address}: the proxy closed the connection during set-up",
        "if it serves TLS, set secure: true",
    )
    no_client_cert.assert_clean_failure(
        f"({address}: TLS handshake failed",
        "refused the connection without a client certificate (mutual TLS: set client_cert and client_key)",
    )
    foreign_client.assert_clean_failure("TLS handshake failed: the server refused the client certificate")
    wrong_name.assert_clean_failure(
        "the server certificate is not valid for the name milvus.test (set server_name"
    )
    cert_without_ca.assert_clean_failure("client_cert needs ca_cert too")
    tls_to_plain.assert_clean_failure(
        f"({conn['uri'].split('//')[1]}: TLS handshake failed: the proxy does not serve TLS",
        "connect with secure: false",
    )
    for run in runs:
        assert TEST_PASSWORD not in run.stdout + run.stderr
        assert "illegal connection params" not in run.result["msg"]  # pymilvus's catch-all
    # refused at the handshake, not waited out: each task (Ansible's own overhead included) ends
    # before the connection timeout would have
    assert max(durations(runs[0])) < slow, durations(runs[0])


@ONE_WAY
def test_one_way_tls_connects_with_ca_cert_only(tls_server, tls_conn, tls_files):
    """Server certificate only: secure + ca_cert, no client certificate, by uri and by hosts."""
    assert rendered_tls(tls_server) == tls_settings(1, tls_files)
    assert "client_cert" not in tls_conn and "client_key" not in tls_conn
    expected, by_hosts = direct_version(tls_conn), without_uri(tls_conn)
    runs = run_tasks(
        [
            (INFO, {**tls_conn, **VERSION_ONLY}, False),  # https:// uri and secure
            (INFO, {**by_hosts, "hosts": [tls_server.address], **VERSION_ONLY}, False),  # secure: https
        ]
    )
    assert expected == "2.3.5"
    for run in runs:
        assert run.rc == 0 and not run.failed, run.result
        assert run.result["version"] == expected, run.result
        assert run.result["server"]["connected_to"] == tls_server.address
        assert TEST_PASSWORD not in run.stdout + run.stderr  # never logged


@ONE_WAY
def test_one_way_tls_wrong_or_missing_ca_fails_in_one_line(tls_server, tls_conn, tls_files):
    """A CA that did not sign the server certificate, or none (the system CAs), is refused at the
    handshake with one line naming ca_cert."""
    slow = 30
    opts = {**tls_conn, "timeout": slow, **VERSION_ONLY}
    runs = run_tasks(
        [
            (INFO, {**opts, "ca_cert": str(tls_files["other_ca"])}, False),
            (INFO, {**opts, "ca_cert": None}, False),
        ]
    )
    wrong_ca, no_ca = runs
    wrong_ca.assert_clean_failure(
        f"no Milvus proxy reachable ({tls_server.address}: TLS handshake failed",
        "the server certificate is not signed by ca_cert (set ca_cert",
    )
    no_ca.assert_clean_failure(
        f"({tls_server.address}: TLS handshake failed",
        "the server certificate is not signed by a system CA (set ca_cert",
    )
    for run in runs:
        assert TEST_PASSWORD not in run.stdout + run.stderr
        assert "illegal connection params" not in run.result["msg"]
    assert max(durations(wrong_ca)) < slow, durations(wrong_ca)
