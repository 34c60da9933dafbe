# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Collection-mode restore: what one manifest entry (milvus_backup_manifest's answer) asks to be
created and imported, why it cannot be, and whether the result matches the backup. Pure
functions; the module milvus_restore_collection runs them against the server.

Milvus 2.3's bulk insert in backup mode (option backup="true") imports one segment's binlog
directories into a named partition, with files = [insert dir, delete dir or ""]:
  <prefix>/insert_log/<collection id>/<partition id>/<segment id>/
  <prefix>/delta_log/<collection id>/<partition id>/<segment id>/
(the trailing "/" keeps segment 123 from matching 1234). It looks every field's insert logs up
by field id, and rootcoord gives the ids out as 100, 101, ... in field order, so the collection
is created again with the same fields in the same order, and the ids are checked after."""

from __future__ import annotations

import json
import re
from typing import Any

from ansible_collections.vectorops.milvus.plugins.module_utils import _backup

FIRST_FIELD_ID = 100
# The data types of Milvus 2.3 (FLOAT16/BFLOAT16/SPARSE vectors arrived in 2.4).
TYPES_2_3 = (
    "BOOL",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FLOAT",
    "DOUBLE",
    "VARCHAR",
    "JSON",
    "ARRAY",
    "BINARY_VECTOR",
    "FLOAT_VECTOR",
)
# describe_index keys that are not parameters of the index
INDEX_STATUS_KEYS = (
    "field_name",
    "index_name",
    "index_type",
    "metric_type",
    "params",
    "total_rows",
    "indexed_rows",
    "pending_index_rows",
    "state",
)
# integer type parameters (the manifest may hold them as strings)
INT_PARAMS = ("dim", "max_length", "max_capacity")
# A backup's name (the UTC time backup.yml gives it) names the restore's staging prefix too.
BACKUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ENTRY_KEYS = {
    "name": str,
    "schema": dict,
    "partitions": dict,
    "segments": list,
    "indexes": list,
    "rows": int,
    "samples": list,
    "load_state": str,
    "replica_number": int,
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fields(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The declared fields, in order (not the dynamic field's $meta, which follows them)."""
    return [f for f in entry["schema"]["fields"] if not f.get("is_dynamic")]


def has_partition_key(entry: dict[str, Any]) -> bool:
    return any(f.get("is_partition_key") for f in _fields(entry))


def entry_problems(entry: Any) -> list[str]:
    """What makes a manifest entry unusable for a restore (empty when it is whole)."""
    if not isinstance(entry, dict):
        return [f"it is a {type(entry).__name__}, not a collection entry of manifest.json"]
    wrong = [
        key
        for key, kind in ENTRY_KEYS.items()
        if not isinstance(entry.get(key), kind) or kind is int and isinstance(entry.get(key), bool)
    ]
    if wrong:
        return [f"{', '.join(wrong)} missing or of the wrong type"]
    problems = []
    schema = entry["schema"]
    if not _is_int(schema.get("collection_id")) or schema["collection_id"] <= 0:
        problems.append("schema.collection_id is not a collection id")
    fields = schema.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, dict) for f in fields):
        return [*problems, "schema.fields is not a list of fields"]
    for i, fld in enumerate(fields, 1):
        if not isinstance(fld.get("name"), str) or not _is_int(fld.get("field_id")):
            problems.append(f"field {i} has no name or field_id")
        elif fld.get("type") not in TYPES_2_3:
            problems.append(f"field {fld['name']} has type {fld.get('type')!r}, not a Milvus 2.3 type")
        elif fld["type"] == "ARRAY" and not fld.get("element_type"):
            problems.append(f"field {fld['name']} is an ARRAY without its element_type")
        elif fld["type"] == "VARCHAR" and "max_length" not in (fld.get("params") or {}):
            problems.append(f"field {fld['name']} is a VARCHAR without max_length")
        elif fld["type"] in _backup.VECTOR_TYPES and "dim" not in (fld.get("params") or {}):
            problems.append(f"field {fld['name']} is a vector without dim")
    if problems:
        return problems
    declared = _fields(entry)
    ids = [f["field_id"] for f in declared]
    if ids != list(range(FIRST_FIELD_ID, FIRST_FIELD_ID + len(declared))):
        problems.append(
            f"field ids {ids} are not {FIRST_FIELD_ID}, {FIRST_FIELD_ID + 1}, ... in field order, "
            "so a new collection cannot get them again"
        )
    primaries = [f["name"] for f in declared if f.get("is_primary")]
    if len(primaries) != 1:
        problems.append(f"{len(primaries)} primary key fields, not 1")
    _pk, vector = _backup.key_fields({"fields": declared})
    if vector is None:
        problems.append("no vector field")
    names = entry["partitions"]
    for seg in entry["segments"]:
        if not isinstance(seg, dict) or not all(_is_int(seg.get(k)) for k in ("segment_id", "partition_id")):
            problems.append("a segment without segment_id and partition_id")
            break
        if names.get(str(seg["partition_id"])) != seg.get("partition"):
            problems.append(
                f"segment {seg['segment_id']}: partition {seg['partition_id']} "
                f"({seg.get('partition')!r}) is not one of the entry's partitions"
            )
    if not all(isinstance(s, list) and len(s) == 2 for s in entry["samples"]):
        problems.append("samples are not [primary key, top-1 id] pairs")
    return problems


