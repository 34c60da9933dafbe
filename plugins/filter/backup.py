# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Filters of the backup and restore playbooks (the logic is in module_utils/_backup.py)."""

from __future__ import annotations

from typing import Any

from ansible_collections.vectorops.milvus.plugins.module_utils import _backup, _restore


def milvus_backup_problems(collections: list[dict[str, Any]], paths: list[str]) -> list[str]:
    """What a copy of the bucket (its object paths) lacks for the recorded collections (the
    milvus_backup_manifest module's answer): one line per incomplete segment."""
    counts = _backup.binlog_counts([str(p) for p in paths])
    return [problem for entry in collections for problem in _backup.missing_files(entry, counts)]


def milvus_restore_refusals(
    manifest: Any,
    wanted: list[str] | None = None,
    restore_as: dict[str, str] | None = None,
    cluster_version: str | None = None,
    existing: list[str] | None = None,
) -> list[str]:
    """Why playbooks/restore.yml must not restore `wanted` from this manifest (its text or
    object); with the cluster's version and collections, the cluster's refusals too."""
    return _restore.restore_refusals(manifest, wanted, restore_as, cluster_version, existing)


def milvus_restore_selection(
    manifest: Any, wanted: list[str] | None = None, restore_as: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The collections restore.yml restores: name, target, collection_id, segments, entry."""
    return _restore.restore_selection(manifest, wanted, restore_as)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "milvus_backup_problems": milvus_backup_problems,
            "milvus_restore_refusals": milvus_restore_refusals,
            "milvus_restore_selection": milvus_restore_selection,
        }
