"""Where to connect to a sandbox, from `ansible-inventory --list` on stdin: the proxies, the
endpoint's virtual IP and the overview page, on the cluster role's ports.

    ansible-inventory -i inventories/sandbox --list | python tools/sandbox_addresses.py inventories/sandbox
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    inv = json.load(sys.stdin)
    where = sys.argv[1] if len(sys.argv) > 1 else "the inventory"
    ports = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())
    hostvars = inv["_meta"]["hostvars"]

    def first(group: str) -> dict:
        hosts = inv.get(group, {}).get("hosts", [])
        return hostvars[hosts[0]] if hosts else {}

    grpc = ports["cluster_milvus_ports"]["proxy"]["grpc"]
    proxies = " ".join(f"{hostvars[h]['sandbox_ip']}:{grpc}" for h in inv["milvus_proxy"]["hosts"])
    print(f"proxies: {proxies} (user root, password: milvus_root_password in "
          f"{where}/group_vars/all/cluster.yml)")
    vip = first("endpoint").get("sandbox_vip")
    if vip:
        print(f"endpoint for applications: {vip}:{ports['cluster_endpoint_port']}")
    page = first("monitoring").get("sandbox_ip")
    if page:
        print(f"overview page: http://{page}:{ports['cluster_monitoring_prometheus_port']}/consoles/vectorops.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
