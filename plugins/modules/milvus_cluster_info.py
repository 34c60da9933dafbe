#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: milvus_cluster_info."""

from __future__ import annotations

DOCUMENTATION = r"""
module: milvus_cluster_info
short_description: Health, topology and segment balance of a Milvus cluster
version_added: 0.1.0
description:
  - Reads the server version, every node the cluster knows (from GetMetrics C(system_info)),
    the collections with their load state, replicas and rows, and how sealed and growing segments
    are spread over the query nodes, per collection and cluster-wide.
  - Computes balance statistics (mean, standard deviation, coefficient of variation, max and min)
    and reports RV(balanced) when the standard deviation is at most O(balance_threshold) times the mean.
  - Read-only. Node ids always come with their C(ip:port) address.
extends_documentation_fragment:
  - vectorops.milvus.connection
  - vectorops.milvus.attributes
  - vectorops.milvus.attributes.read_only
options:
  collections:
    description:
      - Collections to report. All collections of O(db_name) when omitted.
      - A named collection that does not exist fails the task.
    type: list
    elements: str
  filter:
    description:
      - Subsets to gather. C(all), or any of C(version), C(nodes), C(collections), C(distribution),
        C(balance). Prefix a name with C(!) to leave it out, for example C(['!collections']).
    type: list
    elements: str
    default: [all]
  balance_threshold:
    description:
      - Largest coefficient of variation (std dev / mean) still counted as balanced. 0.2 flags a
        std dev above 20% of the mean.
    type: float
    default: 0.2
  balance_by:
    description:
      - Measure load by loaded rows or by segment count.
    type: str
    choices: [rows, segments]
    default: rows
  count_rows:
    description:
      - Also count the rows each loaded collection serves, with C(count(*)) at Strong consistency
        (C(served_rows) in each of RV(collections)), as a check that no row was lost needs. C(rows) is what
        Milvus persisted (its collection statistics), which lags and counts deleted rows.
      - A collection whose count fails gets an C(error) and is listed in RV(unavailable_collections).
    type: bool
    default: false
  search_count:
    description:
      - Also send this many searches to each loaded collection, one random query vector each
        (top 10, Bounded consistency, the search parameters of its vector field's index), as the
        health gate of the operations playbooks does. A search that fails, or comes back with fewer
        hits than the collection can give, ends that collection's searches and lists it in
        RV(unsearchable_collections); C(search) in its entry of RV(collections) counts the whole
        answers before it. C(0) sends none.
      - A collection without a float vector field is not searched (C(search.skipped) says so).
    type: int
    default: 0
notes:
  - Milvus 2.3 reports only sealed segments through GetQuerySegmentInfo; rows still in growing
    segments appear in the C(rows) of RV(collections) once flushed, not in the distribution.
author:
  - vectorops team (!UNKNOWN)
"""

EXAMPLES = r"""
- name: How healthy and how balanced is the cluster
  vectorops.milvus.milvus_cluster_info:
    hosts: "{{ groups['milvus_proxy'] | map('extract', hostvars, 'ansible_host')
               | map('regex_replace', '$', ':19530') }}"
    user: root
    password: "{{ milvus_root_password }}"
  register: milvus
  delegate_to: localhost
  run_once: true

- name: Fail when a query node holds far more than the others
  ansible.builtin.assert:
    that: milvus.balanced
    fail_msg: "{{ milvus.balance }}"

- name: Every loaded collection answers three searches, as the operations playbooks' gate asks
  vectorops.milvus.milvus_cluster_info:
    uri: http://10.0.0.11:19530
    token: "{{ milvus_token }}"
    filter: [collections]
    search_count: 3
  register: serving
  failed_when: serving.unsearchable_collections | length > 0

- name: Only nodes and version, skip the per-collection work
  vectorops.milvus.milvus_cluster_info:
    uri: http://10.0.0.11:19530
    token: "{{ milvus_token }}"
    filter: [version, nodes]

- name: One collection, balance by segment count
  vectorops.milvus.milvus_cluster_info:
    uri: http://10.0.0.11:19530
    token: "{{ milvus_token }}"
    collections: [products]
    balance_by: segments
"""

