# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Filters of the backup and restore playbooks (the logic is in module_utils/_backup.py)."""

from __future__ import annotations

from typing import Any

from ansible_collections.vectorops.milvus.plugins.module_utils import _backup


def milvus_backup_problems(collections: list[dict[str, Any]], paths: list[str]) -> list[str]:
    """What a copy of the bucket (its object paths) lacks for the recorded collections (the
    milvus_backup_manifest module's answer): one line per incomplete segment."""
    counts = _backup.binlog_counts([str(p) for p in paths])
    return [problem for entry in collections for problem in _backup.missing_files(entry, counts)]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"milvus_backup_problems": milvus_backup_problems}
