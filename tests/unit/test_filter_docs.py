"""Every filter the collection exports is documented: ansible-doc finds a full sidecar for each."""

from __future__ import annotations

import json

import yaml
from ansible_collections.vectorops.milvus.plugins.filter import (
    backup,
    firewall,
    members,
    milvus,
    operations,
    replace,
    topology,
    upgrade,
)

from tests.conftest import run

FILTERS = sorted(
    {name for mod in (backup, firewall, members, milvus, operations, replace, topology, upgrade)
     for name in mod.FilterModule().filters()}
)


def test_every_exported_filter_is_documented():
    res = run(["ansible-doc", "-t", "filter", "-j", *(f"vectorops.milvus.{f}" for f in FILTERS)],
              check=True, timeout=300)
    docs = json.loads(res.stdout)
    assert sorted(docs) == [f"vectorops.milvus.{f}" for f in FILTERS], res.stderr
    for name, doc in docs.items():
        assert doc["doc"].get("short_description"), name
        assert "_input" in (doc["doc"].get("options") or {}), name
        assert doc["examples"] and yaml.safe_load(doc["examples"]), name
        assert "_value" in (doc["return"] or {}), name
