"""End-to-end: Molecule builds the three sandbox hosts, converges site.yml, checks idempotence,
check mode, a config change, and verifies the cluster for real (molecule/default).

Molecule's whole output goes to .cache/e2e/molecule.log with elapsed times; the seconds each
step took go to .cache/e2e/steps.txt (tools/test.sh prints it at the end of the suite)."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.conftest import ROOT, project_env
from tests.e2e.conftest import READY

pytestmark = pytest.mark.e2e
STEP = re.compile(r"\[default > (\w+)\] Executing")
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
# The cluster stays up for test_operations.py, which destroys it at its end.
SEQUENCE = ["destroy", "syntax", "create", "converge", "idempotence", "check", "side_effect", "verify"]


def test_molecule_cluster_scenario(images):
    out_dir = ROOT / ".cache" / "e2e"
    out_dir.mkdir(parents=True, exist_ok=True)
    READY.unlink(missing_ok=True)
    start = time.monotonic()
    steps: list[tuple[str, float]] = []
    recaps: dict[str, list[tuple[str, int]]] = {}
    tail: list[str] = []
    with open(out_dir / "molecule.log", "w", encoding="utf-8") as log, \
            subprocess.Popen(["molecule", "test", "-s", "default", "--destroy=never"], cwd=ROOT,
                             env=project_env(),
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
            recap = RECAP.match(line.strip())
            if recap and steps:
                recaps.setdefault(steps[-1][0], []).append((recap.group(1), int(recap.group(2))))
            log.write(f"[{elapsed:7.1f}s] {line}")
            tail = (tail + [line])[-200:]
        code = proc.wait()
    total = time.monotonic() - start
    ends = [t for _, t in steps[1:]] + [total]
    summary = ["molecule test, wall seconds per step:"]
    summary += [f"  {name:12} {ended - began:7.1f}" for (name, began), ended in zip(steps, ends, strict=True)]
    summary.append(f"  {'total':12} {total:7.1f}")
    (out_dir / "steps.txt").write_text("\n".join(summary) + "\n")
    print("\n".join(summary))
    assert code == 0, "".join(tail[-80:])
    assert [name for name, _ in steps] == SEQUENCE
    # The second converge and the check-mode run change nothing on any host.
    for step in ("idempotence", "check"):
        assert recaps.get(step), f"no play recap seen in the {step} step"
        changed = [(host, n) for host, n in recaps[step] if n != 0]
        assert not changed, f"{step}: hosts reported changes: {changed}"
    READY.write_text("molecule/default passed\n")