def refusals(
    entry: dict[str, Any],
    backup_version: str,
    cluster_version: str,
    target: str,
    existing: list[str],
    listing: list[str] | None = None,
) -> list[str]:
    """Why restoring a well-formed entry as `target` must not start (empty when it may): another
    release line, a name that exists, a copy of the bucket that lacks a segment's files."""
    out = []
    backed, here = _backup.release_line(backup_version), _backup.release_line(cluster_version)
    if not backed or backed != here:
        out.append(
            f"the backup is of Milvus {backed or backup_version or '?'} and the cluster runs "
            f"{here or '?'}: restore onto the same release line"
        )
    if target in existing:
        out.append(f"collection {target} already exists: drop it, or restore under another name (restore_as)")
    if listing is not None:
        missing = _backup.missing_files(entry, _backup.binlog_counts(listing))
        if missing:
            out.append(
                one_line_list("the uploaded copy is partial", missing, 2)
                + ": upload the backup's insert_log and delta_log trees whole"
            )
    return out


def collection_spec(entry: dict[str, Any]) -> dict[str, Any]:
    """What creating the collection again takes: the declared fields in their order (types by
    name), shards, dynamic field, consistency level, and for a partition-key collection its
    number of partitions."""
    schema = entry["schema"]
    fields = []
    for fld in _fields(entry):
        params = {k: int(v) if k in INT_PARAMS else v for k, v in (fld.get("params") or {}).items()}
        spec = {
            "name": fld["name"],
            "type": fld["type"],
            "is_primary": bool(fld.get("is_primary")),
            "auto_id": bool(fld.get("auto_id")) and bool(fld.get("is_primary")),
            "is_partition_key": bool(fld.get("is_partition_key")),
            "description": str(fld.get("description") or ""),
            "params": params,
        }
        if fld.get("element_type"):
            spec["element_type"] = fld["element_type"]
        fields.append(spec)
    out = {
        "fields": fields,
        "auto_id": any(f["auto_id"] for f in fields),
        "enable_dynamic_field": bool(schema.get("enable_dynamic_field")),
        "description": str(schema.get("description") or ""),
        "num_shards": int(schema.get("num_shards") or 1),
        "consistency_level": str(schema.get("consistency_level") or "Bounded"),
    }
    if has_partition_key(entry):
        out["num_partitions"] = int(schema.get("num_partitions") or 0) or len(entry["partitions"])
    return out


def partitions_to_create(entry: dict[str, Any]) -> list[str]:
    """Partitions to create by name: all but _default, which every collection has; none for a
    partition-key collection, whose partitions come with it."""
    if has_partition_key(entry):
        return []
    return sorted(name for name in entry["partitions"].values() if name != "_default")


