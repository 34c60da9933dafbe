# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Small pure helpers shared by the modules: subset filters and node references."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def resolve_subset(requested: Sequence[str] | None, choices: Sequence[str]) -> set[str]:
    """Subsets to gather from a filter list: names, `all`, and `!name` exclusions.

    Only exclusions means "everything but those"; unknown names raise ValueError.
    """
    wanted: set[str] = set()
    excluded: set[str] = set()
    items = [str(i).strip() for i in (requested or ["all"]) if str(i).strip()]
    for item in items:
        neg = item.startswith("!")
        name = item[1:] if neg else item
        if name != "all" and name not in choices:
            raise ValueError(
                f"unknown filter item {item!r}; choose from all, {', '.join(choices)} (or !name)"
            )
        names = set(choices) if name == "all" else {name}
        (excluded if neg else wanted).update(names)
    if not wanted:
        wanted = set(choices)
    return wanted - excluded


def node_ref(node_id: Any, addresses: Mapping[Any, str]) -> dict[str, Any]:
    """{"id": 3, "address": "10.0.0.13:21123"}: an id never travels without its address."""
    return {"id": node_id, "address": addresses.get(node_id, "unknown")}


def node_label(node_id: Any, addresses: Mapping[Any, str]) -> str:
    """ "3 (10.0.0.13:21123)" for messages."""
    return f"{node_id} ({addresses.get(node_id, 'unknown address')})"


def resolve_node(spec: Any, nodes: Iterable[Mapping[str, Any]]) -> int | None:
    """Query node id from an id, an ip:port address or a name (querynode3); None if unknown."""
    text = str(spec).strip()
    for node in nodes:
        if text in (str(node["id"]), node.get("address"), node.get("name")):
            return int(node["id"])
    return None


def labels(node_ids: Iterable[Any], addresses: Mapping[Any, str]) -> list[str]:
    return [node_label(n, addresses) for n in node_ids]
