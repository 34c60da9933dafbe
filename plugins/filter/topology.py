"""Topology helpers for the roles: which Milvus processes run on a host, with which ports.

Milvus reads every configuration key from the environment as well as from milvus.yaml
(`queryNode.port` as QUERYNODE_PORT: the key lower-cased with dots and underscores dropped),
so each process gets its own ip, gRPC port and metrics port as environment, derived here from
one port table, and never typed twice.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from ansible.errors import AnsibleFilterError

# Environment prefix of each role's keys in milvus.yaml.
_ROLE_KEY = {
    "proxy": "PROXY",
    "rootcoord": "ROOTCOORD",
    "querycoord": "QUERYCOORD",
    "datacoord": "DATACOORD",
    "indexcoord": "INDEXCOORD",
    "querynode": "QUERYNODE",
    "datanode": "DATANODE",
    "indexnode": "INDEXNODE",
    "streamingnode": "STREAMINGNODE",
    "mixcoord": "MIXCOORD",
}
# Stride between instances of one role on a host: base ports of different roles differ by
# less than this, so instances never collide (checked below anyway).
_PORT_STRIDE = 10
_MAX_PER_HOST = 9


def milvus_release_line(version: str) -> str:
    """'v2.3.5' or '2.3.5' -> '2.3'."""
    match = re.match(r"^v?(\d+)\.(\d+)", str(version))
    if not match:
        raise AnsibleFilterError(f"milvus_release_line: cannot read a release line from {version!r}")
    return f"{match.group(1)}.{match.group(2)}"


def milvus_env(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a nested milvus.yaml-shaped dict to the environment names Milvus reads."""
    env: dict[str, str] = {}
    for key, value in (config or {}).items():
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, dict):
            env.update(milvus_env(value, name))
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        elif value is None:
            text = ""
        else:
            text = str(value)
        env[name.upper().replace(".", "_")] = text
    return env


def _instance_ports(role: str, index: int, ports: dict[str, dict[str, int]]) -> dict[str, int]:
    if role not in ports:
        raise AnsibleFilterError(f"milvus_host_services: no ports defined for role {role!r}")
    base = ports[role]
    out = {"metrics": int(base["metrics"]) + index}
    if "grpc" in base:
        out["grpc"] = int(base["grpc"]) + _PORT_STRIDE * index
    if "internal" in base:
        out["internal"] = int(base["internal"]) + _PORT_STRIDE * index
    return out


def milvus_host_services(
    placement: dict[str, int],
    ip: str,
    topology: dict[str, Any],
    ports: dict[str, dict[str, int]],
    coordinator_mode: str = "mixture",
) -> list[dict[str, Any]]:
    """The Milvus processes of one host.

    placement: role -> count on this host ('coordinator' counts the coordinator set: 0 or 1).
    topology: the release line's entry (coordinators, workers, mixcoord_only).
    Returns one dict per process: name, role, command, env, ports, healthz (health check url).
    """
    services: list[dict[str, Any]] = []

    def add(name: str, role: str, command: list[str], key_roles: list[str], index: int = 0) -> None:
        port = _instance_ports(role, index, ports)
        env = {"METRICS_PORT": str(port["metrics"])}
        for key_role in key_roles:
            env[f"{_ROLE_KEY[key_role]}_IP"] = ip
        if "grpc" in port:
            env[f"{_ROLE_KEY[role]}_PORT"] = str(port["grpc"])
        if "internal" in port:
            env[f"{_ROLE_KEY[role]}_INTERNALPORT"] = str(port["internal"])
        services.append({
            "name": name,
            "role": role,
            "command": command,
            "env": env,
            "ports": port,
            "healthz": f"http://127.0.0.1:{port['metrics']}/healthz",
        })

    coordinators = list(topology.get("coordinators", []))
    if int(placement.get("coordinator", 0)) > 0:
        if topology.get("mixcoord_only"):
            add("mixcoord", "mixcoord", ["milvus", "run", "mixcoord"], ["mixcoord"])
        elif coordinator_mode == "mixture":
            flags = [f"-{c}" for c in coordinators]
            add("mixcoord", "mixcoord", ["milvus", "run", "mixture", *flags], coordinators)
            # The coordinators inside the mixture listen on their own gRPC ports.
            for coord in coordinators:
                services[-1]["env"][f"{_ROLE_KEY[coord]}_PORT"] = str(ports[coord]["grpc"])
        elif coordinator_mode == "separate":
            for coord in coordinators:
                add(coord, coord, ["milvus", "run", coord], [coord])
        else:
            raise AnsibleFilterError(
                "milvus_host_services: coordinator_mode must be mixture or separate, "
                f"not {coordinator_mode!r}")

    for role in topology.get("workers", []):
        count = int(placement.get(role, 0))
        if count < 0 or count > _MAX_PER_HOST:
            raise AnsibleFilterError(
                f"milvus_host_services: {count} {role} processes on one host (0 to {_MAX_PER_HOST})")
        if role == "proxy" and count > 1:
            raise AnsibleFilterError("milvus_host_services: one proxy per host (clients connect to its port)")
        for index in range(count):
            name = role if role == "proxy" else f"{role}-{index + 1}"
            add(name, role, ["milvus", "run", role], [role], index)

    placed = {role for role, count in placement.items() if int(count) > 0}
    unknown = placed - {"coordinator", *topology.get("workers", [])}
    if unknown:
        raise AnsibleFilterError(
            f"milvus_host_services: {', '.join(sorted(unknown))} not part of this release line's topology")
    _check_collisions(services)
    return services


