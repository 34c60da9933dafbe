# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""What the inventory says about the cluster, read on the controller (the action plugin and the
operations playbooks' filters share these rules): each proxy's address, and the processes each
host should run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleError

PROXY_GROUP = "milvus_proxy"
# The defaults of cluster_milvus_ports' proxy port and cluster_endpoint_port (roles/cluster),
# for plugins that run without the role's variables.
DEFAULT_PROXY_PORT = 19530
DEFAULT_ENDPOINT_PORT = 19500


class InventoryVarError(ValueError):
    """An inventory variable that cannot be used: one line for the user."""


def defined(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _var(hv: Any, key: str) -> Any:
    try:
        return hv.get(key) if hasattr(hv, "get") else None
    except AnsibleError:  # a value that does not template (an undefined variable in it)
        return None


def host_address(hostvars: Mapping[str, Any], host: str) -> str:
    """The address the cluster knows `host` by: cluster_host_ip, else ansible_host, else its name."""
    hv = hostvars.get(host, {})
    for key in ("cluster_host_ip", "ansible_host"):
        value = _var(hv, key)
        if defined(value):
            return str(value)
    return host


def proxy_address(hostvars: Mapping[str, Any], host: str, default_port: Any = DEFAULT_PROXY_PORT) -> str:
    """host:port of the proxy on `host`: its cluster address, and milvus_ops_proxy_port, else the
    default port."""
    port = _var(hostvars.get(host, {}), "milvus_ops_proxy_port")
    if not defined(port):
        port = default_port if defined(default_port) else DEFAULT_PROXY_PORT
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise InventoryVarError(
            f"milvus_ops_proxy_port of {host} must be a port number, got {port!r}") from None
    return f"{host_address(hostvars, host)}:{port}"


def expected_processes(roles: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Any],
                       hostvars: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per host and role that the inventory places: {role, host, ip, count}. `roles`:
    {role: {group, count_var}}; a host's count is its count_var (default 1), 1 without one."""
    out = []
    for role, spec in roles.items():
        for host in groups.get(spec["group"]) or []:
            count = 1
            if spec.get("count_var"):
                value = _var(hostvars.get(host, {}), spec["count_var"])
                count = int(value) if defined(value) else 1
            out.append({"role": role, "host": host, "ip": host_address(hostvars, host), "count": count})
    return out
