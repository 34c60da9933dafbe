#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: milvus_facts."""

from __future__ import annotations

DOCUMENTATION = r"""
module: milvus_facts
short_description: The health of a Milvus cluster as the fact milvus_cluster
version_added: 0.1.0
description:
  - Gathers what M(vectorops.milvus.milvus_cluster_info) reports (version, nodes, collections,
    segment distribution, balance) through one proxy and returns it as the fact C(milvus_cluster),
    with the alerts that C(playbooks/health.yml) raises, judged by the same
    C(vectorops.milvus.milvus_health_alerts) filter, and a one-line RV(summary).
  - Made for ad-hoc runs against the proxies of an inventory, one view per proxy
    (C(ansible milvus_proxy -i prod -m vectorops.milvus.milvus_facts -o)). The collection's action
    plugin runs it on the controller with the controller's Python, whatever host it targets, and
    takes the connection from the inventory (see the C(vectorops.milvus.connection) options).
  - Targeting a proxy host connects to that host's own proxy only, so a proxy that does not answer
    fails that host. Targeting any other host (or C(localhost)) tries every proxy in turn.
  - With the jsonfile fact cache, a later playbook that gathers no facts reads
    C(hostvars[host]['milvus_cluster']).
  - Read-only.
extends_documentation_fragment:
  - vectorops.milvus.connection
  - vectorops.milvus.attributes
  - vectorops.milvus.attributes.read_only
  - vectorops.milvus.attributes.facts
options:
  expected:
    description:
      - The processes that should run, as C(playbooks/vars/milvus_ops.yml) computes them in
        C(milvus_ops_expected), dicts with C(role) (C(proxy), C(querynode), C(datanode),
        C(indexnode)), C(host), C(ip) and optionally C(count) (default 1).
      - When omitted, the variable C(milvus_ops_expected) is used if it is defined; without either
        no process is reported missing and RV(summary) counts the nodes seen.
      - Proxies are judged by whether their port accepts connections from the controller
        (GetMetrics through a proxy lists only that proxy); etcd sessions are not read, so a
        query node that restarted may be listed minutes late.
    type: list
    elements: dict
  thresholds:
    description:
      - Alert thresholds of the C(vectorops.milvus.milvus_health_alerts) filter, over the defaults
        C(nodes_down) 1 and C(imbalance) 0.3, the defaults of C(playbooks/health.yml).
      - C(nodes_down) alerts when at least this many processes of one role are missing;
        C(imbalance) when the coefficient of variation of rows per query node is above it (it is also
        the balance threshold of the fact's C(balanced)).
      - The probe thresholds (C(p99_ms), C(min_rows_per_sec), C(max_error_rate)) are accepted and
        have no effect (this module runs no probe).
    type: dict
notes:
  - The alerts, the proxy checks and RV(summary) are computed on the controller by the collection's
    action plugin after the module answered.
author:
  - vectorops team (!UNKNOWN)
"""

EXAMPLES = r"""
# Ad hoc, each proxy's view, one line per host:
#   ansible milvus_proxy -i inventories/sandbox -m vectorops.milvus.milvus_facts -o

- name: Read the cluster's health as facts (cached by the jsonfile fact cache)
  vectorops.milvus.milvus_facts:
    expected: "{{ milvus_ops_expected }}"
    thresholds: {imbalance: 0.2}

- name: Fail when an alert fires
  ansible.builtin.assert:
    that: milvus_cluster.alerts | length == 0
    fail_msg: "{{ milvus_cluster.alerts | map(attribute='message') | join('; ') }}"
"""

RETURN = r"""
ansible_facts:
  description: The fact C(milvus_cluster).
  returned: success
  type: complex
  contains:
    milvus_cluster:
      description:
        - Every return value of M(vectorops.milvus.milvus_cluster_info) (C(version), C(server),
          C(nodes), C(query_nodes), C(collections), C(distribution), C(empty_nodes), C(balance),
          C(balanced), C(unbalanced_collections), C(unavailable_collections)), plus C(alerts)
          (each with C(name), C(value), C(limit), C(message)), C(proxies) (each inventory proxy's
          C(address) and whether connecting C(failed)), C(expected) (the processes judged against)
          and C(summary).
      type: dict
      sample: {"version": "2.3.5", "balanced": true, "alerts": [], "summary": "..."}
summary:
  description: One line a person reads first (version, proxy, nodes up/expected, balance, alerts).
  returned: success
  type: str
  sample: "Milvus 2.3.5 via 10.213.0.11:19530: 12/12 nodes up; balance cv 0.04 (3 query nodes); no alerts"
"""

from ansible_collections.vectorops.milvus.plugins.module_utils._cluster_info import (  # noqa: E402
    SUBSETS,
    check_expected,
    check_thresholds,
    gather,
)
from ansible_collections.vectorops.milvus.plugins.module_utils._module import MilvusModule  # noqa: E402


def main() -> None:
    module = MilvusModule(
        argument_spec={
            "expected": {"type": "list", "elements": "dict"},
            "thresholds": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    try:
        thresholds = check_thresholds(module.params["thresholds"])
        check_expected(module.params["expected"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    params = dict(
        module.params,
        collections=None,
        balance_by="rows",
        balance_threshold=float(thresholds["imbalance"]),
        count_rows=False,
    )
    with module.connection(params) as milvus:
        info = gather(milvus, params, set(SUBSETS))
    module.exit_json(changed=False, ansible_facts={"milvus_cluster": info})


if __name__ == "__main__":
    main()
