"""milvus_cluster_info's search_count (the operations playbooks' health gate): what counts as a
whole answer, fed with a real 2.3.5 collection's schema and index (tests/unit/fixtures). The
searches themselves run against the real standalone in tests/integration/test_cluster_info.py."""

from __future__ import annotations

from typing import Any

from ansible_collections.vectorops.milvus.plugins.module_utils._cluster_info import search_probe
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import MilvusError


class Server:
    """A collection as the server described it, answering searches from a list of replies
    (an int: that many hits; an exception: raised)."""

    def __init__(self, fixture_json, replies: list[Any], served: int = 0):
        self.schema = fixture_json("describe_collection.json")
        self.index = fixture_json("indexes.json")
        self.replies, self.served, self.sent = list(replies), served, []

    def describe_collection(self, name: str) -> dict:
        return self.schema

    def indexes(self, name: str) -> list[dict]:
        return self.index

    def served_rows(self, name: str) -> int:
        return self.served

    def search(self, name, field, vectors, top_k, params, consistency_level=None):
        self.sent.append({"field": field, "dim": len(vectors[0]), "top_k": top_k, "params": params,
                          "consistency": consistency_level})
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return [list(range(reply))]


def test_whole_answers_with_the_index_metric_and_parameters(fixture_json):
    server = Server(fixture_json, [10, 10, 10])
    assert search_probe(server, "balance_demo", 3, rows=3500) == {"ok": 3, "failed": 0, "vector_field": "vec"}
    # the HNSW index of the captured collection: its metric, ef at least 64, the field's dim
    assert server.sent == [{"field": "vec", "dim": 16, "top_k": 10, "consistency": "Bounded",
                            "params": {"metric_type": "L2", "params": {"ef": 64}}}] * 3


def test_a_short_answer_or_an_error_fails_and_the_first_one_says_why(fixture_json):
    class Unavailable(Exception):
        message = "fail to search on all shard leaders, err=no available shard delegator found"

    # The first failure ends the probe: a collection that does not answer holds the caller once.
    server = Server(fixture_json, [10, 0, 10])
    assert search_probe(server, "balance_demo", 3, rows=3500) == {
        "ok": 1, "failed": 1, "vector_field": "vec", "error": "search returned 0 of 10 hits"}
    assert len(server.sent) == 2
    server = Server(fixture_json, [Unavailable(), 10])
    assert search_probe(server, "balance_demo", 2, rows=3500) == {
        "ok": 0, "failed": 1, "vector_field": "vec", "error": Unavailable.message}


def test_a_collection_smaller_than_top_k_answers_what_it_serves(fixture_json):
    # Statistics count deleted rows: 6 persisted, 4 served, so 4 hits is a whole answer.
    server = Server(fixture_json, [4, 3], served=4)
    assert search_probe(server, "balance_demo", 2, rows=6) == {
        "ok": 1, "failed": 1, "vector_field": "vec", "error": "search returned 3 of 4 hits"}


def test_no_float_vector_field_is_skipped_and_an_unreadable_schema_fails(fixture_json):
    server = Server(fixture_json, [])
    server.schema = {**server.schema, "fields": [f for f in server.schema["fields"] if f["name"] != "vec"]}
    assert search_probe(server, "balance_demo", 3, rows=3500) == {
        "ok": 0, "failed": 0, "skipped": "no float vector field"}
    assert server.sent == []

    class Gone(Server):
        def describe_collection(self, name: str) -> dict:
            raise MilvusError(f"describe {name}: collection not found")

    assert search_probe(Gone(fixture_json, []), "balance_demo", 3, rows=3500) == {
        "ok": 0, "failed": 1, "error": "describe balance_demo: collection not found"}
