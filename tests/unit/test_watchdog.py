"""roles/watchdog/files/vectorops_watchdog.py: when a container that stays unhealthy is
restarted, and when the loop guard leaves it alone (pure decisions, no Docker)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "roles" / "watchdog" / "files" / "vectorops_watchdog.py"
_SPEC = importlib.util.spec_from_file_location("vectorops_watchdog", _PATH)
assert _SPEC and _SPEC.loader
watchdog = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(watchdog)

CFG = {"unhealthy_seconds": 120, "max_restarts_per_hour": 3}
QC = "vectorops-milvus-mixcoord-1"


def run(times, unhealthy_at, state=None):
    """Runs decide at each time with the containers unhealthy then; returns every action and the state."""
    state = state or {}
    seen = []
    for now in times:
        actions, state = watchdog.decide(now, unhealthy_at(now), state, CFG)
        seen += [(now, *a) for a in actions]
    return seen, state


def test_restarted_once_unhealthy_for_the_whole_window():
    seen, state = run(range(0, 181, 30), lambda now: {QC})
    assert [(t, kind, name) for t, kind, name, _d in seen] == [(120, "restart", QC)]
    assert seen[0][3].startswith("unhealthy for 120 s: restart 1 of at most 3 an hour")
    assert state["restarts"] == {QC: [120]} and state["since"] == {QC: 120}


def test_a_container_healthy_again_starts_a_new_window():
    # unhealthy 0-90 s, healthy at 120 s, unhealthy again from 150 s: no restart before 270 s
    seen, _state = run(range(0, 301, 30), lambda now: set() if now == 120 else {QC})
    assert [(t, kind) for t, kind, _n, _d in seen] == [(270, "restart")]


def test_the_loop_guard_holds_after_the_hourly_bound_and_says_so_once():
    seen, state = run(range(0, 1201, 30), lambda now: {QC})
    kinds = [(t, kind) for t, kind, _n, _d in seen]
    assert kinds == [(120, "restart"), (240, "restart"), (360, "restart"), (480, "hold")]
    assert "restarted 3 times in the last hour" in seen[-1][3]
    assert state["held"] == {QC: 480}


def test_restarts_older_than_an_hour_no_longer_count():
    _seen, state = run(range(0, 481, 30), lambda now: {QC})
    later, state = run([120 + 3600, 120 + 3630], lambda now: {QC}, state)
    assert [(t, kind) for t, kind, _n, _d in later] == [(3720, "restart")]
    assert state["held"] == {}
    assert state["restarts"][QC] == [240, 360, 3720]


def test_only_the_unhealthy_containers_are_kept_in_the_state():
    other = "vectorops-kafka-kafka-1"
    _seen, state = run([0, 30], lambda now: {QC, other} if now == 0 else {QC})
    assert set(state["since"]) == {QC}


class Peers:
    """claim() as the cluster's etcd answers it: one host's claim on a name lives gap seconds."""

    def __init__(self, gap):
        self.gap, self.claims = gap, {}

    def host(self, name, clock):
        def claim(container):
            holder, at = self.claims.get(container, (None, -1e9))
            if holder not in (None, name) and clock() - at < self.gap:
                return False, holder, f"{holder} restarted it {clock() - at:.0f} s ago"
            self.claims[container] = (name, clock())
            return True, "", ""
        return claim


def test_the_same_container_unhealthy_on_every_host_is_restarted_one_host_at_a_time():
    # A broken check on all three hosts at once: without the claims all three restart at 120 s.
    peers, now = Peers(gap=300), [0]
    states = {h: {} for h in ("node1", "node2", "node3")}
    seen = []
    for t in range(0, 1201, 30):
        now[0] = t
        for host in states:
            claim = peers.host(host, lambda: now[0])
            actions, states[host] = watchdog.decide(t, {QC}, states[host], CFG, claim)
            seen += [(t, host, kind) for kind, _n, _d in actions]
    # node1 restarts it up to its loop guard (its own claim is renewed each time); the others wait
    # until the gap after its last restart, and say so once per host they wait for
    restarts = [(t, host) for t, host, kind in seen if kind == "restart"]
    assert restarts == [(120, "node1"), (240, "node1"), (360, "node1"), (660, "node2"), (780, "node2"),
                        (900, "node2"), (1200, "node3")]
    defers = [(t, host) for t, host, kind in seen if kind == "defer"]
    assert defers == [(120, "node2"), (120, "node3"), (660, "node3")]


def test_a_deferral_keeps_the_window_and_counts_no_restart():
    def busy(_name):
        return False, "node3", "node3 restarted it 20 s ago"

    actions, state = watchdog.decide(120, {QC}, {"since": {QC: 0}}, CFG, busy)
    assert actions == [("defer", QC, "unhealthy for 120 s: restart deferred: node3 restarted it 20 s ago")]
    assert state["restarts"] == {} and state["since"] == {QC: 0} and state["deferred"] == {QC: "node3"}
    again, state = watchdog.decide(150, {QC}, state, CFG, busy)
    assert again == []
    later, state = watchdog.decide(180, {QC}, state, CFG)
    assert [kind for kind, _n, _d in later] == ["restart"] and state["deferred"] == {}


def test_the_metrics_name_each_container():
    _seen, state = run(range(0, 1201, 30), lambda now: {QC})
    text = watchdog.metrics(1200, {QC}, state)
    assert "vectorops_watchdog_last_run_timestamp_seconds 1200\n" in text
    assert f'vectorops_watchdog_restarts_last_hour{{container="{QC}"}} 3\n' in text
    assert f'vectorops_watchdog_held{{container="{QC}"}} 1\n' in text
    assert f'vectorops_watchdog_unhealthy_seconds{{container="{QC}"}} 840\n' in text
    text = watchdog.metrics(1200, {QC}, dict(state, deferred={QC: "node3 1100.0"}))
    assert f'vectorops_watchdog_deferred{{container="{QC}"}} 1\n' in text


def setup_run(tmp_path, monkeypatch, unhealthy, started_at):
    """main() with a config in tmp_path, the watched containers given, and docker restart recorded."""
    import json
    import subprocess
    import sys

    cfg = dict(CFG, project_pattern="^vectorops-", stop_timeout=5, pause_max_seconds=600,
               state_dir=str(tmp_path), metrics_file=str(tmp_path / "watchdog.prom"))
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    (tmp_path / "state.json").write_text(json.dumps({"since": {n: started_at for n in unhealthy}}))
    restarted = []

    def fake_run(argv, **_kw):
        restarted.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(watchdog, "watched_unhealthy", lambda pattern: set(unhealthy))
    monkeypatch.setattr(watchdog.subprocess, "run", fake_run)
    monkeypatch.setattr(sys, "argv", ["vectorops_watchdog.py", str(tmp_path / "cfg.json")])
    return restarted


def test_main_restarts_with_the_stop_timeout_and_says_so(tmp_path, monkeypatch, capsys):
    import time

    restarted = setup_run(tmp_path, monkeypatch, {QC}, time.time() - 200)
    assert watchdog.main() == 0
    assert restarted == [["docker", "restart", "-t", "5", QC]]
    out = capsys.readouterr().out
    assert out.startswith(f"{QC}: unhealthy for 200 s: restart 1 of at most 3 an hour: restarted")
    assert "vectorops_watchdog_restarts_last_hour" in (tmp_path / "watchdog.prom").read_text()


def test_a_pause_file_stops_every_action_until_it_is_too_old(tmp_path, monkeypatch, capsys):
    import os
    import time

    restarted = setup_run(tmp_path, monkeypatch, {QC}, time.time() - 200)
    pause = tmp_path / "pause"
    pause.touch()
    assert watchdog.main() == 0 and restarted == [] and capsys.readouterr().out == ""
    os.utime(pause, (time.time() - 700, time.time() - 700))
    assert watchdog.main() == 0 and len(restarted) == 1
    assert "is 700 s old (pause_max_seconds 600): ignored" in capsys.readouterr().out


def test_a_restart_that_hangs_is_said_and_still_counts_for_the_loop_guard(tmp_path, monkeypatch, capsys):
    import json
    import subprocess
    import time

    setup_run(tmp_path, monkeypatch, {QC}, time.time() - 200)

    def hangs(argv, **kw):
        raise subprocess.TimeoutExpired(argv, kw["timeout"])

    monkeypatch.setattr(watchdog.subprocess, "run", hangs)
    assert watchdog.main() == 1
    assert capsys.readouterr().out.rstrip().endswith(": docker restart failed: no answer after 125 s")
    assert len(json.loads((tmp_path / "state.json").read_text())["restarts"][QC]) == 1
