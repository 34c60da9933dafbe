#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: bring one backed-up collection back into a running Milvus (collection mode)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: milvus_restore_collection
short_description: Bring one backed-up collection back into a running Milvus, checked against its manifest
version_added: 0.1.0
description:
  - Restores one collection of a backup taken by C(playbooks/backup.yml) into a running cluster,
    with no restart and without touching any other collection. O(manifest) is that collection's
    entry of the backup's C(manifest.json) (what M(vectorops.milvus.milvus_backup_manifest)
    recorded); the backup's C(insert_log) and C(delta_log) trees must already be uploaded into
    the Milvus bucket under O(files_prefix).
  - Creates the collection (O(restore_as), else the backed-up name) with the same fields in the
    same order, shards, dynamic field and consistency level, and checks that the new field ids
    are the backup's (the import finds each field's files by id); creates the partitions.
  - Imports each recorded segment with Milvus's bulk insert in backup mode (option
    C(backup=true), no time range), one segment at a time into its partition, from
    C(<files_prefix>/insert_log/<collection id>/<partition id>/<segment id>/) and the matching
    C(delta_log) directory, so rows deleted before the backup stay deleted. Primary keys are kept,
    auto ids included.
  - Creates the backed-up indexes and waits for them, loads with the backed-up replica number
    when the collection was loaded (or as O(load) says), then checks the result against the
    manifest - the rows served (a Strong count query) equal the manifest's, and every sampled
    primary key finds itself (or the hit the backup recorded) as its top-1.
  - Refuses in one line, before changing anything, when the entry is malformed, when the
    cluster's Milvus major.minor differs from O(milvus_version), when the target name exists, or when
    O(listing) shows the upload lacks a segment's files.
  - A failed or unfinished import drops the collection the run created and fails in one line
    naming the segment. A restored collection that does not match the manifest is kept for
    inspection, and the failure says so.
  - Milvus 2.3 expires an import task that works for more than 900 s (C(rootCoord.importTaskExpiration));
    segments are imported one at a time because each data node runs one task at a time.
version_added_collection: vectorops.milvus
author:
  - vectorops team (!UNKNOWN)
extends_documentation_fragment:
  - vectorops.milvus.connection
  - vectorops.milvus.attributes
attributes:
  check_mode:
    support: full
    details: Checks the refusals and returns the plan (collection, partitions, imports, indexes, load)
      without creating or importing anything.
  diff_mode:
    support: none
    details: The result lists what was created and imported.
  idempotent:
    support: none
    details: A second run refuses, as the collection then exists.
options:
  manifest:
    description: One collection's entry of the backup's C(manifest.json) (name, schema with field ids,
      partitions, indexes, load_state, replica_number, rows, segments, samples).
    type: dict
    required: true
  milvus_version:
    description: The Milvus version the backup was taken from (C(milvus_version) of C(manifest.json));
      the cluster must run the same major.minor.
    type: str
    required: true
  restore_as:
    description: The name to restore under; the backed-up name when omitted. It must not exist.
    type: str
  files_prefix:
    description:
      - Where in the Milvus bucket the backup's C(insert_log) and C(delta_log) trees were uploaded,
        as an object key prefix without the bucket's name, for example C(vectorops-restore/20261202T101500Z).
        Keep it outside the cluster's own root path (C(files)); Milvus's garbage collector deletes
        unknown objects under it.
      - A standalone with local storage (C(common.storageType=local)) reads file paths; give the
        absolute directory there.
    type: str
    required: true
  listing:
    description:
      - The object paths of the upload (any prefix before C(insert_log/) or C(delta_log/)), for
        example the C(Path)s of C(rclone lsjson -R --files-only).
      - When given, a segment whose files are missing from it is refused before anything is
        created, and segments without delete logs are imported without a delete directory.
        When omitted, every segment is imported with its delete directory (an absent one lists empty).
    type: list
    elements: str
  load:
    description: Load the restored collection; when omitted, as the manifest says (loaded when the
      backup found it loaded, with its replica number). The row and sample checks need it loaded;
      an unloaded restore checks the imported rows only.
    type: bool
  wait_timeout:
    description: Seconds allowed for the whole restore - imports, index builds and the load.
    type: float
    default: 1800
  poll_interval:
    description: Seconds between two reads of an import task or index build.
    type: float
    default: 1.0
notes:
  - O(timeout) bounds each request; O(wait_timeout) bounds the run.
seealso:
  - module: vectorops.milvus.milvus_backup_manifest
