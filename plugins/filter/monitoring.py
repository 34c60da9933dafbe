"""What the monitoring role's Prometheus scrapes, derived from the inventory (roles/monitoring).

Every target comes from the same tables the compose files do: each host's Milvus processes
(the milvus role's services entry point, `_milvus_services`), the etcd group, every cluster
host's node exporter and the monitoring hosts themselves. Nothing is typed twice, so a process
the inventory places and that does not answer shows as a target down, which the rules alert on.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

_PORT_KEYS = ("etcd", "node_exporter", "prometheus", "alertmanager")


def _port(name: str, value: Any) -> int:
    if isinstance(value, bool) or not str(value).isdigit() or not 1 <= int(value) <= 65535:
        raise AnsibleFilterError(
            f"monitoring_scrape_configs: port {name} is {value!r}, not a port from 1 to 65535")
    return int(value)


def _ip(host: str, value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        raise AnsibleFilterError(f"monitoring_scrape_configs: host {host} has no cluster_host_ip")
    return text


def _target(address: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"targets": [address], "labels": labels}


def _job(name: str, targets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"job_name": name, "static_configs": targets}


def monitoring_scrape_configs(
    hostvars: Any,
    groups: dict[str, list[str]],
    ports: dict[str, Any],
    monitoring_group: str = "monitoring",
    etcd_group: str = "etcd",
    mq_type: str = "kafka",
) -> list[dict[str, Any]]:
    """Prometheus scrape_configs for the whole cluster.

    hostvars: every host's variables; each host of milvus_cluster needs cluster_host_ip and
    _milvus_services (its Milvus processes as milvus_host_services lists them), each monitoring
    host cluster_host_ip. groups: the inventory's groups. ports: etcd (client port),
    node_exporter, prometheus, alertmanager; with mq_type kafka, kafka_exporter (each broker's
    metrics port unless its own kafka_metrics_port says otherwise; empty for none); with pulsar,
    pulsar_web (each broker's /metrics/).
    Each target carries the label host (inventory name) and, for Milvus, role and process (the
    compose service), so rules and pages name what is down."""
    missing = [key for key in _PORT_KEYS if key not in (ports or {})]
    if missing:
        raise AnsibleFilterError(f"monitoring_scrape_configs: ports lack {', '.join(missing)}")
    port = {key: _port(key, ports[key]) for key in _PORT_KEYS}
    cluster = sorted((groups or {}).get("milvus_cluster") or [])
    if not cluster:
        raise AnsibleFilterError("monitoring_scrape_configs: the milvus_cluster group holds no host")

    def var(host: str, name: str) -> Any:
        try:
            return hostvars[host][name]
        except KeyError:
            return None

    milvus, nodes, ips = [], [], {}
    for host in cluster:
        ip = ips[host] = _ip(host, var(host, "cluster_host_ip"))
        services = var(host, "_milvus_services")
        if not isinstance(services, list):
            raise AnsibleFilterError(
                f"monitoring_scrape_configs: host {host} has no Milvus process list (run the milvus role's "
                "services entry point on it first)")
        for svc in sorted(services, key=lambda s: str(s.get("name"))):
            metrics = _port(f"{host} {svc.get('name')} metrics", (svc.get("ports") or {}).get("metrics"))
            milvus.append(_target(f"{ip}:{metrics}", {
                "host": host, "role": str(svc.get("role")), "process": str(svc.get("name"))}))
        nodes.append(_target(f"{ip}:{port['node_exporter']}", {"host": host}))

    def members(group: str, what: str, default_port: Any, host_port_var: str = "") -> list[dict[str, Any]]:
        """A target per host of `group` (each in milvus_cluster), on the host's own
        `host_port_var` when its inventory sets one (none when it sets it empty), else on
        `default_port`."""
        out = []
        for host in sorted(groups.get(group) or []):
            if host not in ips:
                raise AnsibleFilterError(
                    f"monitoring_scrape_configs: {what} host {host} is not in milvus_cluster")
            own = var(host, host_port_var) if host_port_var else None
            if own is not None and not str(own).strip():
                continue  # this host exports no metrics
            out.append(_target(f"{ips[host]}:{_port(f'{host} {what} metrics', own) if own else default_port}",
                               {"host": host}))
        return out

    etcd = members(etcd_group, "etcd", port["etcd"])
    if mq_type not in ("kafka", "pulsar"):
        raise AnsibleFilterError(
            f"monitoring_scrape_configs: mq_type must be kafka or pulsar, not {mq_type!r}")
    queue: list[dict[str, Any]] = []
    queue_port = ports.get("kafka_exporter") if mq_type == "kafka" else ports.get("pulsar_web")
    if str(queue_port or "").strip():
        # A broker's own kafka_metrics_port (the kafka role's setting), where the inventory sets it.
        queue = members(mq_type, mq_type, _port(f"{mq_type} metrics", queue_port),
                        "kafka_metrics_port" if mq_type == "kafka" else "")

    prometheus, alertmanager = [], []
    for host in sorted(groups.get(monitoring_group) or []):
        ip = _ip(host, var(host, "cluster_host_ip"))
        prometheus.append(_target(f"{ip}:{port['prometheus']}", {"host": host}))
        alertmanager.append(_target(f"{ip}:{port['alertmanager']}", {"host": host}))

    queue_job = _job(mq_type, queue)
    if mq_type == "pulsar":
        queue_job["metrics_path"] = "/metrics/"
    jobs = [_job("milvus", milvus), _job("etcd", etcd), queue_job, _job("node", nodes),
            _job("prometheus", prometheus), _job("alertmanager", alertmanager)]
    return [job for job in jobs if job["static_configs"]]


def monitoring_target_count(scrape_configs: list[dict[str, Any]]) -> int:
    """How many targets the scrape configs name: what Prometheus must report up."""
    return sum(len(group["targets"])
               for job in scrape_configs or [] for group in job.get("static_configs", []))


class FilterModule:
    """Monitoring filters used by the monitoring role."""

    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_scrape_configs": monitoring_scrape_configs,
            "monitoring_target_count": monitoring_target_count,
        }
