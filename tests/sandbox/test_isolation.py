"""`make sandbox`, then `make test`, in small: the tests never touch the user's sandbox.

A sandbox is brought up the way `make sandbox` does it (tools/sandbox.sh up: hosts, site.yml,
health), under a scratch inventory of its own (.cache/isolation/, another network and names,
so a real user sandbox on this machine is not involved either). A marker collection goes in.
Then the test entry point runs in its `hosts` mode, which only creates and removes the test
suite's own hosts, with that scratch sandbox standing for the user's (VECTOROPS_USER_INVENTORY).
Afterwards the user's hosts, volumes and marker rows are all there, and the test hosts are gone.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TEST_INVENTORY, inventory_hosts, project_env, run
from tests.sandbox.conftest import docker

pytestmark = pytest.mark.sandbox
SCRATCH = ROOT / ".cache" / "isolation" / "inventory"
SANDBOX = ROOT / "inventories" / "sandbox"
MARKER, ROWS, DIM = "user_marker", 3000, 8


def scratch_inventory() -> Path:
    """inventories/sandbox's layout and cluster settings on the 10.213.5.0/24 network, hosts
    user1..3 in containers vectorops-user-*."""
    inv = yaml.safe_load((SANDBOX / "hosts.yml").read_text())
    children = inv["all"]["children"]

    def rename(hosts: dict) -> dict:
        return {name.replace("node", "user"): v for name, v in hosts.items()}

    for i, (_unused, host) in enumerate(children["sandbox_hosts"]["hosts"].items(), start=1):
        host.update(ansible_host=f"vectorops-user-user{i}", sandbox_ip=f"10.213.5.{10 + i}")
    children["sandbox_hosts"]["hosts"] = rename(children["sandbox_hosts"]["hosts"])
    for group in children["milvus_cluster"]["children"].values():
        group["hosts"] = rename(group["hosts"])
    gv = SCRATCH / "group_vars" / "all"
    gv.mkdir(parents=True, exist_ok=True)
    (SCRATCH / "hosts.yml").write_text(yaml.safe_dump(inv, sort_keys=False))
    for name in ("cluster.yml", "docker.yml"):
        link = gv / name
        link.unlink(missing_ok=True)
        link.symlink_to(SANDBOX / "group_vars" / "all" / name)
    images = yaml.safe_load((SANDBOX / "group_vars" / "all" / "images.yml").read_text())
    images["milvus_images_archive_manifest"] = str(ROOT / ".cache" / "images" / "manifest.json")
    (gv / "images.yml").write_text(yaml.safe_dump(images))
    net = yaml.safe_load((SANDBOX / "group_vars" / "all" / "sandbox.yml").read_text())
    net.update(sandbox_network="vectorops-user", sandbox_subnet="10.213.5.0/24", sandbox_gateway="10.213.5.1",
               sandbox_container_prefix="vectorops-user-", sandbox_s3_ip="10.213.5.20")
    (gv / "sandbox.yml").write_text(yaml.safe_dump(net))
    return SCRATCH


def user_sandbox(*args: str, timeout: float = 1800) -> None:
    run(["bash", "tools/sandbox.sh", *args], timeout=timeout, check=True,
        env=project_env(SANDBOX_INVENTORY=str(SCRATCH)))


def marker_count(proxy: str, password: str) -> int | None:
    """Strong count(*) of the marker collection through one proxy; None while it cannot answer."""
    import logging

    from pymilvus import MilvusClient

    logging.getLogger("pymilvus").setLevel(logging.CRITICAL + 1)  # its reconnect tracebacks: noise here

    try:
        client = MilvusClient(uri=f"http://{proxy}", user="root", password=password, timeout=10)
    except Exception:  # noqa: BLE001 - not serving yet
        return None
    try:
        res = client.query(MARKER, output_fields=["count(*)"], consistency_level="Strong", timeout=10)
        return int(res[0]["count(*)"])
    except Exception:  # noqa: BLE001 - not serving yet
        return None
    finally:
        client.close()


def test_make_test_leaves_the_user_sandbox_alone(images):
    import numpy as np
    from pymilvus import MilvusClient

    from tests.milvus_data import fresh_collection, index_and_load

    inv = scratch_inventory()
    users = inventory_hosts(inv)
    settings = yaml.safe_load((SANDBOX / "group_vars" / "all" / "cluster.yml").read_text())
    password = settings["milvus_root_password"]
    proxy = f"{users['user1']['ip']}:19530"
    user_sandbox("up")
    try:
        client = MilvusClient(uri=f"http://{proxy}", user="root", password=password, timeout=30)
        try:
            fresh_collection(client, MARKER, DIM)
            vecs = np.random.default_rng(3).random((ROWS, DIM), dtype="float32")
            client.insert(MARKER, [{"id": i, "vector": vecs[i]} for i in range(ROWS)])
            client.flush(MARKER)
            index_and_load(client, MARKER, "vector", "FLAT", {})
        finally:
            client.close()
        assert marker_count(proxy, password) == ROWS
        volumes = {f"{h['container']}-{v}" for h in users.values() for v in ("docker", "data")}

        cycle = run(["bash", "tools/test.sh", "hosts"], timeout=1800,
                    env=project_env(VECTOROPS_USER_INVENTORY=str(inv)))
        assert cycle.returncode == 0, cycle.stdout[-3000:] + cycle.stderr[-3000:]
        assert "[test] stopping your sandbox" in cycle.stdout, cycle.stdout[-3000:]
        assert "[test] started your sandbox again" in cycle.stdout, cycle.stdout[-3000:]

        running = set(docker("ps", "--format", "{{.Names}}").stdout.split())
        assert {h["container"] for h in users.values()} | {"vectorops-user-s3"} <= running, running
        assert volumes <= set(docker("volume", "ls", "--format", "{{.Name}}").stdout.split())
        every = set(docker("ps", "-a", "--format", "{{.Names}}").stdout.split())
        test_hosts = {h["container"] for h in inventory_hosts(TEST_INVENTORY).values()}
        assert not test_hosts & every, every  # the test hosts are gone

        # The whole user cluster was stopped and started again: it serves the same rows once
        # its processes are back (bounded wait).
        deadline = time.monotonic() + 420
        count = None
        while time.monotonic() < deadline and count != ROWS:
            count = marker_count(proxy, password)
            if count != ROWS:
                time.sleep(5)
        assert count == ROWS, f"marker collection: {count} rows through {proxy} after the run, wanted {ROWS}"
    finally:
        user_sandbox("down", timeout=900)
