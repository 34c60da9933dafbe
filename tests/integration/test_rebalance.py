"""milvus_rebalance through Ansible: what a single-query-node standalone allows.

Real multi-node moves are exercised end to end on the sandbox cluster; the planner is covered by
tests/unit/test_balance.py and the execution loop by tests/unit/test_rebalance_module.py.
"""

from __future__ import annotations

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
        ({"target_nodes": ["99"]}, "unknown target query node '99'"),
        ({"drain": "10.9.9.9:21123"}, "unknown query node '10.9.9.9:21123' to drain"),
        ({"collections": [UNLOADED]}, f"collection {UNLOADED} is not fully loaded (state NotLoad)"),
        ({"collections": ["nope"]}, "collection nope does not exist"),
        ({"tolerance": -1}, "tolerance must be >= 0"),
    ]
    runs = run_tasks([(REB, {**conn, "collections": [BALANCED], **override}, False) for override, _ in cases])
    for run, (_, fragment) in zip(runs, cases, strict=True):
        run.assert_clean_failure(fragment)
        assert run.result["changed"] is False
    assert placement(client, BALANCED) == before
