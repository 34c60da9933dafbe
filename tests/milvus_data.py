"""Test data in a real Milvus, shared by the e2e tests, Molecule's verifier and the benchmark
(a plain module: importable without pytest)."""

from __future__ import annotations

from typing import Any


def fresh_collection(client: Any, name: str, dim: int, vector_field: str = "vector", shards: int = 2) -> None:
    """Drop `name` if it exists, then create it: an INT64 primary key `id` and a float vector."""
    from pymilvus import DataType, MilvusClient

    if client.has_collection(name):
        client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field(vector_field, DataType.FLOAT_VECTOR, dim=dim)
    client.create_collection(name, schema=schema, shards_num=shards)


def index_and_load(
    client: Any, name: str, vector_field: str, index_type: str, params: dict, **load: Any
) -> None:
    """Build the L2 index on `vector_field` and load the collection."""
    index = client.prepare_index_params()
    index.add_index(vector_field, index_type=index_type, metric_type="L2", params=params)
    client.create_index(name, index)
    client.load_collection(name, **load)
