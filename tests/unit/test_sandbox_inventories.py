"""The sandbox inventories stay apart: the user's (inventories/sandbox), the test suite's own
(inventories/test) and the Pulsar scenario's never share a network, an address, a container
or a volume name, so `make test` can never run on what `make sandbox` built."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
import yaml

from tests.conftest import ROOT

SANDBOXES = ["sandbox", "test", "sandbox_pulsar"]
# Networks the harness makes itself (tests/sandbox image checks).
HARNESS_SUBNETS = {"imagecheck": "10.213.1.0/24", "pimagecheck": "10.213.2.128/25"}


def load(name: str) -> tuple[dict, dict]:
    inv = yaml.safe_load((ROOT / "inventories" / name / "hosts.yml").read_text())
    settings = yaml.safe_load((ROOT / "inventories" / name / "group_vars/all/sandbox.yml").read_text())
    return inv["all"]["children"], settings


def made_hosts(children: dict) -> dict:
    """Every host the sandbox playbooks make: sandbox_hosts' own and its spare hosts'."""
    made = children["sandbox_hosts"]
    spares = (made.get("children") or {}).get("sandbox_spare", {}).get("hosts") or {}
    return {**made["hosts"], **spares}


def names(name: str) -> set[str]:
    """Every container and volume name the sandbox playbooks make for this inventory."""
    children, settings = load(name)
    containers = {h["ansible_host"] for h in made_hosts(children).values()}
    prefix = settings["sandbox_container_prefix"]
    volumes = {f"{c}-{v}" for c in containers for v in ("docker", "data")}
    return containers | volumes | {f"{prefix}s3", f"{prefix}s3-data", settings["sandbox_network"]}


@pytest.mark.parametrize("name", SANDBOXES)
def test_addresses_are_inside_the_subnet(name):
    children, settings = load(name)
    subnet = ipaddress.ip_network(settings["sandbox_subnet"])
    ips = [ipaddress.ip_address(h["sandbox_ip"]) for h in made_hosts(children).values()]
    ips.append(ipaddress.ip_address(settings["sandbox_s3_ip"]))
    assert all(ip in subnet for ip in ips), (subnet, ips)
    assert len(set(ips)) == len(ips)
    assert all(h["ansible_host"].startswith(settings["sandbox_container_prefix"])
               for h in made_hosts(children).values())


def test_sandboxes_share_no_network_subnet_or_name():
    subnets = {name: ipaddress.ip_network(load(name)[1]["sandbox_subnet"]) for name in SANDBOXES}
    subnets.update({k: ipaddress.ip_network(v) for k, v in HARNESS_SUBNETS.items()})
    for (a, net_a), (b, net_b) in itertools.combinations(subnets.items(), 2):
        assert not net_a.overlaps(net_b), f"{a} {net_a} overlaps {b} {net_b}"
    for a, b in itertools.combinations(SANDBOXES, 2):
        assert not names(a) & names(b), (a, b, names(a) & names(b))


def test_the_tests_cluster_is_laid_out_as_the_user_sandbox():
    # Same groups and hosts: what the tests prove holds for the cluster `make sandbox` builds.
    assert load("test")[0]["milvus_cluster"] == load("sandbox")[0]["milvus_cluster"]
    # The same spare host too, in no group of the cluster until scale_out.yml is given one.
    spares = {name: set(made_hosts(load(name)[0])) - set(load(name)[0]["sandbox_hosts"]["hosts"])
              for name in ("test", "sandbox")}
    assert spares == {"test": {"node4"}, "sandbox": {"node4"}}, spares
    cluster = yaml.safe_dump(load("test")[0]["milvus_cluster"])
    assert "node4" not in cluster
    for part in ("cluster.yml", "docker.yml", "images.yml"):
        test = ROOT / "inventories" / "test" / "group_vars" / "all" / part
        assert test.resolve() == (ROOT / "inventories" / "sandbox" / "group_vars" / "all" / part).resolve()


def test_the_suite_never_names_the_user_sandbox():
    # The harness reaches hosts only through inventories/test (tests/conftest.py); a literal
    # user-sandbox container, address or inventory in a test or scenario would bypass it. The
    # unit and roles tiers render its inventory's files on this machine and reach no host.
    user = names("sandbox") | {"inventories/sandbox\"", "10.213.0."}
    allowed = {"tests/unit", "tests/roles"}
    offenders = []
    for path in [*(ROOT / "tests").rglob("*.py"), *(ROOT / "molecule").rglob("*")]:
        rel = str(path.relative_to(ROOT))
        if path.is_dir() or any(rel.startswith(a) for a in allowed):
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{rel}: {u}" for u in user if u in text]
    assert not offenders, offenders