"""

EXAMPLES = r"""
- name: Restore docs from a backup under a new name
  vectorops.milvus.milvus_restore_collection:
    manifest: "{{ (lookup('file', backup_path ~ '/manifest.json') | from_json).collections
                  | selectattr('name', 'eq', 'docs') | first }}"
    milvus_version: "{{ (lookup('file', backup_path ~ '/manifest.json') | from_json).milvus_version }}"
    restore_as: docs_restored
    files_prefix: vectorops-restore/20261202T101500Z
  register: restored

- name: Plan only
  vectorops.milvus.milvus_restore_collection:
    manifest: "{{ docs_entry }}"
    milvus_version: 2.3.5
    files_prefix: vectorops-restore/20261202T101500Z
    listing: "{{ upload_listing }}"
  check_mode: true
"""

RETURN = r"""
name:
  description: The restored collection.
  returned: always
  type: str
  sample: docs_restored
rows:
  description: Rows the restored collection serves (a Strong count query) when loaded, else the rows imported;
    in check mode, the manifest's.
  returned: always
  type: int
  sample: 49970
segments_imported:
  description: Segments imported (0 in check mode).
  returned: always
  type: int
  sample: 6
samples_checked:
  description: Sampled primary keys searched for, each found as its own top-1 (or the backup's).
  returned: always
  type: int
  sample: 100
seconds:
  description: Time the run took.
  returned: always
  type: float
  sample: 41.7
loaded:
  description: Whether the restored collection was (or would be) loaded.
  returned: always
  type: bool
  sample: true
replica_number:
  description: Replicas it was (or would be) loaded with; 0 when not loaded.
  returned: always
  type: int
  sample: 1
imports:
  description: One bulk insert per segment - segment_id, partition, files, and after the run task_id
    and rows imported.
  returned: always
  type: list
  elements: dict
  sample: [{segment_id: 4460, partition: _default, num_rows: 25000, task_id: 4481, rows: 24990,
            files: [restore/r1/insert_log/4452/4453/4460/, restore/r1/delta_log/4452/4453/4460/]}]
plan:
  description: What would be created - collection (fields, shards, dynamic field, consistency level),
    partitions, indexes, load and replica_number.
  returned: check mode
  type: dict
  sample: {name: docs_restored, partitions: [hot], load: true, replica_number: 2}
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

from ansible_collections.vectorops.milvus.plugins.module_utils import _backup, _restore  # noqa: E402
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import Milvus, MilvusError  # noqa: E402
from ansible_collections.vectorops.milvus.plugins.module_utils._module import MilvusModule  # noqa: E402

DONE = "Completed"
FAILED = ("Failed", "Failed and cleaned")


class Clock:
    """The run's deadline (wait_timeout) and its poll interval."""

    def __init__(self, wait_timeout: float, poll_interval: float):
        self.started = time.monotonic()
        self.deadline = self.started + wait_timeout
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)


def import_segment(milvus: Milvus, target: str, item: dict[str, Any], clock: Clock) -> dict[str, Any]:
    """One segment's bulk insert, waited for until Completed; MilvusError naming the segment
    when it fails or outlasts the run's deadline."""
    what = f"segment {item['segment_id']} ({item['partition']})"
    try:
        task = milvus.import_backup_files(target, item["partition"], item["files"])
    except MilvusError as exc:
        raise MilvusError(f"{what}: {exc}") from None
    while True:
        state = milvus.import_state(task)
        if state["state"] == DONE:
            return {**item, "task_id": task, "rows": state["row_count"]}
        if state["state"] in FAILED:
            raise MilvusError(
                f"{what} did not import (task {task} {state['state']}): "
                f"{state['failed_reason'] or 'no reason given'}"
            )
        if clock.left() <= 0:
            raise MilvusError(
                f"{what} still {state['state']} (task {task}, {state['progress'] or 0}%) "
                f"after wait_timeout {clock.wait_timeout:g} s"
            )
        time.sleep(min(clock.poll_interval, clock.left()))


def create_and_import(milvus: Milvus, entry: dict[str, Any], plan: dict[str, Any], clock: Clock) -> list:
    """Create the collection and its partitions and import every segment. On any failure the
    collection created here is dropped again, and the MilvusError says so."""
    target = plan["name"]
    milvus.create_collection_like(target, plan["collection"])
    try:
        wrong = _restore.field_id_problems(entry, milvus.describe_raw(target))
        if wrong:
            raise MilvusError(
                _restore.one_line_list("the new collection's field ids are not the backup's", wrong)
            )
        for partition in plan["partitions"]:
            milvus.create_partition(target, partition)
        return [import_segment(milvus, target, item, clock) for item in plan["imports"]]
    except Exception as exc:  # noqa: BLE001 - dropped, then one line
        try:
            milvus.drop_collection(target)
            after = f"the collection {target} it had created was dropped"
        except MilvusError as drop:
            after = f"dropping the collection {target} it had created failed too ({drop}): drop it by hand"
        raise MilvusError(f"restore of {target} failed: {exc}; {after}") from None


