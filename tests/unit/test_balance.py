"""Balance statistics and the rebalance planner (pure logic, table-driven)."""

from __future__ import annotations

import itertools
import math

import pytest
from ansible_collections.vectorops.milvus.plugins.module_utils._balance import (
    PlanError,
    apply_moves,
    balance_report,
    group_moves,
    is_balanced,
    loads_of,
    plan_replica,
    plan_replicas,
    segment_loads,
    stats,
)


def cv(place, by="rows"):
    return stats(loads_of(place, by).values())["cv"]


def segs(node_prefix: str, *rows: int) -> list[tuple[str, int]]:
    return [(f"{node_prefix}{i}", r) for i, r in enumerate(rows)]


# ------------------------------------------------------------------ statistics


@pytest.mark.parametrize(
    ("values", "mean", "std", "cv_", "vmax", "vmin"),
    [
        ([], 0.0, 0.0, 0.0, 0, 0),
        ([10], 10.0, 0.0, 0.0, 10, 10),
        ([10, 10, 10], 10.0, 0.0, 0.0, 10, 10),
        ([0, 10], 5.0, 5.0, 1.0, 10, 0),
        ([2, 4, 4, 4, 5, 5, 7, 9], 5.0, 2.0, 0.4, 9, 2),
        ([100, 80], 90.0, 10.0, 0.1111, 100, 80),
        ([0, 0], 0.0, 0.0, 0.0, 0, 0),
    ],
)
def test_stats(values, mean, std, cv_, vmax, vmin):
    out = stats(values)
    assert out["count"] == len(values)
    assert out["mean"] == pytest.approx(mean)
    assert out["std_dev"] == pytest.approx(std)
    assert out["cv"] == pytest.approx(cv_, abs=1e-4)
    assert (out["max"], out["min"]) == (vmax, vmin)


@pytest.mark.parametrize(
    ("values", "threshold", "expected"),
    [
        ([12, 8], 0.2, True),  # std 2 = 20% of the mean 10: on the line counts as balanced
        ([12, 8], 0.19, False),
        ([3500], 0.2, True),  # a single node is always balanced
        ([3500, 0], 0.2, False),
        ([1000, 1100, 900], 0.2, True),
        ([0, 0, 0], 0.0, True),
    ],
)
def test_is_balanced(values, threshold, expected):
    assert is_balanced(values, threshold) is expected


def test_balance_report_names_nodes_with_addresses():
    rep = balance_report({1: 3000, 2: 500, 3: 500}, 0.2, {1: "10.0.0.1:21123", 2: "10.0.0.2:21123"})
    assert rep["max_node"] == {"id": 1, "address": "10.0.0.1:21123"}
    assert rep["min_node"] == {"id": 2, "address": "10.0.0.2:21123"}
    assert rep["balanced"] is False
    assert rep["max_min_ratio"] == 6.0
    assert balance_report({}, 0.2)["max_node"] is None


def test_segment_loads_splits_sealed_and_growing_and_keeps_empty_nodes():
    loads = segment_loads(
        [
            {"segment_id": 1, "num_rows": 100, "node_ids": [1], "state": "Sealed"},
            {"segment_id": 2, "num_rows": 50, "node_ids": [1, 3], "state": "Sealed"},
            {"segment_id": 3, "num_rows": 7, "node_ids": [3], "state": "Growing"},
        ],
        nodes=[1, 2, 3],
    )
    assert loads[1] == {
        "segments": 2,
        "rows": 150,
        "sealed_segments": 2,
        "sealed_rows": 150,
        "growing_segments": 0,
        "growing_rows": 0,
    }
    assert loads[2]["segments"] == 0
    assert loads[3] == {
        "segments": 2,
        "rows": 57,
        "sealed_segments": 1,
        "sealed_rows": 50,
        "growing_segments": 1,
        "growing_rows": 7,
    }


def test_segment_loads_from_captured_segments(fixture_json):
    segs_ = fixture_json("loaded_segments.json")
    loads = segment_loads(segs_)
    assert loads == {
        1: {
            "segments": 4,
            "rows": 3500,
            "sealed_segments": 4,
            "sealed_rows": 3500,
            "growing_segments": 0,
            "growing_rows": 0,
        }
    }


# ------------------------------------------------------------------ planner


def min_moves_brute_force(place, tolerance, limit=4):
    """Fewest single-segment moves that reach the tolerance (tiny cases only)."""
    items = [(sid, rows, node) for node, ss in place.items() for sid, rows in ss]
    nodes = list(place)

    def state_cv(state):
        loads = dict.fromkeys(nodes, 0)
        for (_sid, rows, _unused), node in zip(items, state, strict=True):
            loads[node] += rows
        return stats(loads.values())["cv"]

    start = tuple(n for *_unused, n in items)
    if state_cv(start) <= tolerance + 1e-9:
        return 0
    for depth in range(1, limit + 1):
        for idx in itertools.combinations(range(len(items)), depth):
            for dests in itertools.product(nodes, repeat=depth):
                state = list(start)
                for i, d in zip(idx, dests, strict=True):
                    state[i] = d
                if any(state[i] == start[i] for i in idx):
                    continue
                if state_cv(state) <= tolerance + 1e-9:
                    return depth
    return None


