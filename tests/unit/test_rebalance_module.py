"""milvus_rebalance's execution loop against a simulated multi-node cluster.

A standalone has one query node, so real moves are e2e-only; here a fake cluster that follows
LoadBalance's rules (same replica, segment must be on the source) checks plan execution, waiting,
race handling, the stop when something else keeps balancing, and check mode.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import MilvusError
from ansible_collections.vectorops.milvus.plugins.modules import milvus_rebalance
from pymilvus.exceptions import MilvusException

ADDR = {1: "10.0.0.11:21123", 2: "10.0.0.12:21123", 3: "10.0.0.13:21123", 4: "10.0.0.14:21123"}


class FakeCluster:
    """Query nodes, one collection, segments; LoadBalance applied after `lag` reads."""

    def __init__(self, replicas: list[list[int]], segments: dict[int, tuple[int, list[int]]], lag: int = 1):
        self.replicas_ = [
            {"id": 100 + i, "node_ids": nodes, "resource_group": "rg", "shards": []}
            for i, nodes in enumerate(replicas)
        ]
        self.segments = {sid: {"rows": rows, "nodes": list(nodes)} for sid, (rows, nodes) in segments.items()}
        self.lag = lag
        self.pending: list[tuple[int, int, int, int]] = []  # (reads left, segment, source, target)
        self.calls: list[tuple[int, list[int], list[int]]] = []
        self.before_call: list[Any] = []  # hooks run before a LoadBalance (races)
        self.loaded = True

    # --- what the module reads
    def require_version(self) -> dict[str, Any]:
        return {"version": "2.3.5", "major": 2, "minor": 3, "patch": 5}

    def nodes(self) -> list[dict[str, Any]]:
        ids = sorted({n for r in self.replicas_ for n in r["node_ids"]})
        return [{"id": n, "role": "querynode", "address": ADDR[n], "name": f"querynode{n}"} for n in ids]

    def list_collections(self) -> list[str]:
        return ["coll"]

    def load_state(self, name: str) -> str:
        return "Loaded" if self.loaded else "NotLoad"

    def row_count(self, name: str) -> int:
        return sum(s["rows"] for s in self.segments.values()) // max(1, len(self.replicas_))

    def replicas(self, name: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.replicas_)

    def loaded_segments(self, name: str) -> list[dict[str, Any]]:
        still = []
        for reads, sid, src, dst in self.pending:
            if reads <= 0:
                nodes = self.segments[sid]["nodes"]
                nodes.remove(src)
                nodes.append(dst)
            else:
                still.append((reads - 1, sid, src, dst))
        self.pending = still
        return [
            {
                "segment_id": sid,
                "num_rows": s["rows"],
                "state": "Sealed",
                "node_ids": sorted(s["nodes"] + [d for _unused, p, _s, d in self.pending if p == sid]),
            }
            for sid, s in sorted(self.segments.items())
        ]

    def load_balance(self, name: str, source: int, targets: list[int], segment_ids: list[int]) -> None:
        for hook in list(self.before_call):
            hook(self, source, targets, segment_ids)
        self.calls.append((source, list(targets), list(segment_ids)))
        replica = next((r for r in self.replicas_ if source in r["node_ids"]), None)
        if replica is None:
            raise MilvusException(
                code=901, message=f"source node not found in any replica: node not found[node={source}]"
            )
        for t in targets:
            if t not in replica["node_ids"]:
                raise MilvusException(
                    code=901,
                    message=f"destination node not found in the same replica: node not found[node={t}]",
                )
        for sid in segment_ids:
            if source not in self.segments[sid]["nodes"]:
                raise MilvusException(
                    code=65535,
                    message=f"failed to balance segments: segment {sid} not found in source node {source}",
                )
        for sid in segment_ids:
            self.pending.append((self.lag, sid, source, targets[0]))

    def rows_per_node(self) -> dict[int, int]:
        out = {n["id"]: 0 for n in self.nodes()}
        for s in self.segments.values():
            for n in s["nodes"]:
                out[n] += s["rows"]
        return out


class FakeModule:
    def __init__(self, check_mode: bool = False, **params: Any):
        self.params = {
            "collections": None,
            "tolerance": 0.2,
            "balance_by": "rows",
            "max_moves": None,
            "target_nodes": None,
            "drain": None,
            "wait_timeout": 30.0,
            "poll_interval": 0.001,
            "retries": 3,
            "db_name": "default",
            **params,
        }
        self.check_mode = check_mode
        self._diff = True
        self.warnings: list[str] = []

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)

    def fail_json(self, **kwargs: Any) -> None:
        raise AssertionError(f"fail_json: {kwargs}")

    def fail(self, exc: BaseException, **result: Any) -> None:
        raise AssertionError(f"fail: {exc} {result}")


def new_node_cluster(lag: int = 1) -> FakeCluster:
    """Three query nodes with four 1000-row segments each, and an empty fourth node."""
    segs = {sid: (1000, [1 + (sid - 1) // 4]) for sid in range(1, 13)}
    return FakeCluster([[1, 2, 3, 4]], segs, lag=lag)


def test_new_node_is_filled_with_the_planned_moves():
    cluster = new_node_cluster(lag=2)
    result = milvus_rebalance.run(FakeModule(), cluster)
    assert result["changed"] is True and result["balanced"] is True
    assert len(result["moves"]) == len(result["plan"]) == 3
    assert {m["target"]["id"] for m in result["moves"]} == {4}
    assert all(m["source"]["address"] == ADDR[m["source"]["id"]] for m in result["moves"])
    assert cluster.rows_per_node() == {1: 3000, 2: 3000, 3: 3000, 4: 3000}
    assert [n["rows"] for n in result["after"][0]["nodes"]] == [3000, 3000, 3000, 3000]
    assert len(cluster.calls) == 3 and result["retried"] == 0
    assert "node 4 (10.0.0.14:21123): 3 segments, 3000 rows" in result["diff"]["after"]

    again = milvus_rebalance.run(FakeModule(), cluster)
    assert again["changed"] is False and again["plan"] == [] and len(cluster.calls) == 3


def test_check_mode_plans_and_moves_nothing():
    cluster = new_node_cluster()
    result = milvus_rebalance.run(FakeModule(check_mode=True), cluster)
    assert result["changed"] is True and len(result["plan"]) == 3 and result["moves"] == []
    assert cluster.calls == [] and cluster.rows_per_node()[4] == 0
    assert [n["rows"] for n in result["after"][0]["nodes"]] == [3000, 3000, 3000, 3000]  # predicted


def test_a_move_that_raced_compaction_is_replanned():
    cluster = new_node_cluster()
    fired = []

    def compaction_moves_segment_away(
        c: FakeCluster, source: int, targets: list[int], seg_ids: list[int]
    ) -> None:
        if not fired:  # the first planned segment leaves its source just before the call
            fired.append(seg_ids[0])
            c.segments[seg_ids[0]]["nodes"] = [3 if source != 3 else 2]

    cluster.before_call.append(compaction_moves_segment_away)
    result = milvus_rebalance.run(FakeModule(), cluster)
    assert result["retried"] == 1 and result["balanced"] is True
    # the re-plan works from where the segment is now, never from the stale plan
    assert all(m["source"]["id"] != 1 for m in result["moves"] if m["segment_id"] == fired[0])
    assert cluster.rows_per_node() == {1: 3000, 2: 3000, 3: 3000, 4: 3000}


def test_stops_instead_of_fighting_another_balancer():
    cluster = new_node_cluster()

    def auto_balancer_undoes_moves(
        c: FakeCluster, source: int, targets: list[int], seg_ids: list[int]
    ) -> None:
        for s in c.segments.values():
            if 4 in s["nodes"]:  # every segment we put on node 4 goes straight back... and the next one races
                s["nodes"] = [1]
        if len(c.calls) >= 1:
            c.segments[seg_ids[0]]["nodes"] = [2 if source != 2 else 3]

    cluster.before_call.append(auto_balancer_undoes_moves)
    module = FakeModule(retries=10)
    result = milvus_rebalance.run(module, cluster)
    assert len(cluster.calls) < 10
    assert module.warnings and "stopping instead of fighting it" in module.warnings[0]
    assert result["changed"] is True


def test_drain_empties_the_node_within_its_replica():
    segs = {1: (500, [1]), 2: (300, [1]), 3: (200, [2]), 11: (500, [3]), 12: (300, [3]), 13: (200, [4])}
    cluster = FakeCluster([[1, 2], [3, 4]], segs)
    result = milvus_rebalance.run(FakeModule(drain="1"), cluster)
    assert result["changed"] is True and result["balanced"] is True
    assert cluster.rows_per_node() == {1: 0, 2: 1000, 3: 800, 4: 200}  # replica 2 untouched
    assert {(c[0], tuple(c[1])) for c in cluster.calls} == {(1, (2,))}
    assert len(cluster.calls) == 1  # one LoadBalance for the whole move set


def test_max_moves_and_unknown_nodes():
    cluster = new_node_cluster()
    result = milvus_rebalance.run(FakeModule(max_moves=1, tolerance=0.0), cluster)
    assert len(result["moves"]) == 1
    with pytest.raises(
        MilvusError, match=r'unknown target query node "9" \(query nodes: 1 \(10.0.0.11:21123\)'
    ):
        milvus_rebalance.run(FakeModule(target_nodes=["9"]), new_node_cluster())
    with pytest.raises(MilvusError, match="node 1 \\(10.0.0.11:21123\\) cannot be drained and a target"):
        milvus_rebalance.run(
            FakeModule(drain="querynode1", target_nodes=["10.0.0.11:21123"]), new_node_cluster()
        )


def test_target_outside_the_collections_replicas():
    segs = {1: (500, [1]), 2: (500, [1])}
    cluster = FakeCluster([[1, 2]], segs)
    cluster.replicas_.append({"id": 999, "node_ids": [], "resource_group": "other", "shards": []})
    cluster.nodes = lambda: [
        {"id": n, "role": "querynode", "address": ADDR[n], "name": f"querynode{n}"} for n in (1, 2, 3)
    ]
    with pytest.raises(MilvusError, match=r"target node 3 \(10.0.0.13:21123\) is not in any replica"):
        milvus_rebalance.run(FakeModule(target_nodes=["3"]), cluster)
    assert cluster.calls == []


def test_collection_not_loaded():
    cluster = new_node_cluster()
    cluster.loaded = False
    with pytest.raises(MilvusError, match="collection coll is not fully loaded"):
        milvus_rebalance.run(FakeModule(collections=["coll"]), cluster)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (None, "")),
        ("999999", ("999999", "")),
        (999999, ("999999", "")),
        (["999999"], ("999999", "")),
        ([" querynode2 "], ("querynode2", "")),
        (["1", "2"], (None, "drain takes one query node (id, ip:port or name), got 2: ['1', '2']")),
        ([], (None, "drain takes one query node (id, ip:port or name), got 0: []")),
        ("", (None, "drain must name one query node (id, ip:port or name)")),
    ],
)
def test_drain_takes_one_node(value, expected):
    assert milvus_rebalance.drain_node(value) == expected


def test_unknown_drain_is_named_not_its_list():
    drain, _unused = milvus_rebalance.drain_node(["999999"])
    with pytest.raises(MilvusError) as err:
        milvus_rebalance.run(FakeModule(drain=drain), new_node_cluster())
    assert str(err.value).startswith('unknown query node "999999" to drain (query nodes: 1 (10.0.0.11:21123)')


def test_two_segments_on_three_nodes_are_the_best_possible():
    """The plan cannot reach the tolerance: the summary says so instead of just 'not balanced'."""
    cluster = FakeCluster([[1, 2, 3]], {10: (500, [1]), 11: (500, [1])})
    result = milvus_rebalance.run(FakeModule(check_mode=True), cluster)
    assert len(result["plan"]) == 1 and result["balanced"] is False
    (line,) = result["summary"]
    assert line["cv_before"] == pytest.approx(1.4142) and line["cv_after"] == pytest.approx(0.7071)
    assert line["balanced"] is False and line["best_possible"] is True
    assert result["after"][0]["best_possible"] is True and result["before"][0]["best_possible"] is False


def test_a_plan_cut_short_is_not_the_best_possible():
    cluster = new_node_cluster()
    result = milvus_rebalance.run(FakeModule(check_mode=True, max_moves=1, tolerance=0.0), cluster)
    (line,) = result["summary"]
    assert line["balanced"] is False and line["best_possible"] is False
