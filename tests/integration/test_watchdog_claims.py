"""The watchdog's restart claims (roles/watchdog/files/vectorops_watchdog.py, class Claims) against a
real etcd: the Milvus wheel's own etcd server, reached through its v3 JSON gateway as the hosts'
watchdogs reach the cluster's members."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "roles" / "watchdog" / "files" / "vectorops_watchdog.py"
_SPEC = importlib.util.spec_from_file_location("vectorops_watchdog", _PATH)
assert _SPEC and _SPEC.loader
watchdog = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(watchdog)

PREFIX = "vectorops/watchdog/restart/"


def claims(server, host: str, gap: int, endpoints: list[str] | None = None):
    url = f"http://127.0.0.1:{server.ports['etcd_port']}"
    return watchdog.Claims(watchdog.Etcd(endpoints or [url], timeout=3), host, PREFIX, gap, time.time())


def test_one_host_claims_a_restart_and_the_others_wait_until_its_lease_ends(milvus_server):
    name = f"vectorops-probe-{time.time_ns()}"
    assert claims(milvus_server, "node1", 3)(name) == (True, "", "")
    allowed, who, why = claims(milvus_server, "node2", 3)(name)
    assert not allowed and who == "node1" and why.startswith("node1 restarted it 0 s ago"), why
    # the same host again: its own claim, renewed (its loop guard counts its restarts)
    assert claims(milvus_server, "node1", 3)(name)[0] is True
    assert claims(milvus_server, "node3", 3)(name)[0] is False
    # etcd ends the lease: the next host may restart it (a lease ends within about a second of its TTL)
    deadline = time.monotonic() + 10
    while not claims(milvus_server, "node3", 3)(name)[0]:
        assert time.monotonic() < deadline, "the claim outlived its lease"
        time.sleep(0.5)
    assert claims(milvus_server, "node2", 3)(name)[1] == "node3"


def test_the_members_are_asked_in_turn_and_none_answering_is_refused(milvus_server, dead_port):
    name = f"vectorops-probe-{time.time_ns()}"
    live = f"http://127.0.0.1:{milvus_server.ports['etcd_port']}"
    assert claims(milvus_server, "node1", 30, [f"http://127.0.0.1:{dead_port}", live])(name)[0] is True
    allowed, who, why = claims(milvus_server, "node2", 30, [f"http://127.0.0.1:{dead_port}"])(name)
    assert (allowed, who) == (False, "etcd")
    dead = f"http://127.0.0.1:{dead_port}"
    assert why.startswith(f"cannot claim it in etcd: no etcd member answered ({dead}: "), why


def test_a_renewed_claim_counts_the_gap_from_the_end_of_the_restart(milvus_server):
    # A run that restarts several containers claims them all first; each claim is renewed when
    # its restart ends, so the other hosts wait the whole gap after it.
    name = f"vectorops-probe-{time.time_ns()}"
    mine = claims(milvus_server, "node1", 4)
    assert mine(name)[0] is True
    time.sleep(2.5)  # the restarts before this one
    assert mine.renew(name)[0] is True
    time.sleep(2.5)  # past the first claim's 4 s, within the renewed one
    allowed, who, _why = claims(milvus_server, "node2", 4)(name)
    assert not allowed and who == "node1", who


def test_the_member_that_answered_is_asked_first_next_time(milvus_server, dead_port):
    dead, live = f"http://127.0.0.1:{dead_port}", f"http://127.0.0.1:{milvus_server.ports['etcd_port']}"
    etcd = watchdog.Etcd([dead, live], timeout=3)
    assert "ID" in etcd.call("lease/grant", {"TTL": 5})
    assert etcd.endpoints == [live, dead]


def test_a_revoke_that_fails_still_names_the_holder(milvus_server):
    # The unused lease of a refused claim is revoked as a courtesy; when that call fails (the
    # member went away between two calls), the refusal still says whose claim it met.
    class NoRevoke(watchdog.Etcd):
        def call(self, path, body):
            if path == "lease/revoke":
                raise OSError("connection refused")
            return super().call(path, body)

    name = f"vectorops-probe-{time.time_ns()}"
    assert claims(milvus_server, "node1", 30)(name)[0] is True
    url = f"http://127.0.0.1:{milvus_server.ports['etcd_port']}"
    refused = watchdog.Claims(NoRevoke([url], timeout=3), "node2", PREFIX, 30, time.time())(name)
    assert refused[:2] == (False, "node1"), refused
