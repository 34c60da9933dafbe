# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""The rule upgrade.yml applies before it restarts anything: is going from the versions the
cluster's nodes report to a target version a rolling upgrade that Milvus supports?

Sources, Milvus's own upgrade guides (milvus.io/docs, "Upgrade Milvus Cluster"):
- rolling upgrades need Milvus 2.2.3 or later (active-standby coordinators);
- 2.5 to 2.6 needs 2.5.16 or later first, and changes the processes (one mixCoord, streaming
  nodes, no index nodes): not an image swap, so this playbook does not do it.
Within a minor, any later patch. The next minor, where the process layout stays the same
(2.2 to 2.3, 2.3 to 2.4, 2.4 to 2.5). Downgrades and skipped minors are refused unless
allow_unsafe is set; a change of process layout is refused even then.
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")
ROLLING_SINCE = (2, 2, 3)
# Next-minor steps that keep the process layout, with the lowest version each may start from.
NEXT_MINOR = {(2, 2): (2, 2, 3), (2, 3): (2, 2, 3), (2, 4): (2, 2, 3)}
# The first release of a new process layout, and what changes there.
LAYOUT_CHANGES = {
    (2, 6, 0): "2.6 replaces the coordinators with one mixCoord, adds streaming nodes and drops index nodes "
               "(Milvus requires 2.5.16 or later first)",
}


def _parse(version: Any) -> tuple[int, int, int]:
    match = _VERSION.match(str(version).strip())
    if not match:
        raise ValueError(str(version))
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _text(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def milvus_upgrade_step(current: list[Any], target: Any, allow_unsafe: bool = False) -> dict[str, Any]:
    """{from, to, highest, step, problem}: step is none (every node runs the target already),
    patch, minor or unsafe; problem is one line when the step is refused, else empty."""
    if not isinstance(current, (list, tuple)):
        raise AnsibleFilterError("milvus_upgrade_step: expects the list of versions the nodes report")
    try:
        want = _parse(target)
    except ValueError:
        return {"from": "", "to": str(target), "highest": "", "step": "",
                "problem": f"cannot read a Milvus version from {str(target)!r} (expected X.Y.Z)"}
    out: dict[str, Any] = {"from": "", "to": _text(want), "highest": "", "step": "", "problem": ""}
    seen = []
    for item in current:
        try:
            seen.append(_parse(item))
        except ValueError:
            out["problem"] = f"a node reports version {str(item)!r}, which is not X.Y.Z"
            return out
    if not seen:
        out["problem"] = "no node reported its version: is the cluster up?"
        return out
    low, high = min(seen), max(seen)
    out.update({"from": _text(low), "highest": _text(high)})

    def refuse(why: str) -> dict[str, Any]:
        if allow_unsafe:
            out["step"] = "unsafe"
        else:
            out["problem"] = f"{why}; set upgrade_allow_unsafe=true to do it anyway"
        return out

    if low == high == want:
        out["step"] = "none"
        return out
    for first, why in LAYOUT_CHANGES.items():
        if low < first <= want:
            out["problem"] = (f"{_text(low)} to {_text(want)} is not a rolling upgrade "
                              f"this playbook does: {why}")
            return out
    if want < high:
        return refuse(f"{_text(want)} is older than {_text(high)}, which a node runs: a downgrade is refused")
    if want[0] != low[0]:
        return refuse(f"{_text(low)} to {_text(want)} changes the major version")
    if low < ROLLING_SINCE:
        return refuse(f"{_text(low)} is older than {_text(ROLLING_SINCE)}, the first release Milvus "
                      "upgrades by rolling restart")
    if want[1] == low[1]:
        out["step"] = "patch"
        return out
    if want[1] == low[1] + 1:
        since = NEXT_MINOR.get((low[0], low[1]))
        if since is None:
            return refuse(f"Milvus documents no rolling upgrade from {low[0]}.{low[1]} "
                          f"to {want[0]}.{want[1]}")
        if low < since:
            return refuse(f"{_text(low)} to {want[0]}.{want[1]} needs {_text(since)} or later first")
        out["step"] = "minor"
        return out
    return refuse(f"{_text(low)} to {_text(want)} skips a minor release: upgrade one minor at a time")


class FilterModule:
    """Upgrade filters."""

    def filters(self) -> dict[str, Any]:
        return {"milvus_upgrade_step": milvus_upgrade_step}
