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
                       "before": None, "timeout": 60, "stall_timeout": 15, "etcd_container": "etcd", **params}
        self.failed: dict[str, Any] = {}
        self.warnings: list[str] = []

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)

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


class StagedEtcd(FakeEtcd):
    """The standbys' moves, one stage per round of revocations: the first read after some lease
    was revoked applies the next stage (what the standbys then write)."""

    def __init__(self, lines: list[str], stages):
        super().__init__(lines)
        self.stages = list(stages)
        self.seen = 0

    def sessions(self, root_path: str) -> list[str]:
        if len(self.revoked) > self.seen and self.stages:
            self.seen = len(self.revoked)
            self.lines = self.stages.pop(0)(self.lines)
        return super().sessions(root_path)


def with_node3_standby(lines: list[str]) -> list[str]:
    """The capture plus a third mixcoord on node3, standing by: node2's standby sessions copied
    under another server id and lease, as node3's own process would register them."""
    out = list(lines)
    for key, value in zip(lines[::2], lines[1::2], strict=False):
        info = json.loads(value) if value.startswith("{") else {}
        if key.split("/")[-1].split("-")[0] in _sessions.MIXCOORD_ROLES and "-" in key.split("/")[-1] \
                and NODE2 in info.get("Address", ""):
            role = key.split("/")[-1].split("-")[0]
            info.update(ServerID=99, LeaseID=7000000000000000099, HostName="node3",
                        Address=info["Address"].replace(NODE2, NODE3))
            out += [f"by-dev/meta/session/{role}-99", json.dumps(info)]
    return out


def take_keys(host: str, keys: tuple[str, ...]):
    """A stage: the standby at `host` writes these vacant election keys with its own sessions."""
    def stage(lines: list[str]) -> list[str]:
        pairs = dict(zip(lines[::2], lines[1::2], strict=False))
        out = list(lines)
        for role in keys:
            key = f"by-dev/meta/session/{role}"
            if key not in pairs:
                out += [key, next(v for k, v in pairs.items() if k.startswith(key + "-") and host in v)]
        return out
    return stage


HALF = ("datacoord", "querycoord", "rootcoord")  # node2's mixcoord stalls before indexcoord


def fake_clock():
    now = [0.0]
    return {"clock": lambda: now[0], "sleep": lambda s: now.__setitem__(0, now[0] + s)}


def test_a_standby_that_stalls_half_way_is_ended_and_another_takes_over():
    lines = with_node3_standby(LINES)
    before = milvus_sessions.run(FakeModule(host=NODE1, role="mixcoord"), FakeEtcd(lines))["handover"]
    etcd = StagedEtcd(lines, [take_keys(NODE2, HALF), take_keys(NODE3, _sessions.MIXCOORD_ROLES)])
    module = FakeModule(host=NODE1, role="mixcoord", state="handed_over", before=before, stall_timeout=15)
    result = milvus_sessions.run(module, etcd, **fake_clock())
    assert result["pending"] == [] and result["stalled"] == [
        {"server": 17, "host": NODE2, "holds": list(HALF), "vacant": ["indexcoord"]}]
    assert 15 <= result["waited"] < 20, result["waited"]
    node2 = sorted({s["lease"] for s in _sessions.parse(lines) if s["server"] == 17})
    assert set(node2) <= set(result["revoked"]) and set(node2) <= set(etcd.revoked)
    after = _sessions.coordinator_handover(etcd.lines, NODE3)
    assert after["active_here"] == sorted(_sessions.MIXCOORD_ROLES)
    (warning,) = module.warnings
    assert "\n" not in warning and warning.startswith(
        "the standby 17 at 10.213.0.12 took datacoord, querycoord, rootcoord and left indexcoord vacant "
        "for 15 s")


def test_without_the_stall_timeout_the_half_way_standby_holds_the_handover_up():
    # The check above can fail: with stall_timeout 0 the same standby keeps its keys and the
    # wait ends in its one-line failure, naming the key left vacant.
    lines = with_node3_standby(LINES)
    before = milvus_sessions.run(FakeModule(host=NODE1, role="mixcoord"), FakeEtcd(lines))["handover"]
    etcd = StagedEtcd(lines, [take_keys(NODE2, HALF), take_keys(NODE3, _sessions.MIXCOORD_ROLES)])
    module = FakeModule(host=NODE1, role="mixcoord", state="handed_over", before=before, stall_timeout=0)
    with pytest.raises(Failed, match=r"^no standby took over indexcoord within 60 s of ending the mixcoord "
                                     r"sessions at 10\.213\.0\.11$"):
        milvus_sessions.run(module, etcd, **fake_clock())
    assert module.failed["stalled"] == [] and module.warnings == []


def test_a_stalled_standby_with_no_other_to_take_over_is_named_in_the_failure():
    before = milvus_sessions.run(FakeModule(host=NODE1, role="mixcoord"), FakeEtcd(LINES))["handover"]
    etcd = StagedEtcd(LINES, [take_keys(NODE2, HALF)])
    module = FakeModule(host=NODE1, role="mixcoord", state="handed_over", before=before, timeout=30,
                        stall_timeout=10)
    with pytest.raises(Failed) as err:
        milvus_sessions.run(module, etcd, **fake_clock())
    assert str(err.value) == (
        "no standby took over datacoord, indexcoord, querycoord, rootcoord within 30 s of ending the "
        "mixcoord sessions at 10.213.0.11; the stalled standby 17 at 10.213.0.12 was ended")
    assert len(module.failed["stalled"]) == 1  # ended once, not again on each later stall


def test_partial_takeovers_are_new_servers_holding_some_keys_while_others_are_vacant():
    lines = with_node3_standby(LINES)
    before = _sessions.coordinator_handover(lines, NODE1, roles=list(_sessions.MIXCOORD_ROLES))
    # before the revocation: every key held by the old server, nothing vacant
    assert _sessions.partial_takeovers(lines, before) == []
    revoked = FakeEtcd(lines)
    for lease in before["leases"]:
        revoked.revoke(lease)
    # every key vacant, nobody holds any: nothing to end
    assert _sessions.partial_takeovers(revoked.lines, before) == []
    half = take_keys(NODE2, HALF)(revoked.lines)
    (stuck,) = _sessions.partial_takeovers(half, before)
    assert (stuck["server"], stuck["host"], stuck["vacant"]) == (17, NODE2, ["indexcoord"])
    assert stuck["holds"] == list(HALF)
    # a whole takeover is not partial
    whole = take_keys(NODE2, _sessions.MIXCOORD_ROLES)(revoked.lines)
    assert _sessions.partial_takeovers(whole, before) == []


@pytest.mark.parametrize(("params", "message"), [
    ({"state": "ended", "role": "proxy"}, "state=ended needs host"),
    ({"state": "ended"}, "state=ended needs host and role"),
    ({"state": "handed_over", "host": NODE1, "role": "mixcoord"}, "state=handed_over needs before"),
    ({"state": "handed_over", "host": NODE1, "role": "querynode",
      "before": {"active_here": [], "servers": []}},
     "state=handed_over is for a coordinator role"),
    ({"timeout": 0}, "timeout must be 1 to 3600 s"),
    ({"stall_timeout": -1}, "stall_timeout must be 0 to 3600 s"),
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
