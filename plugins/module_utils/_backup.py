# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Backups: what a manifest records of each collection, and whether a copy of the bucket holds
every file the manifest's segments need. Pure functions over the server's answers (read by
module_utils/_milvus.py) and an object listing, shared by the backup module and the restore
planner.

Milvus 2.3 keeps a segment's data in the bucket under `<rootPath>`:
  insert_log/<collection id>/<partition id>/<segment id>/<field id>/<log id>
  delta_log/<collection id>/<partition id>/<segment id>/<log id>
  stats_log/<collection id>/<partition id>/<segment id>/<field id>/<log id>
  index_files/<build id>/<index version>/<partition id>/<segment id>/<file>
Every field of the schema has its insert logs, and so do the row id (field 0) and timestamp
(field 1) system fields, each with as many files as the others: a bulk insert in backup mode
refuses a segment otherwise, and so does the check here."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

MANIFEST_FORMAT = 1
SYSTEM_FIELDS = (0, 1)  # RowID, Timestamp
# Segment states whose binlogs are complete in the bucket.
PERSISTED_STATES = ("Flushed",)
VECTOR_TYPES = ("FLOAT_VECTOR", "BINARY_VECTOR")
# Search parameters for the samples: generous enough that a vector finds itself in an IVF or
# graph index (unknown keys are ignored by the index types that do not use them).
SAMPLE_SEARCH = {"nprobe": 128, "ef": 128}


def field_entry(fld: dict[str, Any]) -> dict[str, Any]:
    """One field of describe_collection's answer as the manifest keeps it (no object, no enum)."""
    dtype = fld.get("type")
    params = {str(k): v for k, v in (fld.get("params") or {}).items()}
    entry = {
        "field_id": int(fld.get("field_id") or 0),
        "name": str(fld["name"]),
        "type": getattr(dtype, "name", str(dtype)),
        "params": params,
        "is_primary": bool(fld.get("is_primary")),
        "auto_id": bool(fld.get("auto_id")),
        "is_partition_key": bool(fld.get("is_partition_key")),
        "is_dynamic": bool(fld.get("is_dynamic")),
        "description": str(fld.get("description") or ""),
    }
    if fld.get("element_type") is not None:  # an ARRAY's elements: creating it again needs them
        entry["element_type"] = getattr(fld["element_type"], "name", str(fld["element_type"]))
    return entry


def schema_entry(raw: dict[str, Any]) -> dict[str, Any]:
    """describe_collection's answer as the manifest keeps it: what creating the collection again
    needs (fields in their order, whose ids follow from it), and its id."""
    fields = [field_entry(f) for f in raw.get("fields", [])]
    return {
        "collection_id": int(raw.get("collection_id") or 0),
        "description": str(raw.get("description") or ""),
        "auto_id": bool(raw.get("auto_id")),
        "enable_dynamic_field": bool(raw.get("enable_dynamic_field")),
        "num_shards": int(raw.get("num_shards") or 1),
        "num_partitions": int(raw.get("num_partitions") or 0),
        "consistency_level": raw.get("consistency_level_name") or str(raw.get("consistency_level") or ""),
        "fields": fields,
    }