def wait_indexes(milvus: Milvus, target: str, clock: Clock) -> None:
    """Until every index of `target` is built (bounded by the run's deadline)."""
    while True:
        indexes = milvus.indexes(target)
        failed = [i.get("index_name", "?") for i in indexes if i.get("state") == "Failed"]
        if failed:
            raise MilvusError(f"index {', '.join(failed)} failed to build")
        if all(i.get("state") == "Finished" and not i.get("pending_index_rows") for i in indexes):
            return
        if clock.left() <= 0:
            raise MilvusError(f"indexes not built after wait_timeout {clock.wait_timeout:g} s")
        time.sleep(min(clock.poll_interval, clock.left()))


def check(milvus: Milvus, entry: dict[str, Any], plan: dict[str, Any], imported: list, clock: Clock) -> dict:
    """Indexes, load, then rows and samples against the manifest; MilvusError on a mismatch."""
    target = plan["name"]
    if plan["indexes"]:
        milvus.create_indexes(target, plan["indexes"])
        wait_indexes(milvus, target, clock)
    samples_checked = 0
    if plan["load"]:
        milvus.load(target, plan["replica_number"], timeout=max(clock.left(), 1.0))
        rows = milvus.served_rows(target)
        problems = [p for p in [_restore.rows_problem(entry, rows, "served")] if p]
        pk, vector = _backup.key_fields(entry["schema"])
        if entry["samples"] and pk and vector:
            keys = [pk_value for pk_value, _unused in entry["samples"]]
            params = _backup.sample_search_params(entry["indexes"], vector["name"])
            found = milvus.top1_of(target, pk["name"], vector["name"], keys, params)
            problems += _restore.sample_problems(entry["samples"], found)
            samples_checked = len(keys)
    else:
        rows = sum(item["rows"] for item in imported)
        problems = [p for p in [_restore.rows_problem(entry, rows, "imported")] if p]
    if problems:
        raise MilvusError(
            _restore.one_line_list(f"the restored {target} does not match the backup", problems)
        )
    return {"rows": rows, "samples_checked": samples_checked}


def main() -> None:
    module = MilvusModule(
        argument_spec={
            "manifest": {"type": "dict", "required": True},
            "milvus_version": {"type": "str", "required": True},
            "restore_as": {"type": "str"},
            "files_prefix": {"type": "str", "required": True},
            "listing": {"type": "list", "elements": "str"},
            "load": {"type": "bool"},
            "wait_timeout": {"type": "float", "default": 1800.0},
            "poll_interval": {"type": "float", "default": 1.0},
        },
        supports_check_mode=True,
    )
    params = module.params
    clock = Clock(params["wait_timeout"], max(params["poll_interval"], 0.1))
    entry = params["manifest"]
    malformed = _restore.entry_problems(entry)
    if malformed:
        module.fail_json(
            msg=_restore.one_line_list("the manifest entry is malformed", malformed) + "; nothing was changed"
        )
    target = params["restore_as"] or entry["name"]
    with module.connection() as milvus:
        cluster_version = milvus.require_version()["version"]
        refused = _restore.refusals(
            entry,
            params["milvus_version"],
            cluster_version,
            target,
            milvus.list_collections(),
            params["listing"],
        )
        if refused:
            raise MilvusError("; ".join(refused) + "; nothing was changed")
        plan = _restore.plan(entry, target, params["files_prefix"], params["listing"], params["load"])
        common = {
            "changed": True,
            "name": target,
            "loaded": plan["load"],
            "replica_number": plan["replica_number"],
        }
        if module.check_mode:
            module.exit_json(
                **common,
                rows=entry["rows"],
                segments_imported=0,
                samples_checked=0,
                seconds=clock.seconds(),
                imports=plan["imports"],
                plan={k: v for k, v in plan.items() if k != "imports"},
            )
        imported = create_and_import(milvus, entry, plan, clock)
        try:
            checked = check(milvus, entry, plan, imported, clock)
        except MilvusError as exc:
            raise MilvusError(
                f"{exc}; the restored collection {target} is kept for inspection "
                "(drop it before restoring again)"
            ) from None
    module.exit_json(
        **common, **checked, segments_imported=len(imported), seconds=clock.seconds(), imports=imported
    )


if __name__ == "__main__":
    main()
