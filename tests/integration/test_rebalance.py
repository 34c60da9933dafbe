"""milvus_rebalance through Ansible: what a single-query-node standalone allows.

Real multi-node moves are exercised end to end on the sandbox cluster; the planner is covered by
tests/unit/test_balance.py and the execution loop by tests/unit/test_rebalance_module.py.
"""

from __future__ import annotations

import json

from tests.conftest import VENV_BIN
from tests.conftest import run as run_command
from tests.integration.conftest import BALANCED, UNLOADED, placement, run_tasks

REB = "milvus_rebalance"


def test_a_balanced_cluster_changes_nothing(conn, client, seeded):
    before = placement(client, BALANCED)
    qn = next(n for n in client.nodes() if n["role"] == "querynode")
    args = {**conn, "collections": [BALANCED]}
    runs = run_tasks(
        [
            (REB, args, True),
            (REB, args, False),
            (REB, args, True),
            (REB, args, False),  # check/apply twice
            (REB, {**args, "target_nodes": [qn["address"]]}, False),
        ],
        diff=True,
    )
    for run in runs:
        assert run.rc == 0 and run.result["changed"] is False, run.result
        res = run.result
        assert res["plan"] == [] and res["moves"] == [] and res["balanced"] is True
        (view,) = res["before"]
        assert view["collection"] == BALANCED and view["nodes"] == [
            {"id": qn["id"], "address": qn["address"], "segments": 4, "rows": 3500}
        ]
        assert res["after"][0]["nodes"] == view["nodes"]
        assert f"({qn['address']}): 4 segments, 3500 rows" in res["diff"]["before"]
    assert placement(client, BALANCED) == before


def test_impossible_requests_fail_before_anything_moves(conn, client, seeded):
    before = placement(client, BALANCED)
    qn = next(n for n in client.nodes() if n["role"] == "querynode")
    cases = [
        ({"drain": str(qn["id"])}, f"node {qn['id']} ({qn['address']}) has no other query node"),
        ({"drain": "querynode1", "target_nodes": [qn["address"]]}, "cannot be drained and a target"),
        ({"target_nodes": ["99"]}, 'unknown target query node "99"'),
        ({"drain": "10.9.9.9:21123"}, 'unknown query node "10.9.9.9:21123" to drain'),
        ({"drain": ["999999"]}, 'unknown query node "999999" to drain'),
        ({"drain": 999999}, 'unknown query node "999999" to drain'),
        ({"drain": ["1", "2"]}, "drain takes one query node (id, ip:port or name), got 2"),
        ({"collections": [UNLOADED]}, f"collection {UNLOADED} is not fully loaded (state NotLoad)"),
        ({"collections": ["nope"]}, "collection nope does not exist"),
        ({"tolerance": -1}, "tolerance must be >= 0"),
    ]
    runs = run_tasks([(REB, {**conn, "collections": [BALANCED], **override}, False)
                      for override, _unused in cases])
    for run, (_unused, fragment) in zip(runs, cases, strict=True):
        run.assert_clean_failure(fragment)
        assert run.result["changed"] is False
    assert placement(client, BALANCED) == before


def test_the_playbook_prints_cv_per_collection(conn, milvus_server, seeded, tmp_path):
    """playbooks/rebalance.yml against the standalone: a line per collection with its CV before and
    after (it used to print `before: cv n/a; after: cv n/a; balanced: False` whatever happened)."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"milvus_proxy": {"hosts": {"proxy1": {
        "ansible_connection": "local",
        "ansible_python_interpreter": str(VENV_BIN / "python"),
        "cluster_host_ip": "127.0.0.1",
        "milvus_root_password": conn["password"],
    }}}}}}))
    port = int(milvus_server.uri.rsplit(":", 1)[1])
    extra = {"rebalance_collections": [BALANCED], "milvus_ops_proxy_port": port}
    res = run_command(["ansible-playbook", "-i", str(inventory), "playbooks/rebalance.yml",
                       "-e", json.dumps(extra)], timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    out = " ".join(res.stdout.split())  # the yaml callback may fold long lines
    assert "made 0 move(s)" in out, res.stdout
    assert f"{BALANCED} (replica " in out, res.stdout
    assert "cv 0.0 before, 0.0 after; balanced (tolerance 0.2)" in out, res.stdout
    assert "n/a" not in res.stdout
    assert conn["password"] not in res.stdout
