"""segment_balance and milvus_sizing filters, sizing checked against the published figures."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.vectorops.milvus.plugins.filter.milvus import (
    FilterModule,
    milvus_sizing,
    segment_balance,
)


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {
        "segment_balance", "milvus_sizing", "milvus_credential", "milvus_root_path_plan"}


# ------------------------------------------------------------------ sizing


def test_published_hnsw_figure_1m_128():
    # "1M x 128-dim HNSW is about 1.1 GB loaded, 0.49 GB raw"
    out = milvus_sizing(1_000_000, 128, "HNSW")
    assert out["raw_gb"] == pytest.approx(0.49, abs=0.03)
    assert out["loaded_gb_per_replica"] == pytest.approx(1.1, abs=0.01)
    assert out["query_nodes"] == 1


@pytest.mark.parametrize(
    ("index_type", "low", "high"),
    [
        ("HNSW", 1.5, 2.2),  # graph index 1.5-2x raw, plus runtime overhead in the loaded figure
        ("IVF_SQ8", 0.25, 0.30),  # 25-30% of raw
        ("IVF_FLAT", 1.0, 1.0),
        ("FLAT", 1.0, 1.0),
        ("hnsw", 1.5, 2.2),
    ],
)
def test_memory_relative_to_raw(index_type, low, high):
    out = milvus_sizing(2_000_000, 768, index_type)
    ratio = out["loaded_gb_per_replica"] / out["raw_gb"]
    assert low - 1e-3 <= ratio <= high + 1e-3


@pytest.mark.parametrize(
    ("kwargs", "nodes", "by_memory", "by_qps"),
    [
        # 10M x 128 HNSW = 11 GB per replica, 22 GB for two; 16 GB hosts give 11.2 GB each (70%)
        ({"vectors": 10_000_000, "dim": 128, "replicas": 2, "host_memory_gb": 16}, 2, 2, None),
        ({"vectors": 10_000_000, "dim": 128, "replicas": 1, "host_memory_gb": 8}, 2, 2, None),
        ({"vectors": 10_000_000, "dim": 128, "replicas": 1, "host_memory_gb": 64}, 1, 1, None),
        # throughput decides when memory is ample
        (
            {
                "vectors": 1_000_000,
                "dim": 128,
                "host_memory_gb": 64,
                "target_qps": 5000,
                "qps_per_node": 1200,
            },
            5,
            1,
            5,
        ),
        # replicas are a floor: each replica needs its own node
        ({"vectors": 1000, "dim": 8, "replicas": 3}, 3, None, None),
        # 330 GB per replica on 44.8 GB budgets: 8 nodes per replica, 16 in all
        ({"vectors": 50_000_000, "dim": 768, "replicas": 2, "host_memory_gb": 64}, 16, 16, None),
        # 3 nodes of QPS with 2 replicas: rounded up to 2 per replica
        ({"vectors": 1000, "dim": 8, "replicas": 2, "target_qps": 3000, "qps_per_node": 1000}, 4, None, 3),
        # IVF_SQ8 needs far less memory
        ({"vectors": 10_000_000, "dim": 128, "index_type": "IVF_SQ8", "host_memory_gb": 8}, 1, 1, None),
    ],
)
def test_query_nodes(kwargs, nodes, by_memory, by_qps):
    out = milvus_sizing(**kwargs)
    assert out["query_nodes"] == nodes
    assert out["query_nodes_by_memory"] == by_memory
    assert out["query_nodes_by_qps"] == by_qps
    if kwargs.get("host_memory_gb"):
        assert out["memory_per_query_node_gb"] <= kwargs["host_memory_gb"] * 0.70 + 1e-9
        assert out["host_memory_needed_gb"] == pytest.approx(out["memory_per_query_node_gb"] / 0.70, abs=1e-3)


def test_sizing_reports_its_limits_and_storage():
    out = milvus_sizing(1_000_000, 128, "HNSW", target_qps=1000)
    assert out["qps_sized"] is False  # no per-node figure given: not sized for QPS
    assert (out["memory_headroom"], out["write_throttle_at"], out["write_block_at"]) == (0.70, 0.85, 0.95)
    assert out["object_storage_gb"] == pytest.approx(0.512 * 3, abs=0.01)  # binlogs + 2x raw graph files


@pytest.mark.parametrize(
    "args",
    [(1000, 128, "DISKANN"), (1000, 0), (-1, 8), ("many", 8), (1000, 8, "HNSW", 0)],
)
def test_sizing_rejects_bad_input(args):
    with pytest.raises(AnsibleFilterError):
        milvus_sizing(*args)


# ------------------------------------------------------------------ segment_balance


def test_segment_balance_from_captured_segments(fixture_json):
    segs = fixture_json("loaded_segments.json")
    out = segment_balance(segs)
    assert out["count"] == 1 and out["total"] == 3500 and out["balanced"] is True
    assert out["nodes"][0]["segments"] == 4

    with_new_node = segment_balance(segs, nodes=[1, 2], addresses={1: "10.0.0.1:21123"})
    assert with_new_node["balanced"] is False
    assert with_new_node["cv"] == 1.0
    assert with_new_node["empty_nodes"] == [2]
    assert with_new_node["max_node"] == {"id": 1, "address": "10.0.0.1:21123"}


def test_segment_balance_by_segments():
    segs = [{"num_rows": 1000, "node_ids": [1]}, {"num_rows": 1, "node_ids": [2]}]
    assert segment_balance(segs, by="rows")["balanced"] is False
    assert segment_balance(segs, by="segments")["balanced"] is True


def test_segment_balance_accepts_a_cluster_info_distribution():
    dist = [
        {"id": 4, "address": "10.0.0.12:21123", "segments": 4, "rows": 4000},
        {"id": 7, "address": "10.0.0.13:21123", "segments": 0, "rows": 0},
    ]
    out = segment_balance(dist, threshold=0.5)
    assert out["min_node"] == {"id": 7, "address": "10.0.0.13:21123"}
    assert out["balanced"] is False and out["empty_nodes"] == [7]


@pytest.mark.parametrize(("data", "kwargs"), [([{"oops": 1}], {}), ([], {"by": "bytes"})])
def test_segment_balance_rejects_bad_input(data, kwargs):
    with pytest.raises(AnsibleFilterError):
        segment_balance(data, **kwargs)