def key_fields(schema: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The primary key field and the first vector field of a manifest's schema (None if absent)."""
    pk = next((f for f in schema["fields"] if f["is_primary"]), None)
    vector = next((f for f in schema["fields"] if f["type"] in VECTOR_TYPES), None)
    return pk, vector


def sample_search_params(indexes: list[dict[str, Any]], vector_field: str) -> dict[str, Any]:
    """Search parameters for the samples: SAMPLE_SEARCH, with the metric of the vector field's
    index when it has one."""
    metric = next((i.get("metric_type") for i in indexes if i.get("field_name") == vector_field), None)
    return {"params": dict(SAMPLE_SEARCH), **({"metric_type": metric} if metric else {})}


def field_ids(schema: dict[str, Any]) -> list[int]:
    """Every field id a segment has insert logs for: the system fields and the schema's."""
    return sorted(set(SYSTEM_FIELDS) | {f["field_id"] for f in schema["fields"]})


def segment_entries(segments: list[dict[str, Any]], partitions: dict[int, str]) -> list[dict[str, Any]]:
    """The persisted segments (Flushed), with their partition's name."""
    out = []
    for seg in sorted(segments, key=lambda s: s["segment_id"]):
        if seg["state"] not in PERSISTED_STATES:
            continue
        out.append({
            "segment_id": int(seg["segment_id"]),
            "partition_id": int(seg["partition_id"]),
            "partition": partitions.get(int(seg["partition_id"]), ""),
            "num_rows": int(seg["num_rows"]),
        })
    return out


def unpersisted(segments: list[dict[str, Any]]) -> list[str]:
    """Segments still taking writes or being flushed after the flush: their rows are not in the
    bucket yet, so a backup taken now would miss them."""
    return [f"{s['segment_id']} ({s['state']})" for s in segments
            if s["state"] not in PERSISTED_STATES + ("Dropped",)]


_INSERT = re.compile(r"(?:^|/)insert_log/(\d+)/(\d+)/(\d+)/(\d+)/[^/]+$")
_DELTA = re.compile(r"(?:^|/)delta_log/(\d+)/(\d+)/(\d+)/[^/]+$")


def binlog_counts(paths: list[str]) -> dict[tuple[int, int, int], dict[int, int]]:
    """(collection, partition, segment) -> field id -> number of insert log files, from object
    paths (relative to the backup's copy of the root path, or with any prefix before it)."""
    counts: dict[tuple[int, int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for path in paths:
        match = _INSERT.search(path)
        if match:
            coll, part, seg, fid = map(int, match.groups())
            counts[(coll, part, seg)][fid] += 1
    return {k: dict(v) for k, v in counts.items()}


def delta_segments(paths: list[str]) -> set[tuple[int, int, int]]:
    """(collection, partition, segment) of every segment with delete logs in the listing."""
    return {tuple(map(int, m.groups())) for m in map(_DELTA.search, paths) if m}  # type: ignore[misc]


Counts = dict[tuple[int, int, int], dict[int, int]]


def missing_files(collection: dict[str, Any], counts: Counts) -> list[str]:
    """What the copy lacks for a manifest's collection: a segment without insert logs for one of
    its fields, or with unequal file counts across fields. Empty when every segment is whole."""
    problems = []
    coll = collection["schema"]["collection_id"]
    wanted = field_ids(collection["schema"])
    for seg in collection["segments"]:
        have = counts.get((coll, seg["partition_id"], seg["segment_id"]), {})
        absent = [fid for fid in wanted if not have.get(fid)]
        if absent:
            problems.append(f"segment {seg['segment_id']} of {collection['name']}: no insert logs for "
                            f"field(s) {', '.join(map(str, absent))}")
            continue
        sizes = {have[fid] for fid in wanted}
        if len(sizes) > 1:
            problems.append(f"segment {seg['segment_id']} of {collection['name']}: fields have "
                            f"{'/'.join(str(have[f]) for f in wanted)} insert log files")
    return problems


def release_line(version: str) -> str:
    """'2.3' of '2.3.5' (or of 'v2.3.5-...')."""
    match = re.search(r"(\d+)\.(\d+)", str(version))
    return f"{match.group(1)}.{match.group(2)}" if match else ""


def manifest_refusals(manifest: dict[str, Any], cluster_version: str) -> list[str]:
    """Why a manifest cannot be restored onto a cluster of `cluster_version`."""
    problems = []
    if manifest.get("format") != MANIFEST_FORMAT:
        problems.append(f"manifest format {manifest.get('format')!r} is not {MANIFEST_FORMAT}")
    backed, here = release_line(manifest.get("milvus_version", "")), release_line(cluster_version)
    if backed != here:
        problems.append(f"the backup is of Milvus {backed or '?'} and the cluster runs {here or '?'}: "
                        "restore onto the same release line")
    return problems


def _size(n: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def space_problems(places: list[dict[str, Any]], margin: float) -> list[str]:
    """Each place a backup writes to that lacks room, one line each. A place is `where` (a
    label), `free` (bytes free there) and `need` (bytes the backup writes there); it needs
    `need` plus `margin` of it (0.1: a tenth more) free, so that the copy does not fill the
    file system it shares with other things. A place whose free space could not be read is
    named too."""
    problems = []
    for place in places:
        where = place.get("where", "?")
        try:
            free, need = int(place["free"]), int(place["need"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"{where}: its free space could not be read")
            continue
        wanted = need * (1 + float(margin))
        if free < wanted:
            problems.append(f"{where} has {_size(free)} free and the backup needs {_size(wanted)} "
                            f"({_size(need)} and {float(margin):.0%} to spare)")
    return problems
