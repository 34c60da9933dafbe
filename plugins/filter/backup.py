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


def _kib(text: Any) -> int | None:
    value = str(text or "").strip()
    return int(value) * 1024 if value.isdigit() else None


def milvus_backup_space_problems(free: dict[str, Any], margin: float = 0.1) -> list[str]:
    """The places a backup writes to that lack room, from a registered loop whose items are
    host, path and need (bytes) and whose output is the KiB free there (`df -Pk`)."""
    places = []
    for res in (free or {}).get("results") or []:
        item = res.get("item") or {}
        answered = not res.get("failed") and res.get("rc", 0) == 0
        places.append({"where": f"{item.get('host')}:{item.get('path')}", "need": item.get("need"),
                       "free": _kib(res.get("stdout")) if answered else None})
    return _backup.space_problems(places, margin)


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


def _first_line(value: Any, default: str = "see above") -> str:
    lines = str(value or "").splitlines()
    return lines[0] if lines and lines[0].strip() else default


def milvus_backup_missing_parts(stats: dict[str, Any]) -> list[str]:
    """The parts a backup directory lacks, from a registered stat loop over its parts: bucket/
    must be a directory, the others regular files."""
    missing = []
    for part in (stats or {}).get("results") or []:
        st = part.get("stat") or {}
        if part.get("item") == "bucket":
            if not st.get("isdir"):
                missing.append("bucket/")
        elif not st.get("isreg"):
            missing.append(str(part.get("item")))
    return missing


def milvus_restore_failure(failed_result: dict[str, Any], failed_task: str = "") -> str:
    """Why a restore's block failed, in one line: per failed collection its first message line,
    else the failed task's."""
    failed_result = failed_result or {}
    if "results" in failed_result:
        return "; ".join(
            f"{(res.get('item') or {}).get('name')}: {_first_line(res.get('msg'), 'failed')}"
            for res in failed_result["results"] if res.get("failed")
        )
    return f"'{failed_task}': {_first_line(failed_result.get('msg'))}"


def milvus_restore_lines(done: dict[str, Any], check_mode: bool = False) -> list[str]:
    """One line per collection milvus_restore_collection restored (or would restore in check
    mode): name, new name, rows, segments, samples checked and seconds."""
    lines = []
    for res in (done or {}).get("results") or []:
        if res.get("failed") or res.get("skipped"):
            continue
        item = res.get("item") or {}
        name = str(item.get("name"))
        target = "" if res.get("name") == name else f" as {res.get('name')}"
        if check_mode:
            what = (f"would restore {name}{target}: {res.get('rows')} rows, "
                    f"{len(res.get('imports') or [])} segments to import")
        else:
            what = (f"{name}{target}: {res.get('rows')} rows, {res.get('segments_imported')} segments "
                    f"imported, {res.get('samples_checked')} samples checked")
        lines.append(f"{what}, {res.get('seconds')} s")
    return lines or ["no collection restored"]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "milvus_backup_problems": milvus_backup_problems,
            "milvus_backup_space_problems": milvus_backup_space_problems,
            "milvus_restore_refusals": milvus_restore_refusals,
            "milvus_restore_selection": milvus_restore_selection,
            "milvus_backup_missing_parts": milvus_backup_missing_parts,
            "milvus_restore_failure": milvus_restore_failure,
            "milvus_restore_lines": milvus_restore_lines,
        }