def test_already_balanced_plans_nothing():
    place = {1: segs("a", 100, 100), 2: segs("b", 100, 100), 3: segs("c", 90, 110)}
    assert plan_replica(place, tolerance=0.2) == []


def test_new_empty_node_gets_the_minimum_number_of_moves():
    place = {1: segs("a", *[100] * 4), 2: segs("b", *[100] * 4), 3: segs("c", *[100] * 4), 4: []}
    moves = plan_replica(place, tolerance=0.2)
    assert len(moves) == 3 == min_moves_brute_force(place, 0.2)
    assert {m["target"] for m in moves} == {4}
    assert sorted(m["source"] for m in moves) == [1, 2, 3]  # one from each full node
    assert loads_of(apply_moves(place, moves)) == {1: 300, 2: 300, 3: 300, 4: 300}


@pytest.mark.parametrize(
    ("place", "tolerance"),
    [
        ({1: segs("a", *[10] * 10), 2: []}, 0.2),
        ({1: segs("a", *[10] * 10), 2: []}, 0.0),
        ({1: segs("a", *[10] * 6), 2: segs("b", *[10] * 6), 3: []}, 0.1),
        ({1: segs("a", *[5] * 7), 2: [], 3: [], 4: segs("d", 5)}, 0.2),
        ({1: segs("a", 300, 300, 300), 2: [], 3: []}, 0.0),
    ],
)
def test_equal_segments_minimum_moves_match_brute_force(place, tolerance):
    moves = plan_replica(place, tolerance=tolerance)
    assert cv(apply_moves(place, moves)) <= tolerance + 1e-9
    assert len(moves) == min_moves_brute_force(place, tolerance, limit=len(moves))


def test_two_replicas_never_move_across_replicas():
    replicas = {
        "r1": {1: segs("x", 100, 100, 100, 100), 2: []},
        "r2": {3: segs("y", 100, 100, 100, 100), 4: []},
    }
    moves = plan_replicas(replicas, tolerance=0.1)
    assert len(moves) == 4
    for mv in moves:
        members = set(replicas[mv["replica_id"]])
        assert {mv["source"], mv["target"]} <= members
    assert {(m["replica_id"], m["source"], m["target"]) for m in moves} == {("r1", 1, 2), ("r2", 3, 4)}


def test_target_outside_every_replica_is_refused():
    with pytest.raises(PlanError, match="target node 9 .*not in any replica"):
        plan_replicas({"r1": {1: segs("x", 10), 2: []}}, targets=[9])


@pytest.mark.parametrize(
    ("place", "expected_moves", "moved"),
    [
        # the 500-row segment alone evens it out
        ({1: segs("a", 500, 300, 100, 100), 2: []}, 1, {"a0"}),
        # one huge segment: move it once, never back (1000 vs 30 is the best there is)
        ({1: segs("a", 1000, 10, 10, 10), 2: []}, 1, None),
        # small ones top up the light node
        ({1: segs("a", 400, 50, 50, 50, 50), 2: segs("b", 400)}, 2, None),
    ],
)
def test_very_uneven_segment_sizes(place, expected_moves, moved):
    moves = plan_replica(place, tolerance=0.05)
    assert len(moves) == expected_moves
    if moved is not None:
        assert {m["segment_id"] for m in moves} == moved
    assert len({m["segment_id"] for m in moves}) == len(moves)  # nothing moves twice
    before = loads_of(place)
    after = loads_of(apply_moves(place, moves))
    assert max(after.values()) - min(after.values()) <= max(before.values()) - min(before.values())
    assert plan_replica(apply_moves(place, moves), tolerance=0.05) == []


@pytest.mark.parametrize(
    ("place", "tolerance"),
    [
        ({1: segs("a", 100, 100, 100), 2: segs("b", 100, 100)}, 0.2),  # cv 0.2: inside
        ({1: segs("a", 100, 100, 100), 2: segs("b", 100, 100)}, 0.0),  # moving one only flips it
        ({1: segs("a", 60), 2: segs("b", 50)}, 0.0),
        ({1: segs("a", 1000), 2: segs("b", 10, 10)}, 0.0),
    ],
)
def test_tolerance_and_strict_improvement_stop_ping_pong(place, tolerance):
    assert plan_replica(place, tolerance=tolerance) == []


@pytest.mark.parametrize("seed", range(6))
def test_a_plan_applied_then_replanned_moves_nothing(seed):
    sizes = [100, 250, 40, 700, 90, 310, 55, 120, 600, 75]
    rot = sizes[seed:] + sizes[:seed]
    place = {1: segs("a", *rot[:6]), 2: segs("b", *rot[6:8]), 3: segs("c", *rot[8:]), 4: []}
    moves = plan_replica(place, tolerance=0.1)
    assert plan_replica(apply_moves(place, moves), tolerance=0.1) == []


