"""Integration tier: a real Milvus 2.3.5 standalone (PyPI wheel) for the whole session.

The modules are driven through Ansible (`ansible localhost -m vectorops.milvus.<module>`, JSON
callback) exactly as an operator would run them; pymilvus is only used here to seed data and to
cross-check the modules' answers against the server's own.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import Milvus  # noqa: E402

from tests.conftest import VENV_BIN, ansible_json, module_command  # noqa: E402
from tests.integration.capture_fixtures import seed_collection  # noqa: E402
from tests.integration.milvus_server import ROOT_PASSWORD, Standalone, free_ports  # noqa: E402

BALANCED = "it_balance"  # four sealed segments: 1500, 1000, 700 and 300 rows, loaded
UNLOADED = "it_unloaded"  # one sealed segment of 200 rows, indexed, never loaded


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@dataclass
class ModuleRun:
    """One module run through Ansible: its result dict and the raw process output."""

    rc: int
    result: dict[str, Any]
    stdout: str = ""
    stderr: str = ""
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed"))

    def assert_clean_failure(self, *fragments: str) -> str:
        """Failed, with a one-line message containing `fragments`, no traceback anywhere."""
        msg = self.result.get("msg", "")
        assert self.failed and self.rc != 0, self.result
        assert "\n" not in msg, msg
        assert "Traceback" not in self.stdout + self.stderr, self.stdout[-2000:] + self.stderr[-2000:]
        assert self.result.get("exception", "(traceback unavailable)") == "(traceback unavailable)"
        assert "module_stderr" not in self.result, self.result.get("module_stderr")
        for frag in fragments:
            assert frag in msg, msg
        return msg


def run_module(
    module: str, args: dict[str, Any], *, check: bool = False, diff: bool = False, timeout: float = 300
) -> ModuleRun:
    """`ansible localhost -m vectorops.milvus.<module> -a <json>` with the JSON stdout callback."""
    cmd = module_command(module, args)
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    proc, data = ansible_json(cmd, timeout)
    try:
        result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (KeyError, IndexError) as exc:
        raise AssertionError(
            f"no JSON result ({exc}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        ) from None
    return ModuleRun(proc.returncode, result, proc.stdout, proc.stderr, args)


def run_tasks(
    tasks: list[tuple[str, dict[str, Any], bool]], *, diff: bool = False, timeout: float = 600
) -> list[ModuleRun]:
    """Several module runs in one playbook (one Ansible start-up): (module, args, check_mode) each.

    Every task has ignore_errors, so each result stands alone; a failed one gets rc 2.
    """
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "connection": "local",
            "vars": {"ansible_python_interpreter": str(VENV_BIN / "python")},
            "tasks": [
                {
                    "name": f"task {i}",
                    f"vectorops.milvus.{module}": args,
                    "check_mode": check,
                    "diff": diff,
                    "ignore_errors": True,
                }
                for i, (module, args, check) in enumerate(tasks)
            ],
        }
    ]
    with tempfile.NamedTemporaryFile(
        "w", suffix=".yml", dir=ROOT / "tests" / "integration", delete=False
    ) as fh:
        json.dump(play, fh)
    try:
        proc, data = ansible_json([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", fh.name], timeout)
    finally:
        Path(fh.name).unlink()
    try:
        results = [t["hosts"]["localhost"] for t in data["plays"][0]["tasks"]]
    except (KeyError, IndexError) as exc:
        raise AssertionError(
            f"no JSON results ({exc}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        ) from None
    assert len(results) == len(tasks), proc.stdout[-3000:]
    return [
        ModuleRun(2 if r.get("failed") else 0, r, proc.stdout, proc.stderr, args)
        for r, (_unused, args, _unused) in zip(results, tasks, strict=True)
    ]


@pytest.fixture(scope="package")
def milvus_server(tmp_path_factory: pytest.TempPathFactory):
    """A standalone with authorization on and automatic compaction off, on free ports; stopped
    after the integration tier (package scope), so it takes no CPU from the e2e tier's cluster."""
    srv = Standalone(tmp_path_factory.mktemp("milvus-standalone"), authorization=True, auto_compaction=False)
    srv.start(timeout=240)
    yield srv
    srv.stop(grace=3)


TEST_PASSWORD = "it-R00t-pw-7731"  # not "Milvus": Ansible masks no_log values wherever they appear


@pytest.fixture(scope="package")
def conn(milvus_server: Standalone) -> dict[str, Any]:
    """Connection options for the modules: root, with its password changed from the built-in one."""
    builtin = {"uri": milvus_server.uri, "user": "root", "password": ROOT_PASSWORD, "timeout": 20}
    first = Milvus.connect(builtin)
    first.client.update_password("root", ROOT_PASSWORD, TEST_PASSWORD)
    first.close()
    return {"uri": milvus_server.uri, "user": "root", "password": TEST_PASSWORD, "timeout": 20}


@pytest.fixture(scope="package")
def client(conn: dict[str, Any]):
    m = Milvus.connect(conn)
    yield m
    m.close()


@pytest.fixture(scope="package")
def seeded(client: Milvus) -> dict[str, str]:
    seed_collection(client, BALANCED)
    seed_collection(client, UNLOADED, rows=(200,), load=False)
    return {"balanced": BALANCED, "unloaded": UNLOADED}


@pytest.fixture
def dead_port() -> int:
    """A local port nothing listens on."""
    return free_ports(1)[0]


def placement(client: Milvus, name: str) -> list[tuple[int, int, tuple[int, ...]]]:
    """(segment, rows, nodes) of a collection, to show that a failed task changed nothing."""
    return [(s["segment_id"], s["num_rows"], tuple(s["node_ids"])) for s in client.loaded_segments(name)]
