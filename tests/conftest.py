"""Shared helpers for every tier: where the checkout, its venv and its tools are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The collection as ansible_collections.vectorops.milvus (collections/ansible_collections/
# vectorops/milvus links back to the checkout), for the tiers that import its plugins.
if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))
VENV_BIN = ROOT / ".venv" / "bin"
# The suite's own sandbox hosts: never the user's inventories/sandbox (see tools/test.sh).
TEST_INVENTORY = ROOT / "inventories" / "test"


def _made_hosts(inventory: Path, spare: bool) -> dict[str, dict[str, str]]:
    """host name -> {"container", "ip"} of the hosts a sandbox inventory's hosts.yml makes: the
    group sandbox_hosts' own, or its child sandbox_spare's."""
    import yaml

    made = yaml.safe_load((inventory / "hosts.yml").read_text())["all"]["children"]["sandbox_hosts"]
    if spare:
        made = (made.get("children") or {}).get("sandbox_spare") or {}
    return {name: {"container": h["ansible_host"], "ip": h["sandbox_ip"]}
            for name, h in (made.get("hosts") or {}).items()}


def inventory_hosts(inventory: Path = TEST_INVENTORY) -> dict[str, dict[str, str]]:
    """host name -> {"container", "ip"} of a sandbox inventory's hosts (its hosts.yml)."""
    return _made_hosts(inventory, spare=False)


def spare_hosts(inventory: Path = TEST_INVENTORY) -> dict[str, dict[str, str]]:
    """host name -> {"container", "ip"} of a sandbox inventory's spare hosts (sandbox_spare: made
    with the others, in no group of the cluster until an operation puts them in one)."""
    return _made_hosts(inventory, spare=True)


def project_env(**extra: str) -> dict[str, str]:
    """Environment for ansible/molecule subprocesses: the venv first, the checkout's config."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    # The test hosts share their names (node1..3) with the user's sandbox: their facts are
    # cached apart, so a test run never overwrites what the user's playbooks cached.
    env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(ROOT / ".cache" / "test-facts")
    env["SANDBOX_INVENTORY"] = str(TEST_INVENTORY.relative_to(ROOT))
    env.update(extra)
    return env


def run(cmd: list[str], timeout: float = 600, check: bool = False, **kw) -> subprocess.CompletedProcess:
    """Run a command from the checkout root, capture text output, bound it in time."""
    res = subprocess.run(cmd, cwd=ROOT, env=kw.pop("env", project_env()), capture_output=True,
                         text=True, timeout=timeout, check=False, **kw)
    if check and res.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {res.returncode}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res


def compose_config(path: Path) -> subprocess.CompletedProcess:
    """`docker compose config --quiet` of one compose file, as the roles' `validate:` runs it on
    the hosts, with the Compose v2 CLI that tools/compose-cli.sh fetches (Debian 13's, the
    hosts' own; the controller's Debian 12 has only Compose v1)."""
    cli = ROOT / ".cache" / "tools" / "docker-compose"
    if not cli.exists():
        run(["bash", "tools/compose-cli.sh"], timeout=300, check=True)
    return run([str(cli), "-f", str(path), "config", "--quiet"], timeout=60)


def module_command(module: str, args: dict, python: str | None = None) -> list[str]:
    """`ansible localhost -m vectorops.milvus.<module> -a <json>`, run with the venv's python."""
    import json

    return [
        str(VENV_BIN / "ansible"),
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={python or VENV_BIN / 'python'}",
        "-m",
        f"vectorops.milvus.{module}",
        "-a",
        json.dumps(args),
    ]


def lockstep(data: dict) -> dict:
    """The JSON callback's document with one entry per task, as under Ansible's linear strategy.

    The callback writes an entry per task and host when the play's strategy is not one it knows
    to run in lockstep, and Mitogen's linear strategy (ansible.cfg) is not among them: the
    entries of one task, one after another, are merged back into one."""
    for play in data.get("plays", []):
        merged: list[dict] = []
        for task in play.get("tasks", []):
            if merged and merged[-1]["task"]["id"] == task["task"]["id"]:
                merged[-1]["hosts"].update(task["hosts"])
                # The hosts ran side by side: the task ended when its last host did (the
                # callback's stamps are ISO 8601 in UTC, which sort as text).
                span = merged[-1]["task"]["duration"]
                ends = [e for e in (span.get("end"), task["task"]["duration"].get("end")) if e]
                if ends:
                    span["end"] = max(ends)
            else:
                merged.append(task)
        play["tasks"] = merged
    return data


def ansible_json(
    cmd: list[str], timeout: float = 600, *, drop: tuple[str, ...] = (), **extra_env: str
) -> tuple[subprocess.CompletedProcess, dict]:
    """Run an ansible or ansible-playbook command with the JSON stdout callback; its parsed output.
    `extra_env` is added to the environment and the variables named in `drop` are removed."""
    import json

    env = project_env(
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        **extra_env,
    )
    for var in drop:
        env.pop(var, None)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    # Some modules (pause, prompts) print to stdout before the callback's document.
    start = 0 if proc.stdout.startswith("{") else proc.stdout.find("\n{") + 1
    try:
        return proc, lockstep(json.loads(proc.stdout[start:]))
    except ValueError as exc:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        raise AssertionError(f"no JSON output ({exc}):\n{tail}") from None


@pytest.fixture(scope="session")
def images() -> dict:
    """Every local image built (or reused from the cache); the manifest of their archives."""
    import json

    run(["bash", "tools/engine.sh"], timeout=600, check=True)
    run([str(VENV_BIN / "python"), "tools/images.py", "build", "--all"], timeout=3600, check=True)
    return json.loads((ROOT / ".cache/images/manifest.json").read_text())
