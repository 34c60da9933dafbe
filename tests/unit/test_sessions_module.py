"""milvus_sessions: reading, ending and handing over sessions, from etcd reads captured on the
sandbox (tests/unit/fixtures/etcd_sessions_sandbox.txt: mixcoords active on node1 with standbys on
node2, query nodes on all three hosts). The real etcd path runs in the e2e tier's rolling restart."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible_collections.vectorops.milvus.plugins.module_utils import _sessions
from ansible_collections.vectorops.milvus.plugins.modules import milvus_sessions

from tests.unit.conftest import FIXTURES

LINES = (FIXTURES / "etcd_sessions_sandbox.txt").read_text().splitlines()
NODE1, NODE2, NODE3 = "10.213.0.11", "10.213.0.12", "10.213.0.13"


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, check_mode: bool = False, **params: Any):
        self.check_mode = check_mode
        self.params = {"root_path": "by-dev", "endpoints": [], "host": None, "role": None, "state": "read",
                       "before": None, "timeout": 60, "etcd_container": "etcd", **params}
        self.failed: dict[str, Any] = {}

    def fail_json(self, **kwargs: Any) -> None:
        self.failed = kwargs
        raise Failed(kwargs["msg"])


class FakeEtcd:
    """The captured sessions; a revocation removes every key on that lease, and `takeover`
    (applied after the first read that follows a revocation) is what the standbys then write."""

    def __init__(self, lines: list[str], takeover=None):
        self.lines = list(lines)
        self.revoked: list[str] = []
        self.reads = 0
        self.takeover = takeover

    def sessions(self, root_path: str) -> list[str]:
        assert root_path == "by-dev"
        self.reads += 1
        if self.revoked and self.takeover:
            self.lines = self.takeover(self.lines)
            self.takeover = None
        return list(self.lines)

    def revoke(self, lease: str) -> bool:
        pairs = list(zip(self.lines[::2], self.lines[1::2], strict=False))
        kept = [(k, v) for k, v in pairs
                if not v.startswith("{") or _sessions.lease_hex(json.loads(v)) != lease]
        if len(kept) == len(pairs):
            return False
        self.lines = [x for pair in kept for x in pair]
        self.revoked.append(lease)
        return True


def standbys_of_node2_take_over(lines: list[str]) -> list[str]:
    """node2's standbys write each vacant election key with their own session."""
    out = list(lines)
    pairs = dict(zip(lines[::2], lines[1::2], strict=False))
    for role in _sessions.MIXCOORD_ROLES:
        key = f"by-dev/meta/session/{role}"
        if key in pairs:
            continue
        standby = next(v for k, v in pairs.items() if k.startswith(key + "-") and NODE2 in v)
        out += [key, standby]
    return out


def test_read_changes_nothing_and_reports_the_handover():
    etcd = FakeEtcd(LINES)
    result = milvus_sessions.run(FakeModule(host=NODE1, role="mixcoord"), etcd)
    assert not result["changed"] and etcd.revoked == []
    assert result["handover"]["active_here"] == ["datacoord", "indexcoord", "querycoord", "rootcoord"]
    assert result["handover"]["no_standby"] == []
    assert {n["role"] for n in result["nodes"]} >= {"querynode", "proxy", "datanode", "indexnode"}
    assert all(n["id"] is not None for n in result["nodes"])
    assert any(s["id"] is None for s in result["sessions"])  # the election keys
    # a worker role has no handover
    assert milvus_sessions.run(FakeModule(host=NODE3, role="querynode"), FakeEtcd(LINES))["handover"] == {}


def test_ended_revokes_only_the_roles_sessions_at_that_host():
    etcd = FakeEtcd(LINES)
    qn3 = [n for n in _sessions.session_nodes(LINES)
           if n["role"] == "querynode" and n["address"].startswith(NODE3)]
    result = milvus_sessions.run(FakeModule(host=NODE3, role="querynode", state="ended"), etcd)
    assert result["changed"] and result["revoked"] == sorted(n["lease"] for n in qn3)
    left = _sessions.session_nodes(etcd.lines)
    assert not [n for n in left if n["role"] == "querynode" and n["address"].startswith(NODE3)]
    assert len(left) == len(_sessions.session_nodes(LINES)) - len(qn3)
    # again: the leases are gone, nothing changes
    assert not milvus_sessions.run(FakeModule(host=NODE3, role="querynode", state="ended"), etcd)["changed"]


def test_check_mode_reports_and_revokes_nothing():
    etcd = FakeEtcd(LINES)
    result = milvus_sessions.run(FakeModule(check_mode=True, host=NODE1, role="mixcoord", state="handed_over",
                                            before={"active_here": ["rootcoord"], "servers": [13]}), etcd)
    assert result["changed"] and result["revoked"] and etcd.revoked == [] and etcd.reads == 1


def test_handed_over_waits_until_the_standbys_hold_the_keys():
    before = milvus_sessions.run(FakeModule(host=NODE1, role="mixcoord"), FakeEtcd(LINES))["handover"]
    etcd = FakeEtcd(LINES, takeover=standbys_of_node2_take_over)
    now = [0.0]
    result = milvus_sessions.run(
        FakeModule(host=NODE1, role="mixcoord", state="handed_over", before=before), etcd,
        clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert result["pending"] == [] and result["changed"]
    after = _sessions.coordinator_handover(etcd.lines, NODE2)
    assert after["active_here"] == before["active_here"]


def test_handed_over_fails_in_one_line_when_no_standby_takes_over():
    before = milvus_sessions.run(FakeModule(host=NODE1, role="mixcoord"), FakeEtcd(LINES))["handover"]
    module = FakeModule(host=NODE1, role="mixcoord", state="handed_over", before=before, timeout=5)
    now = [0.0]
    with pytest.raises(Failed) as err:
        milvus_sessions.run(module, FakeEtcd(LINES), clock=lambda: now[0],
                            sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(
        "no standby took over datacoord, indexcoord, querycoord, rootcoord within 5 s")
    assert module.failed["pending"] == before["active_here"] and 5 <= module.failed["waited"] <= 6


@pytest.mark.parametrize(("params", "message"), [
    ({"state": "ended", "role": "proxy"}, "state=ended needs host"),
    ({"state": "ended"}, "state=ended needs host and role"),
    ({"state": "handed_over", "host": NODE1, "role": "mixcoord"}, "state=handed_over needs before"),
    ({"state": "handed_over", "host": NODE1, "role": "querynode",
      "before": {"active_here": [], "servers": []}},
     "state=handed_over is for a coordinator role"),
    ({"timeout": 0}, "timeout must be 1 to 3600 s"),
    ({"role": "query node"}, "is not a Milvus process role"),
])
def test_bad_arguments_are_one_line(params, message):
    problem = milvus_sessions.check_arguments(FakeModule(**params).params)
    assert message in problem and "\n" not in problem


def test_an_etcd_failure_is_one_line():
    class Broken:
        def run_command(self, args):
            return 1, "", "{\"level\":\"warn\"}\nError: context deadline exceeded\n"

    with pytest.raises(milvus_sessions.EtcdError,
                       match=r"^reading the sessions failed: Error: context deadline"):
        milvus_sessions.Etcd(Broken(), "etcd", []).sessions("by-dev")
    gone_module = type("M", (), {"run_command": lambda self, a: (1, "", "lease not found")})()
    gone = milvus_sessions.Etcd(gone_module, "e", [])
    assert gone.revoke("1a") is False