RETURN = r"""
version:
  description: Server version (major.minor.patch).
  returned: when filter includes version
  type: str
  sample: 2.3.5
server:
  description: Version details and the proxy that answered.
  returned: when filter includes version
  type: dict
  sample: {"raw": "v2.3.5", "major": 2, "minor": 3, "patch": 5, "deploy_mode": "CLUSTER",
           "build_time": "Fri Jan 19 14:23:10 UTC 2024", "git_commit": "9aceff5a6",
           "connected_to": "10.0.0.11:19530"}
nodes:
  description: Every node from GetMetrics system_info, coordinators first.
  returned: when filter includes nodes
  type: list
  elements: dict
  sample: [{"id": 4, "role": "querynode", "address": "10.0.0.12:21123", "name": "querynode4",
            "has_error": false,
            "error_reason": "", "build_version": "v2.3.5", "deploy_mode": "CLUSTER", "cpu_cores": 16,
            "memory_bytes": 67108864000, "memory_used_bytes": 2147483648}]
query_nodes:
  description: The query nodes (id, address, name).
  returned: when filter includes nodes
  type: list
  elements: dict
  sample: [{"id": 4, "address": "10.0.0.12:21123", "name": "querynode4"}]
collections:
  description: Per collection, its load state, rows, replicas, segments, per-node distribution and balance.
  returned: when filter includes collections, distribution or balance
  type: list
  elements: dict
  sample: [{"name": "products", "load_state": "Loaded", "loaded": true, "rows": 4000, "served_rows": 4000,
            "replica_number": 1,
            "replicas": [{"id": 4477, "resource_group": "__default_resource_group",
                          "nodes": [{"id": 4, "address": "10.0.0.12:21123"}],
                          "shards": [{"channel": "by-dev-rootcoord-dml_0_447v0",
                                      "leader": {"id": 4, "address": "10.0.0.12:21123"},
                                      "nodes": [{"id": 4, "address": "10.0.0.12:21123"}]}]}],
            "segments": {"sealed": 4, "growing": 0, "rows": 4000},
            "distribution": [{"id": 4, "address": "10.0.0.12:21123", "segments": 4, "rows": 4000,
                              "sealed_segments": 4, "sealed_rows": 4000, "growing_segments": 0,
                              "growing_rows": 0}],
            "balance": {"by": "rows", "count": 1, "total": 4000, "mean": 4000.0, "std_dev": 0.0, "cv": 0.0,
                        "max": 4000, "min": 4000, "max_min_ratio": 1.0, "threshold": 0.2, "balanced": true,
                        "max_node": {"id": 4, "address": "10.0.0.12:21123"},
                        "min_node": {"id": 4, "address": "10.0.0.12:21123"}}}]
distribution:
  description: Cluster-wide segments and rows per query node over all loaded collections, empty
    nodes included.
  returned: when filter includes distribution
  type: list
  elements: dict
  sample: [{"id": 4, "address": "10.0.0.12:21123", "segments": 4, "rows": 4000, "sealed_segments": 4,
            "sealed_rows": 4000, "growing_segments": 0, "growing_rows": 0, "collections": 1}]
empty_nodes:
  description: Query nodes that hold no segment of any collection.
  returned: when filter includes distribution
  type: list
  elements: dict
  sample: [{"id": 7, "address": "10.0.0.13:21123"}]
balance:
  description: Cluster-wide balance statistics over the query nodes.
  returned: when filter includes balance
  type: dict
  sample: {"by": "rows", "count": 3, "total": 12000, "mean": 4000.0, "std_dev": 3265.9863, "cv": 0.8165,
           "max": 8000, "min": 0, "max_min_ratio": null, "threshold": 0.2, "balanced": false,
           "max_node": {"id": 4, "address": "10.0.0.12:21123"},
           "min_node": {"id": 7, "address": "10.0.0.13:21123"}}
balanced:
  description: True when the cluster and every loaded collection are within O(balance_threshold).
  returned: when filter includes balance
  type: bool
  sample: false
unbalanced_collections:
  description: Loaded collections whose own distribution is outside O(balance_threshold).
  returned: when filter includes balance
  type: list
  elements: str
  sample: [products]
unavailable_collections:
  description:
    - Loaded collections whose replicas or segments Milvus could not report, such as a replica
      whose only query node is down; their entry in RV(collections) carries the one-line C(error).
  returned: when filter includes collections, distribution or balance
  type: list
  elements: str
  sample: [products]
unsearchable_collections:
  description:
    - With O(search_count), the loaded collections where a search failed or came back short; the
      C(search) of their entry in RV(collections) says how many came back whole first (C(ok)), the
      C(vector_field) searched and, in C(error), the failure, such as C(search returned 0 of 10 hits).
  returned: when O(search_count) is above 0
  type: list
  elements: str
  sample: [products]
"""

from ansible_collections.vectorops.milvus.plugins.module_utils._cluster_info import (  # noqa: E402
    SUBSETS,
    gather,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._common import resolve_subset  # noqa: E402
from ansible_collections.vectorops.milvus.plugins.module_utils._module import MilvusModule  # noqa: E402


def main() -> None:
    module = MilvusModule(
        argument_spec={
            "collections": {"type": "list", "elements": "str"},
            "filter": {"type": "list", "elements": "str", "default": ["all"]},
            "balance_threshold": {"type": "float", "default": 0.2},
            "balance_by": {"type": "str", "choices": ["rows", "segments"], "default": "rows"},
            "count_rows": {"type": "bool", "default": False},
            "search_count": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    try:
        want = resolve_subset(module.params["filter"], SUBSETS)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if module.params["balance_threshold"] < 0:
        module.fail_json(msg="balance_threshold must be >= 0")
    if not 0 <= module.params["search_count"] <= 100:
        module.fail_json(msg=f"search_count must be between 0 and 100, got {module.params['search_count']}")
    if module.params["search_count"]:
        want.add("collections")  # the searches are reported per collection
    with module.connection() as milvus:
        result = gather(milvus, module.params, want)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