def _under(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return prefix + path if prefix.endswith("/") else f"{prefix}/{path}"


def segment_dirs(prefix: str, collection_id: int, segment: dict[str, Any]) -> tuple[str, str]:
    """The insert and delete log directories of one recorded segment under `prefix` (where the
    backup's insert_log and delta_log trees were uploaded), each with its trailing "/"."""
    tail = f"{collection_id}/{segment['partition_id']}/{segment['segment_id']}/"
    return _under(prefix, f"insert_log/{tail}"), _under(prefix, f"delta_log/{tail}")


def imports(entry: dict[str, Any], prefix: str, listing: list[str] | None = None) -> list[dict[str, Any]]:
    """One bulk insert per recorded segment: its partition and files. Without a listing of the
    upload, every segment gets its delete dir (an absent one lists empty); with one, only the
    segments that have delete logs do, the others ""."""
    coll = entry["schema"]["collection_id"]
    deleted = None if listing is None else _backup.delta_segments(listing)
    out = []
    for seg in entry["segments"]:
        insert_dir, delta_dir = segment_dirs(prefix, coll, seg)
        if deleted is not None and (coll, seg["partition_id"], seg["segment_id"]) not in deleted:
            delta_dir = ""
        out.append(
            {
                "segment_id": seg["segment_id"],
                "partition": seg["partition"],
                "num_rows": int(seg.get("num_rows") or 0),
                "files": [insert_dir, delta_dir],
            }
        )
    return out


def index_specs(indexes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """describe_index answers as create_index takes them: field, name, type, metric, params."""
    out = []
    for idx in indexes:
        params = {k: v for k, v in idx.items() if k not in INDEX_STATUS_KEYS}
        if isinstance(idx.get("params"), dict):
            params.update(idx["params"])
        spec = {
            "field_name": idx["field_name"],
            "index_name": idx.get("index_name") or "",
            "index_type": idx.get("index_type") or "",
            "params": params,
        }
        if idx.get("metric_type"):
            spec["metric_type"] = idx["metric_type"]
        out.append(spec)
    return out


def plan(
    entry: dict[str, Any],
    target: str,
    prefix: str,
    listing: list[str] | None = None,
    load: bool | None = None,
) -> dict[str, Any]:
    """Everything a restore of `entry` as `target` creates and imports, in order."""
    loaded = entry["load_state"] == "Loaded" if load is None else bool(load)
    return {
        "name": target,
        "collection": collection_spec(entry),
        "partitions": partitions_to_create(entry),
        "imports": imports(entry, prefix, listing),
        "indexes": index_specs(entry["indexes"]),
        "load": loaded,
        "replica_number": max(1, int(entry["replica_number"])) if loaded else 0,
    }


def field_id_problems(entry: dict[str, Any], described: dict[str, Any]) -> list[str]:
    """Fields of the new collection (describe_collection's answer) whose id is not the backup's."""
    got = {str(f.get("name")): f.get("field_id") for f in described.get("fields", [])}
    return [
        f"{f['name']}: {got.get(f['name'])} here, {f['field_id']} in the backup"
        for f in _fields(entry)
        if got.get(f["name"]) != f["field_id"]
    ]


def rows_problem(entry: dict[str, Any], rows: int, how: str) -> str | None:
    """Whether `rows` (served by the loaded collection, or imported) disagree with the backup.

    The manifest of a loaded collection holds the rows it served: they must be equal. For an
    unloaded one it holds the persisted count, which still counts deleted rows until compaction
    removes them; the restored rows may then be fewer, never more."""
    expected = entry["rows"]
    if entry["load_state"] == "Loaded":
        return None if rows == expected else f"{rows} rows {how}, the backup has {expected}"
    return None if rows <= expected else f"{rows} rows {how}, more than the {expected} the backup persisted"


def sample_problems(samples: list[list[Any]], found: dict[Any, Any]) -> list[str]:
    """Samples whose key is gone, or whose vector's top-1 is neither the key itself nor the hit
    the backup recorded. `found`: key -> top-1 id now (keys not found are absent)."""
    out = []
    for pk, recorded in samples:
        if pk not in found:
            out.append(f"key {pk!r} is missing")
        elif found[pk] not in (pk, recorded):
            out.append(f"key {pk!r} finds {found[pk]!r} first (the backup found {recorded!r})")
    return out


def one_line_list(what: str, items: list[str], shown: int = 3) -> str:
    """'what: a; b; c and 4 more'"""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return f"{what}: {'; '.join(items[:shown])}{more}"


# --- playbooks/restore.yml: the whole backup and the selection, checked before anything changes


def load_manifest(manifest: Any) -> tuple[dict[str, Any] | None, str | None]:
    """manifest.json's text (or its parsed object) as a dict, or the one line why it is not one."""
    if isinstance(manifest, (str, bytes)):
        try:
            manifest = json.loads(manifest)
        except ValueError as exc:
            return None, f"manifest.json is not JSON ({str(exc).splitlines()[0]})"
    if not isinstance(manifest, dict):
        return None, f"manifest.json holds a {type(manifest).__name__}, not a backup's manifest"
    return manifest, None


def _manifest_problems(manifest: dict[str, Any]) -> list[str]:
    wrong = []
    if manifest.get("format") != _backup.MANIFEST_FORMAT:
        wrong.append(f"format {manifest.get('format')!r} (this collection reads {_backup.MANIFEST_FORMAT})")
    if not isinstance(manifest.get("name"), str) or not BACKUP_NAME.match(manifest["name"]):
        wrong.append(f"name {manifest.get('name')!r}")
    if not _backup.release_line(manifest.get("milvus_version") or ""):
        wrong.append(f"milvus_version {manifest.get('milvus_version')!r}")
    if not isinstance((manifest.get("bucket") or {}).get("checksums_sha256"), str):
        wrong.append("no bucket.checksums_sha256")
    colls = manifest.get("collections")
    if not isinstance(colls, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                              for c in colls):
        wrong.append("collections is not a list of named entries")
    return [one_line_list("manifest.json is not a whole backup manifest", wrong)] if wrong else []


def _wanted(manifest: dict[str, Any], wanted: list[str] | None) -> list[str]:
    """The names to restore, in manifest order: `wanted`, or every collection when it is empty."""
    names = [c["name"] for c in manifest["collections"]]
    return [n for n in names if not wanted or n in wanted]


def restore_refusals(
    manifest: Any,
    wanted: list[str] | None = None,
    restore_as: dict[str, str] | None = None,
    cluster_version: str | None = None,
    existing: list[str] | None = None,
) -> list[str]:
    """Why restoring `wanted` (every collection of the manifest when empty), renamed by
    `restore_as`, must not start: a manifest that is not whole, names it does not hold, renames
    that collide, a malformed entry; with the cluster's answers too, another release line and
    target names that exist. Empty when the restore may start."""
    doc, problem = load_manifest(manifest)
    if problem:
        return [problem]
    problems = _manifest_problems(doc)
    if problems:
        return problems
    wanted = list(wanted or [])
    restore_as = dict(restore_as or {})
    if not all(isinstance(n, str) and n for n in wanted):
        return ["restore_collections must be a list of collection names"]
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in restore_as.items()):
        return ["restore_as must map collection names to new names (old: new)"]
    held = [c["name"] for c in doc["collections"]]
    unknown = sorted(set(wanted) - set(held))
    if unknown:
        holds = ", ".join(held) or "no collection"
        problems.append(f"{', '.join(unknown)} not in the backup {doc['name']} (it holds {holds})")
    names = _wanted(doc, wanted)
    if not names:
        problems.append(f"the backup {doc['name']} holds no collection")
    stray = sorted(set(restore_as) - set(names))
    if stray:
        problems.append(f"restore_as renames {', '.join(stray)}, which this run does not restore")
    targets: dict[str, list[str]] = {}
    for name in names:
        targets.setdefault(restore_as.get(name, name), []).append(name)
    for target, sources in targets.items():
        if len(sources) > 1:
            both = " and ".join(sources)
            problems.append(f"{both} would both be restored as {target}: rename one (restore_as)")
    for entry in (c for c in doc["collections"] if c["name"] in names):
        malformed = entry_problems(entry)
        if malformed:
            what = f"the backup's entry of {entry['name']} is malformed"
            problems.append(one_line_list(what, malformed, 2))
    if problems or cluster_version is None:
        return problems
    problems += _backup.manifest_refusals(doc, cluster_version)
    taken = [t for t in targets if t in set(existing or [])]
    if taken:
        one = len(taken) == 1
        what = "it, or restore under another name" if one else "them, or restore under other names"
        problems.append(
            f"{', '.join(taken)} already exist{'s' if one else ''} in the cluster: drop {what} (restore_as)"
        )
    return problems


def restore_selection(
    manifest: Any, wanted: list[str] | None = None, restore_as: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """What restore.yml restores, in manifest order: per collection its name, its target name,
    its collection id (the bucket's directories), its segment count and its manifest entry.
    Assumes restore_refusals found nothing."""
    doc, _problem = load_manifest(manifest)
    restore_as = dict(restore_as or {})
    names = _wanted(doc, list(wanted or []))
    return [
        {
            "name": entry["name"],
            "target": restore_as.get(entry["name"], entry["name"]),
            "collection_id": entry["schema"]["collection_id"],
            "segments": len(entry["segments"]),
            "entry": entry,
        }
        for entry in doc["collections"]
        if entry["name"] in names
    ]