def test_swap_when_no_single_move_helps():
    # 300 / 600 / 350: no single move evens it, exchanging a 300 for a 100 does
    place = {1: [("a", 100), ("b", 200)], 2: [("c", 300), ("d", 300)], 3: [("e", 200), ("f", 50), ("g", 100)]}
    assert cv(place) > 0.3
    moves = plan_replica(place, tolerance=0.3)
    assert len(moves) == 2 == min_moves_brute_force(place, 0.3)
    assert cv(apply_moves(place, moves)) <= 0.3


def test_max_moves_caps_the_plan():
    place = {1: segs("a", *[100] * 4), 2: segs("b", *[100] * 4), 3: segs("c", *[100] * 4), 4: []}
    assert len(plan_replica(place, tolerance=0.0, max_moves=2)) == 2
    assert plan_replica(place, max_moves=0) == []


def test_targets_limit_where_segments_go():
    place = {1: segs("a", *[100] * 6), 2: segs("b", *[100] * 6), 3: [], 4: []}
    moves = plan_replica(place, tolerance=0.05, targets=[4])
    assert moves and {m["target"] for m in moves} == {4}


def test_balance_by_segment_count():
    place = {1: segs("a", 1000, 1, 1, 1), 2: []}
    moves = plan_replica(place, tolerance=0.0, by="segments")
    assert len(moves) == 2
    assert loads_of(apply_moves(place, moves), "segments") == {1: 2, 2: 2}


def test_drain_moves_everything_biggest_first_to_the_least_loaded():
    place = {1: [("a", 300), ("b", 200), ("c", 100)], 2: [("d", 100)], 3: []}
    moves = plan_replica(place, drain=1)
    assert [(m["segment_id"], m["target"]) for m in moves] == [("a", 3), ("b", 2), ("c", 2)]
    assert apply_moves(place, moves)[1] == []


@pytest.mark.parametrize(
    ("place", "kwargs", "match"),
    [
        ({1: [("a", 5)]}, {"drain": 1}, "no other query node"),
        ({1: [("a", 5), ("b", 5)], 2: []}, {"drain": 1, "max_moves": 1}, "needs 2 moves but max_moves is 1"),
        ({1: [("a", 5)], 2: []}, {"drain": 7}, "not in this replica"),
        ({1: [("a", 5)], 2: []}, {"by": "bytes"}, "rows or segments"),
    ],
)
def test_impossible_requests_raise(place, kwargs, match):
    with pytest.raises(PlanError, match=match):
        plan_replica(place, **kwargs)


def test_drain_label_carries_the_address():
    with pytest.raises(PlanError, match=r"node 1 \(10.0.0.1:21123\)"):
        plan_replica({1: [("a", 5)]}, drain=1, label=lambda n: f"{n} (10.0.0.1:21123)")


def test_drain_in_a_two_replica_collection_stays_in_its_replica():
    replicas = {"r1": {1: segs("x", 10, 20), 2: segs("y", 5)}, "r2": {3: segs("x", 10, 20), 4: segs("y", 5)}}
    moves = plan_replicas(replicas, drain=1)
    assert {(m["replica_id"], m["source"], m["target"]) for m in moves} == {("r1", 1, 2)}
    with pytest.raises(PlanError, match="no target node is in the replica of node 1"):
        plan_replicas(replicas, drain=1, targets=[4])
    assert plan_replicas(replicas, drain=99) == []  # serves none of these replicas


def test_group_moves_makes_one_loadbalance_per_source_target_pair():
    moves = [
        {"segment_id": 1, "rows": 10, "source": 1, "target": 4, "replica_id": 7},
        {"segment_id": 2, "rows": 20, "source": 1, "target": 4, "replica_id": 7},
        {"segment_id": 3, "rows": 5, "source": 2, "target": 4, "replica_id": 7},
    ]
    sets = group_moves(moves)
    assert [(s["source"], s["target"], s["segment_ids"], s["rows"]) for s in sets] == [
        (1, 4, [1, 2], 30),
        (2, 4, [3], 5),
    ]
    assert sets[0]["replica_id"] == 7 and len(sets[0]["moves"]) == 2


def test_apply_moves_rejects_a_segment_not_on_its_source():
    with pytest.raises(PlanError):
        apply_moves({1: [("a", 1)], 2: []}, [{"segment_id": "zz", "source": 1, "target": 2, "rows": 1}])


def test_planner_scales_to_a_large_replica():
    place = {n: segs(f"n{n}-", *[(n * 37 + i * 11) % 900 + 100 for i in range(60)]) for n in range(1, 9)}
    place[9] = []
    place[10] = []
    moves = plan_replica(place, tolerance=0.05)
    assert cv(apply_moves(place, moves)) <= 0.05
    assert len(moves) <= math.ceil(sum(loads_of(place).values()) / 10 / 100) * 2
