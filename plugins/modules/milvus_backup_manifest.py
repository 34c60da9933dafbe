#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: flush collections and record what a backup of them must bring back."""

from __future__ import annotations

DOCUMENTATION = r"""
module: milvus_backup_manifest
short_description: Flush Milvus collections and record what a backup of them must bring back
version_added: 0.1.0
description:
  - Flushes each collection (all of them, or O(collections)), so that every row acknowledged
    before the call is in the bucket's binlogs, and records per collection what a restore needs
    and what proves it - the schema with its field ids (the order that gives them back), the
    partitions with their ids, the indexes, the load state and replica number, the rows served
    (Strong C(count(*))) and the flushed segments with their partitions and row counts, and
    O(samples) primary keys with the top-1 hit of their own vector.
  - C(playbooks/backup.yml) runs it between switching automatic compaction off and taking the
    etcd snapshot, then checks that the copy of the bucket holds every file of every recorded
    segment. Rows written after the flush are in segments it does not record.
  - A collection that does not exist fails the task in one line before anything is flushed.
version_added_collection: vectorops.milvus
author:
  - vectorops team (!UNKNOWN)
extends_documentation_fragment:
  - vectorops.milvus.connection
  - vectorops.milvus.attributes
attributes:
  check_mode:
    support: full
    details: Records without flushing; segments that a flush would persist are then left out.
  diff_mode:
    support: none
    details: Nothing is changed.
  idempotent:
    support: full
    details: A flush changes no data; the module never reports a change.
options:
  collections:
    description: The collections to record; all of the database's when empty.
    type: list
    elements: str
    default: []
  flush:
    description: Flush each collection before recording its segments.
    type: bool
    default: true
  samples:
    description: Primary keys to sample per loaded collection, with their top-1 hits (0 to 1000).
    type: int
    default: 100
"""

EXAMPLES = r"""
- name: Record every collection for a backup
  vectorops.milvus.milvus_backup_manifest:
  register: backup_manifest

- name: Only these, without samples
  vectorops.milvus.milvus_backup_manifest:
    collections: [docs, chunks]
    samples: 0
"""

RETURN = r"""
milvus_version:
  description: The server's version.
  returned: always
  type: str
  sample: 2.3.5
collections:
  description: One entry per collection, in name order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The collection's name.
      type: str
      sample: docs
    schema:
      description: Its id, fields (field_id, name, type, params, is_primary, auto_id, ...) in order,
        shards, dynamic field, consistency level.
      type: dict
      sample: {collection_id: 4452, num_shards: 2, fields: [{field_id: 100, name: id, type: INT64}]}
    partitions:
      description: Partition id (as a string) to name.
      type: dict
      sample: {"4453": _default}
    indexes:
      description: describe_index of every index.
      type: list
      elements: dict
      sample: [{field_name: vector, index_type: IVF_FLAT, metric_type: L2}]
    load_state:
      description: Loaded, Loading or NotLoad.
      type: str
      sample: Loaded
    replica_number:
      description: Replicas loaded (0 when not loaded).
      type: int
      sample: 2
    rows:
      description: Rows served (Strong count(*)) of a loaded collection, else the persisted row count.
      type: int
      sample: 50000
    segments:
      description: The flushed segments (segment_id, partition_id, partition, num_rows).
      type: list
      elements: dict
      sample: [{segment_id: 4460, partition_id: 4453, partition: _default, num_rows: 25000}]
    not_recorded:
      description: Segments left out because they were not flushed (rows written after the flush).
      type: list
      elements: str
      sample: ["4470 (Growing)"]
    samples:
      description: "[primary key, top-1 id of its own vector] pairs (empty when not loaded)."
      type: list
      elements: list
      sample: [[17, 17], [42, 42]]
"""

from ansible_collections.vectorops.milvus.plugins.module_utils import _backup  # noqa: E402
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import MilvusError  # noqa: E402
from ansible_collections.vectorops.milvus.plugins.module_utils._module import MilvusModule  # noqa: E402


def record(milvus, name: str, flush: bool, samples: int) -> dict:
    raw = milvus.describe_raw(name)
    schema = _backup.schema_entry(raw)
    if flush:
        milvus.flush(name)
    partitions = milvus.partitions(name)
    segments = milvus.persistent_segments(name)
    indexes = milvus.indexes(name)
    load_state = milvus.load_state(name)
    loaded = load_state == "Loaded"
    entry = {
        "name": name,
        "schema": schema,
        "partitions": {str(k): v for k, v in sorted(partitions.items())},
        "indexes": indexes,
        "load_state": load_state,
        "replica_number": len(milvus.replicas(name)) if loaded else 0,
        "rows": milvus.served_rows(name) if loaded else milvus.row_count(name),
        "segments": _backup.segment_entries(segments, partitions),
        "not_recorded": _backup.unpersisted(segments),
        "samples": [],
    }
    pk, vector = _backup.key_fields(schema)
    if loaded and samples and pk and vector:
        params = _backup.sample_search_params(indexes, vector["name"])
        entry["samples"] = milvus.sample_top1(name, pk["name"], vector["name"], samples, params)
    return entry


def main() -> None:
    module = MilvusModule(
        argument_spec={
            "collections": {"type": "list", "elements": "str", "default": []},
            "flush": {"type": "bool", "default": True},
            "samples": {"type": "int", "default": 100},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not 0 <= params["samples"] <= 1000:
        module.fail_json(msg=f"samples must be 0 to 1000, not {params['samples']}")
    with module.connection() as milvus:
        version = milvus.require_version()["version"]
        present = milvus.list_collections()
        wanted = sorted(set(params["collections"])) or present
        absent = [c for c in wanted if c not in present]
        if absent:
            raise MilvusError(f"no collection {', '.join(absent)} in database {params['db_name']} "
                              f"(it has: {', '.join(present) or 'none'}); nothing was flushed")
        flush = params["flush"] and not module.check_mode
        collections = [record(milvus, name, flush, params["samples"]) for name in wanted]
    module.exit_json(changed=False, milvus_version=version, collections=collections)


if __name__ == "__main__":
    main()
