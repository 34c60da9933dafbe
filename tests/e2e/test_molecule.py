"""End-to-end: each Molecule scenario builds its three sandbox hosts, converges site.yml, checks
idempotence (the Pulsar scenario; the default one's second converge is the operations tests' last
site.yml) and check mode, and verifies the cluster for real.

- pulsar (molecule/pulsar): Milvus on Pulsar, its own sandbox network and host names; first,
  and it removes its hosts at its end, so the two clusters never run at once
  (`make test-pulsar` runs it alone; VECTOROPS_E2E_PULSAR=0 leaves it out, reported as skipped).
- default (molecule/default): Kafka; also a config change that restarts only the query nodes.
  It leaves the cluster up for test_operations.py, which destroys it at its end.

Molecule's whole output goes to .cache/e2e/molecule[-SCENARIO].log with elapsed times; the
seconds each step took go to .cache/e2e/steps[-SCENARIO].txt (tools/test.sh prints them)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from tests.conftest import ROOT, project_env
from tests.e2e.conftest import READY

pytestmark = pytest.mark.e2e
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
# scenario -> (its test sequence, wall-clock budget in seconds)
SCENARIOS = {
    "pulsar": (["destroy", "create", "converge", "idempotence", "verify", "destroy"], 3000),
    # The default scenario's second converge is the scale test's last site.yml (test_operations.py).
    "default": (["destroy", "syntax", "create", "converge", "side_effect", "verify"], 3000),
}
# The default scenario keeps its cluster for test_operations.py.
KEEP = {"default"}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_molecule_scenario(images, scenario):
    if scenario != "default" and os.environ.get("VECTOROPS_E2E_PULSAR") == "0":
        pytest.skip(f"the {scenario} scenario is left out (VECTOROPS_E2E_PULSAR=0)")
    sequence, budget = SCENARIOS[scenario]
    suffix = "" if scenario == "default" else f"-{scenario}"
    step_line = re.compile(rf"\[{scenario} > (\w+)\] Executing")
    out_dir = ROOT / ".cache" / "e2e"
    out_dir.mkdir(parents=True, exist_ok=True)
    if scenario in KEEP:
        READY.unlink(missing_ok=True)
    # Molecule keeps its instance state under ~/.ansible/tmp, keyed by the checkout folder's name
    # only: another checkout called "main" (or a run kept by --destroy=never) had left
    # "created: true" there, and create was skipped for hosts that no longer existed. Here the
    # state lives in this checkout and starts empty, as the hosts do.
    state_dir = ROOT / ".cache" / "molecule" / scenario
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    start = time.monotonic()
    steps: list[tuple[str, float]] = []
    recaps: dict[str, list[tuple[str, int]]] = {}
    tail: list[str] = []
    with open(out_dir / f"molecule{suffix}.log", "w", encoding="utf-8") as log, \
            subprocess.Popen(["molecule", "test", "-s", scenario]
                             + (["--destroy=never"] if scenario in KEEP else []), cwd=ROOT,
                             env=project_env(MOLECULE_EPHEMERAL_DIRECTORY=str(state_dir)),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True) as proc:
        assert proc.stdout is not None
        # A watchdog, not a check per output line: a silent hang is stopped too. It kills
        # molecule's whole process group: an ansible-playbook child left holding the pipe would
        # keep the read loop below waiting after molecule alone was killed.
        watchdog = threading.Timer(budget, os.killpg, (proc.pid, signal.SIGKILL))
        watchdog.start()
        for line in proc.stdout:
            elapsed = time.monotonic() - start
            match = step_line.search(line)
            if match:
                steps.append((match.group(1), elapsed))
            recap = RECAP.match(line.strip())
            if recap and steps:
                recaps.setdefault(steps[-1][0], []).append((recap.group(1), int(recap.group(2))))
            log.write(f"[{elapsed:7.1f}s] {line}")
            tail = (tail + [line])[-200:]
        code = proc.wait()
        expired = watchdog.finished.is_set()  # set only when it fired (cancel comes after)
        watchdog.cancel()
    if expired:
        pytest.fail(f"molecule test -s {scenario} still running after {budget} s: killed")
    total = time.monotonic() - start
    ends = [t for _unused, t in steps[1:]] + [total]
    summary = [f"molecule test -s {scenario}, wall seconds per step:"]
    summary += [f"  {name:12} {ended - began:7.1f}" for (name, began), ended in zip(steps, ends, strict=True)]
    summary.append(f"  {'total':12} {total:7.1f}")
    (out_dir / f"steps{suffix}.txt").write_text("\n".join(summary) + "\n")
    print("\n".join(summary))
    assert code == 0, "".join(tail[-80:])
    assert [name for name, _unused in steps] == sequence
    # The second converge and the check-mode run (where the scenario has one) change nothing.
    for step in [s for s in ("idempotence", "check") if s in sequence]:
        assert recaps.get(step), f"no play recap seen in the {step} step"
        changed = [(host, n) for host, n in recaps[step] if n != 0]
        assert not changed, f"{step}: hosts reported changes: {changed}"
    if scenario in KEEP:
        READY.write_text(f"molecule/{scenario} passed\n")
