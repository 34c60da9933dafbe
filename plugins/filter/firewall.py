"""The host firewall's rules, from the cluster role's constants (roles/firewall).

firewall_ports sorts every port the cluster listens on into the classes of who may reach it;
firewall_ruleset writes the nftables table that lets each class's networks in and keeps
everyone else out of those ports. Both are pure: the role loads the text with `nft -f`, and the
unit and integration tests read the same text.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.vectorops.milvus.plugins.filter.topology import _MAX_PER_HOST, _PORT_STRIDE

# Roles that run several processes per host (the inventory's milvus_<role>_count): each instance
# N adds _PORT_STRIDE * (N - 1) to the gRPC port and N - 1 to the metrics port, up to
# _MAX_PER_HOST per host (the topology filter's rule). The coordinators and the proxy run once.
_WORKERS = ("querynode", "datanode", "indexnode", "streamingnode")
CLASSES = ("client", "metrics", "internal", "console")
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def _port(name: str, value: Any) -> int:
    if isinstance(value, bool) or not str(value).isdigit() or not 1 <= int(value) <= 65535:
        raise AnsibleFilterError(f"firewall_ports: {name} is {value!r}, not a port from 1 to 65535")
    return int(value)


def firewall_ports(port_map: dict[str, Any], milvus_ports: dict[str, Any]) -> dict[str, list[int]]:
    """Every port of the cluster by who may reach it:
    - client: the proxies' gRPC port and the endpoint's (cluster_endpoint_port), what applications use;
    - metrics: every Milvus process's metrics port (it also answers /api/v1 debug requests that
      show the configuration, passwords included) and the exporters' ports (cluster_*_exporter_port);
    - internal: what members reach of each other (etcd, Kafka or Pulsar, S3, Milvus's gRPC);
    - console: the object store's web console.
    port_map holds every cluster_*_port variable by name (the cluster role's cluster_port_map),
    milvus_ports the Milvus port table (cluster_milvus_ports). Both message queues' ports are
    guarded whichever one runs: a port nobody listens on costs nothing."""
    classes: dict[str, set[int]] = {name: set() for name in CLASSES}
    for name, value in sorted((port_map or {}).items()):
        if name.endswith("_console_port"):
            kind = "console"
        elif name == "cluster_endpoint_port":  # HAProxy in front of the proxies: applications
            kind = "client"
        elif name.endswith("_exporter_port"):  # node exporter: scraped like Milvus's metrics ports
            kind = "metrics"
        else:
            kind = "internal"
        classes[kind].add(_port(name, value))
    for role, ports in sorted((milvus_ports or {}).items()):
        count = _MAX_PER_HOST if role in _WORKERS else 1
        for key, value in sorted(ports.items()):
            base = _port(f"cluster_milvus_ports.{role}.{key}", value)
            if key == "metrics":
                classes["metrics"].update(base + i for i in range(count))
            elif role == "proxy" and key == "grpc":
                classes["client"].add(base)
            else:
                classes["internal"].update(base + _PORT_STRIDE * i for i in range(count))
    for i, first in enumerate(CLASSES):
        for second in CLASSES[i + 1:]:
            shared = sorted(classes[first] & classes[second])
            if shared:
                raise AnsibleFilterError(
                    f"firewall_ports: port {', '.join(map(str, shared))} is in two classes, {first} and "
                    f"{second}; give the cluster_* settings distinct ports")
    out = {name: sorted(ports) for name, ports in classes.items()}
    if any(p > 65535 for ports in out.values() for p in ports):
        raise AnsibleFilterError(
            "firewall_ports: a Milvus instance's port would pass 65535; lower its base port")
    return out


def _networks(what: str, values: Any) -> dict[int, list[str]]:
    """Addresses or networks (CIDR) by IP version, merged, as nft writes them."""
    if values is None:
        values = []
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise AnsibleFilterError(
            f"firewall_ruleset: {what} must be a list of addresses or networks, not {values!r}")
    found: dict[int, list] = {4: [], 6: []}
    for value in values:
        try:
            net = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            raise AnsibleFilterError(
                f"firewall_ruleset: {what} holds {value!r}, which is not an address or a network") from None
        found[net.version].append(net)
    return {v: [str(n) for n in ipaddress.collapse_addresses(nets)] for v, nets in found.items() if nets}


def _port_set(ports: list[int]) -> str:
    """{ 2379-2380, 9092 }: consecutive ports as ranges."""
    parts, ordered = [], sorted(set(ports))
    start = prev = None
    for port in ordered + [None]:
        if start is not None and port == prev + 1:
            prev = port
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = port
    return "{ " + ", ".join(parts) + " }"


def _accept(networks: dict[int, list[str]], match: str, comment: str) -> list[str]:
    rules = []
    for version, family in ((4, "ip"), (6, "ip6")):
        if networks.get(version):
            sources = ", ".join(networks[version])
            rules.append(f"{family} saddr {{ {sources} }} {match}accept comment \"{comment}\"")
    return rules


def firewall_ruleset(
    ports: dict[str, list[int]],
    networks: dict[str, Any],
    admin_networks: Any = None,
    policy: str = "accept",
    ssh_port: Any = 22,
    ssh_networks: Any = ("0.0.0.0/0", "::/0"),  # noqa: B006 (a tuple: not mutable)
    table: str = "vectorops",
) -> str:
    """The nftables table (family inet) for one host, as `nft -f` loads it: it deletes the
    table it replaces in the same transaction, so a load is all or nothing.
    ports: firewall_ports' classes. networks: each class's allowed sources (client, metrics,
    internal, console; a missing or empty class: nobody but the admin networks).
    admin_networks: reach every port. policy: accept leaves every other port alone; drop closes
    them too, except SSH (ssh_port from ssh_networks), ICMP, loopback and replies."""
    if policy not in ("accept", "drop"):
        raise AnsibleFilterError(f"firewall_ruleset: policy must be accept or drop, not {policy!r}")
    if not _TABLE_NAME.match(str(table)):
        raise AnsibleFilterError(
            f"firewall_ruleset: {table!r} is not a table name (a letter, then letters, digits, _)")
    unknown = sorted(set(networks or {}) - set(CLASSES))
    if unknown:
        raise AnsibleFilterError(
            f"firewall_ruleset: unknown port classes {', '.join(unknown)} (known: {', '.join(CLASSES)})")
    ssh = _port("ssh_port", ssh_port)
    lines = [
        f"table inet {table}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        "  chain input {",
        f"    type filter hook input priority filter - 10; policy {policy};",
        '    iif "lo" accept',
        "    ct state established,related accept",
        "    ct state invalid drop",
    ]
    rules = _accept(_networks("firewall_admin_networks", admin_networks), "", "admin")
    if policy == "drop":
        rules += _accept(_networks("firewall_ssh_networks", ssh_networks), f"tcp dport {ssh} ", "ssh")
        rules += ['meta l4proto { icmp, ipv6-icmp } accept comment "icmp"']
        # keepalived's VRRP adverts between the endpoint's hosts (IP protocol 112, no port).
        rules += _accept(_networks("the internal networks", (networks or {}).get("internal")),
                         "meta l4proto vrrp ", "vrrp")
    for name in CLASSES:
        if not ports.get(name):
            continue
        match = f"tcp dport {_port_set(ports[name])} "
        rules += _accept(_networks(f"the {name} networks", (networks or {}).get(name)), match, name)
        if policy == "accept":
            rules.append(f"{match}drop comment \"{name}: everyone else\"")
    lines += [f"    {rule}" for rule in rules]
    lines += ["  }", "}", ""]
    return "\n".join(lines)


class FilterModule:
    """Host firewall filters."""

    def filters(self) -> dict[str, Any]:
        return {"firewall_ports": firewall_ports, "firewall_ruleset": firewall_ruleset}
