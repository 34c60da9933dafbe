"""End-to-end: Molecule builds the three sandbox hosts, converges site.yml, checks idempotence,
check mode, a config change, and verifies the cluster for real (molecule/default)."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.conftest import ROOT, project_env

pytestmark = pytest.mark.e2e
STEP = re.compile(r"\[default > (\w+)\] Executing")


def test_molecule_cluster_scenario(images):
    """Streams molecule's output with elapsed times and prints how long each step took."""
    start = time.monotonic()
    steps: list[tuple[str, float]] = []
    tail: list[str] = []
    with subprocess.Popen(["molecule", "test", "-s", "default"], cwd=ROOT, env=project_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            elapsed = time.monotonic() - start
            if elapsed > 3000:
                proc.kill()
                pytest.fail("molecule test still running after 3000 s")
            match = STEP.search(line)
            if match:
                steps.append((match.group(1), elapsed))
            print(f"[{elapsed:7.1f}s] {line}", end="")
            tail = (tail + [line])[-200:]
        code = proc.wait()
    total = time.monotonic() - start
    ends = [t for _, t in steps[1:]] + [total]
    print("\nmolecule steps (wall seconds):")
    for (name, began), ended in zip(steps, ends, strict=True):
        print(f"  {name:12} {ended - began:7.1f}")
    print(f"  {'total':12} {total:7.1f}")
    assert code == 0, "".join(tail[-80:])
    assert [name for name, _ in steps] == ["destroy", "syntax", "create", "converge", "idempotence", "check",
                                           "side_effect", "verify", "destroy"]