def _check_collisions(services: list[dict[str, Any]]) -> None:
    seen: dict[int, str] = {}
    for svc in services:
        used = [int(v) for k, v in svc["env"].items() if k.endswith(("_PORT", "_INTERNALPORT"))]
        for port in used:
            if port in seen and seen[port] != svc["name"]:
                raise AnsibleFilterError(
                    f"milvus_host_services: port {port} used by both {seen[port]} and {svc['name']}")
            seen[port] = svc["name"]


def kafka_cluster_id(seed: str) -> str:
    """A KRaft cluster id (16 bytes, base64url, 22 characters) derived from a stable seed."""
    digest = hashlib.md5(str(seed).encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def image_ref(image: str, digest: str | None = None) -> str:
    """The reference a host pulls and a compose file runs: `image`, or pinned by `digest`
    (sha256:<64 hex>) as `name@sha256:...` (any tag or earlier digest of `image` dropped)."""
    image = str(image or "").strip()
    if not image or not digest:  # an unset image stays empty: the roles' checks name the setting
        return image
    digest = str(digest).strip()
    if not _DIGEST.match(digest):
        raise AnsibleFilterError(f"image_ref: {digest!r} is not a digest of the form sha256:<64 hex digits>")
    name = re.sub(r":[^/:]*$", "", image.split("@", 1)[0])
    return f"{name}@{digest}"


# The label tools/images.py stamps on each image it builds (its LABEL; a roles-tier test keeps them equal).
RECIPE_LABEL = "org.vectorops.recipe"


def milvus_images_to_load(host_images: Any, required: list[str], short_refs: list[str],
                          recipes: Any = None) -> list[str]:
    """The required references to load from their archives: those the host lacks, and those whose
    host image carries another recipe label than the manifest's `recipe` for that reference (an
    archive rebuilt under the same tag). `host_images` is docker_image_info's `images`;
    `short_refs` is `required` in Docker's short form, as RepoTags and RepoDigests show it."""
    if len(required) != len(short_refs):
        raise AnsibleFilterError("milvus_images_to_load: required and short_refs differ in length")
    labels: dict[str, Any] = {}
    for image in host_images or []:
        label = ((image.get("Config") or {}).get("Labels") or {}).get(RECIPE_LABEL)
        for ref in (image.get("RepoTags") or []) + (image.get("RepoDigests") or []):
            labels[ref] = label
    recipes = recipes or {}
    return [ref for ref, short in zip(required, short_refs, strict=True)
            if short not in labels or (recipes.get(ref) and labels[short] != recipes[ref])]


def milvus_session_counts(keys: list[str], roles: Any) -> dict[str, int]:
    """Count etcd session keys (".../meta/session/querynode-12") per role named in `roles`."""
    counts = dict.fromkeys(roles, 0)
    for key in keys:
        match = re.search(r"/session/([a-z]+)-\d+$", str(key).strip())
        if match and match.group(1) in counts:
            counts[match.group(1)] += 1
    return counts


def milvus_health_row(node: dict[str, Any], distribution: dict[Any, dict[str, Any]]) -> str:
    """One line of the health table: role, id, address, state, and a query node's load."""
    state = "ERROR " + str(node.get("error_reason", "")) if node.get("has_error") else "ok"
    line = f"{node.get('role', '?'):10} id {node.get('id', '?'):>3}  {node.get('address', '?'):21} {state}"
    load = distribution.get(node.get("id"))
    if node.get("role") == "querynode":
        segs, rows = (load or {}).get("segments", 0), (load or {}).get("rows", 0)
        line += f"  segments {segs:>4}  rows {rows:>10}"
    return line


def cluster_ports(
    port_map: dict[str, Any], milvus_ports: dict[str, Any], mq_type: str = "kafka"
) -> list[int]:
    """The ports the cluster's processes listen on and their peers connect to, from the cluster
    role's constants (`port_map`: every cluster_*_port variable by name; `milvus_ports`: the
    Milvus port table): etcd, S3, the message queue chosen (`mq_type`: kafka or pulsar, not the
    other), the proxy's three ports and the gRPC port of the first instance of every other
    Milvus role. Consoles (cluster_*_console_port), monitoring (cluster_monitoring_*: only the
    monitoring hosts and their scrapes use them) and the clients' endpoint (cluster_endpoint_port)
    are not cluster links."""
    out: list[int] = []
    for name, port in sorted(port_map.items()):
        queue = next((q for q in ("kafka", "pulsar") if name.startswith(f"cluster_{q}_")), None)
        # Monitoring and the clients' endpoint listen on their own hosts for others than the
        # cluster's members: no link between members.
        service = name.startswith("cluster_monitoring_") or name == "cluster_endpoint_port"
        if name.endswith("_console_port") or service or (queue and queue != mq_type):
            continue
        out.append(int(port))
    for role, ports in milvus_ports.items():
        wanted = ("grpc", "internal", "metrics") if role == "proxy" else ("grpc",)
        out.extend(int(ports[key]) for key in wanted if key in ports)
    return sorted(set(out))


def cluster_listen_ports(
    port_map: dict[str, Any], milvus_ports: dict[str, Any], instances: int = 1
) -> list[int]:
    """Every port a process of the cluster may listen on: each cluster_*_port (consoles,
    monitoring and the endpoint included) and each port of the first `instances` instances of
    every Milvus role. Sorted, distinct."""
    out = {int(port) for port in port_map.values()}
    for role in milvus_ports:
        for index in range(max(1, int(instances))):
            out.update(_instance_ports(role, index, milvus_ports).values())
    return sorted(out)


def cluster_ports_taken(sockets: list[str], ports: list[int]) -> list[str]:
    """The cluster ports that the local end of a connection holds while nothing listens on them
    (`sockets`: the lines of `ss -Htan`), each as "PORT (LOCAL -> PEER, STATE)": no process can
    bind such a port until the connection closes. A port with a listener is its server's (the
    accepted connections share it), and TIME-WAIT holds no port from a listener that reuses
    addresses, as every cluster process does."""
    wanted = {int(p) for p in ports}
    listening: set[int] = set()
    held: dict[int, str] = {}
    for line in sockets:
        fields = line.split()
        if len(fields) < 5 or ":" not in fields[3]:
            continue
        state, local, peer = fields[0], fields[3], fields[4]
        port_text = local.rsplit(":", 1)[1]
        if not port_text.isdigit():
            continue
        port = int(port_text)
        if state == "LISTEN":
            listening.add(port)
        elif state != "TIME-WAIT" and port in wanted:
            held.setdefault(port, f"{port} ({local} -> {peer}, {state})")
    return [held[p] for p in sorted(held) if p not in listening]


def reserved_ports_value(current: str, ports: list[int]) -> str:
    """net.ipv4.ip_local_reserved_ports holding what it holds (`current`, as the kernel prints
    it: "2379-2380,53100") and `ports` too, in the kernel's own form (ascending, runs of
    consecutive ports as "first-last"), so that a value already there compares equal."""
    wanted: set[int] = {int(p) for p in ports}
    for part in "".join(str(current or "").split()).split(","):
        if not part:
            continue
        first, _dash, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise AnsibleFilterError(f"reserved_ports_value: {part!r} in {current!r} is no port or range")
        wanted.update(range(int(first), int(last or first) + 1))
    bad = sorted(p for p in wanted if not 1 <= p <= 65535)
    if bad:
        raise AnsibleFilterError(f"reserved_ports_value: {bad[0]} is not a port from 1 to 65535")
    runs: list[list[int]] = []
    for port in sorted(wanted):
        if runs and port == runs[-1][1] + 1:
            runs[-1][1] = port
        else:
            runs.append([port, port])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def cluster_port_problems(port_map: dict[str, Any], milvus_ports: dict[str, Any]) -> list[str]:
    """What is wrong with the cluster role's ports: a value that is no port number (1 to 65535),
    or one port given to two settings (each named). Empty when they can work."""
    named: list[tuple[str, Any]] = sorted(port_map.items())
    named += [(f"cluster_milvus_ports.{role}.{key}", port)
              for role, ports in sorted(milvus_ports.items()) for key, port in sorted(ports.items())]
    problems, seen = [], {}
    for name, port in named:
        if isinstance(port, bool) or not str(port).isdigit() or not 1 <= int(port) <= 65535:
            problems.append(f"{name} is {port!r}, not a port from 1 to 65535")
            continue
        seen.setdefault(int(port), []).append(name)
    problems += [f"{' and '.join(names)} are all {port}"
                 for port, names in sorted(seen.items()) if len(names) > 1]
    return problems


class FilterModule:
    """Topology filters used by the roles."""

    def filters(self) -> dict[str, Any]:
        return {
            "milvus_release_line": milvus_release_line,
            "milvus_env": milvus_env,
            "milvus_host_services": milvus_host_services,
            "kafka_cluster_id": kafka_cluster_id,
            "image_ref": image_ref,
            "milvus_images_to_load": milvus_images_to_load,
            "milvus_session_counts": milvus_session_counts,
            "milvus_health_row": milvus_health_row,
            "cluster_ports": cluster_ports,
            "cluster_port_problems": cluster_port_problems,
            "cluster_listen_ports": cluster_listen_ports,
            "reserved_ports_value": reserved_ports_value,
            "cluster_ports_taken": cluster_ports_taken,
        }
