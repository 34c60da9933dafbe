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

# What the script must ask `docker inspect` for: each container's name and health (or state).
INSPECT_FORMAT = "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"

FAKE_DOCKER = """#!/bin/bash
# Records every call in $STATES_DIR/calls.log (its working directory, then one argument per
# field, fields separated by a tab) and checks it:
# `docker compose -f compose.yml ps -aq`: the ids in $STATES_DIR/ids (fails when
# $STATES_DIR/ps_fails exists);
# `docker inspect -f FORMAT ID...`: the n-th call prints $STATES_DIR/states.n, or the last one
# there is; exit 3 when FORMAT is not $INSPECT_FORMAT or the ids are not those of `ps`.
(IFS=$'\\t'; echo "$PWD"$'\\t'"$*") >> "$STATES_DIR/calls.log"
if [ "$1" = compose ]; then
  [ "$*" = "compose -f compose.yml ps -aq" ] || { echo "unexpected: $*" >&2; exit 3; }
  [ -f "$STATES_DIR/ps_fails" ] && { echo "no configuration file provided"; exit 1; }
  cat "$STATES_DIR/ids"; exit 0
fi
[ "$1" = inspect ] && [ "$2" = -f ] && [ "$3" = "$INSPECT_FORMAT" ] || { echo "unexpected: $*" >&2; exit 3; }
shift 3
[ "$*" = "$(tr '\\n' ' ' < "$STATES_DIR/ids" | sed 's/ *$//')" ] || { echo "unexpected ids: $*" >&2; exit 3; }
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
    project = tmp_path / "project"
    project.mkdir()

    def run(ids: str, states: list[str], timeout: int = 10, ps_fails: bool = False):
        (tmp_path / "ids").write_text(ids)
        for i, group in enumerate(states):
            (tmp_path / f"states.{i}").write_text(group + "\n")
        (tmp_path / "calls").unlink(missing_ok=True)
        (tmp_path / "calls.log").unlink(missing_ok=True)
        if ps_fails:
            (tmp_path / "ps_fails").touch()
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", STATES_DIR=str(tmp_path),
                   INSPECT_FORMAT=INSPECT_FORMAT)
        done = subprocess.run([str(SCRIPT), str(project), str(timeout)], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        log = tmp_path / "calls.log"
        lines = log.read_text().splitlines() if log.exists() else []
        calls = [line.split("\t") for line in lines]
        assert {c[0] for c in calls} <= {str(project)}, "docker must run in the project directory"
        done.calls = [c[1:] for c in calls]
        return done

    return run


PS = ["compose", "-f", "compose.yml", "ps", "-aq"]


def inspect(*ids: str) -> list[str]:
    return ["inspect", "-f", INSPECT_FORMAT, *ids]


def test_waits_through_a_start_that_is_unhealthy_for_a_while(fake):
    done = fake("a\nb\n", ["/etcd starting\n/x running", "/etcd unhealthy\n/x running",
                           "/etcd healthy\n/x running"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["/etcd healthy", "/x running"]
    # one ps and one inspect of both containers per round, until the third round is healthy
    assert done.calls == [PS, inspect("a", "b")] * 3


def test_the_time_bound_fails_with_one_line_naming_the_states(fake):
    done = fake("a\n", ["/kafka unhealthy"], timeout=0)
    assert done.returncode == 1
    assert done.stderr.strip() == "not healthy within 0 s: /kafka unhealthy"
    assert done.calls == [PS, inspect("a")]


def test_a_failing_compose_is_not_taken_for_healthy(fake):
    done = fake("", [""], timeout=0, ps_fails=True)
    assert done.returncode == 1 and "docker compose ps failed: no configuration file" in done.stderr
    assert done.calls == [PS]  # nothing to inspect


def test_a_project_without_containers_has_nothing_to_wait_for(fake):
    done = fake("", [""])
    assert (done.returncode, done.stdout.strip()) == (0, "no containers")
    assert done.calls == [PS]


@pytest.mark.parametrize("args", [[], ["/tmp"], ["/tmp", "ten"]])
def test_bad_arguments_say_how_to_call_it(args):
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 2 and done.stderr.startswith("usage: vectorops-compose-wait")
