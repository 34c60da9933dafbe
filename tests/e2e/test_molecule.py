"""End-to-end: Molecule builds the three sandbox hosts, converges site.yml, checks idempotence,
check mode, a config change, and verifies the cluster for real (molecule/default)."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import run

pytestmark = pytest.mark.e2e


def test_molecule_cluster_scenario(images):
    start = time.monotonic()
    res = run(["molecule", "test", "-s", "default"], timeout=3000)
    took = time.monotonic() - start
    output = res.stdout + res.stderr
    print(output[-20000:])
    print(f"molecule test took {took:.0f} s")
    assert res.returncode == 0, output[-6000:]
    recaps = re.findall(r"changed=(\d+)", output)
    assert recaps, "no play recap in molecule's output"
