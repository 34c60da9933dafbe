"""The docker role's vectorops-compose-wait, run against a stand-in `docker` on PATH that plays
back container states (the real command runs in every sandbox converge and rolling restart)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "roles" / "docker" / "files" / "vectorops-compose-wait"

FAKE_DOCKER = """#!/bin/bash
# `docker compose ... ps -aq`: the ids in $STATES_DIR/ids (fails when $STATES_DIR/ps_fails exists);
# the n-th `docker inspect`: $STATES_DIR/states.n, or the last one there is.
if [ "$1" = compose ]; then
  [ -f "$STATES_DIR/ps_fails" ] && { echo "no configuration file provided"; exit 1; }
  cat "$STATES_DIR/ids"; exit 0
fi
n=$(cat "$STATES_DIR/calls" 2>/dev/null || echo 0); echo $((n + 1)) > "$STATES_DIR/calls"
while [ "$n" -gt 0 ] && [ ! -f "$STATES_DIR/states.$n" ]; do n=$((n - 1)); done
cat "$STATES_DIR/states.$n"
"""


@pytest.fixture
def fake(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "project").mkdir()

    def run(ids: str, states: list[str], timeout: int = 10, ps_fails: bool = False):
        (tmp_path / "ids").write_text(ids)
        for i, group in enumerate(states):
            (tmp_path / f"states.{i}").write_text(group + "\n")
        (tmp_path / "calls").unlink(missing_ok=True)
        if ps_fails:
            (tmp_path / "ps_fails").touch()
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", STATES_DIR=str(tmp_path))
        return subprocess.run([str(SCRIPT), str(tmp_path / "project"), str(timeout)], env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    return run


def test_waits_through_a_start_that_is_unhealthy_for_a_while(fake):
    done = fake("a\nb\n", ["/etcd starting\n/x running", "/etcd unhealthy\n/x running",
                           "/etcd healthy\n/x running"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["/etcd healthy", "/x running"]


def test_the_time_bound_fails_with_one_line_naming_the_states(fake):
    done = fake("a\n", ["/kafka unhealthy"], timeout=0)
    assert done.returncode == 1
    assert done.stderr.strip() == "not healthy within 0 s: /kafka unhealthy"


def test_a_failing_compose_is_not_taken_for_healthy(fake):
    done = fake("", [""], timeout=0, ps_fails=True)
    assert done.returncode == 1 and "docker compose ps failed: no configuration file" in done.stderr


def test_a_project_without_containers_has_nothing_to_wait_for(fake):
    done = fake("", [""])
    assert (done.returncode, done.stdout.strip()) == (0, "no containers")


@pytest.mark.parametrize("args", [[], ["/tmp"], ["/tmp", "ten"]])
def test_bad_arguments_say_how_to_call_it(args):
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 2 and done.stderr.startswith("usage: vectorops-compose-wait")
