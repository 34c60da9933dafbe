"""The test suite's three sandbox hosts (inventories/test): booted systemd, reachable by
Ansible, addressed as the inventory says."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_INVENTORY, spare_hosts
from tests.sandbox.conftest import CONTAINERS, HOSTS, docker

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_host_boots_systemd(sandbox_hosts, host):
    res = docker("exec", CONTAINERS[host], "systemctl", "is-system-running", check=False)
    assert res.stdout.strip() in {"running", "degraded"}, res.stdout + res.stderr
    pid1 = docker("exec", CONTAINERS[host], "cat", "/proc/1/comm").stdout.strip()
    assert pid1 == "systemd"


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_host_has_fixed_address_and_docker_volume(sandbox_hosts, host):
    name = CONTAINERS[host]
    addrs = docker("exec", name, "ip", "-4", "-o", "addr", "show").stdout
    assert f"inet {HOSTS[host]}/24" in addrs
    mounts = docker("inspect", "--format", "{{range .Mounts}}{{.Destination}}={{.Name}} {{end}}", name).stdout
    assert f"/var/lib/docker={name}-docker" in mounts.split()
    assert docker("exec", name, "hostname").stdout.strip() == host


def test_hosts_reach_each_other(sandbox_hosts):
    for src in HOSTS:
        for dst, ip in HOSTS.items():
            if src != dst:
                docker("exec", CONTAINERS[src], "ping", "-c", "1", "-W", "2", ip)


def test_ansible_reaches_every_host(sandbox_hosts):
    from tests.conftest import run

    res = run(["ansible", "sandbox_hosts", "-i", str(TEST_INVENTORY), "-m", "ansible.builtin.ping", "-o"],
              timeout=180, check=True)
    ok = sorted(line.split()[0] for line in res.stdout.splitlines() if "SUCCESS" in line)
    assert ok == sorted({*HOSTS, *spare_hosts()}), res.stdout  # the spare host node4 too
    facts = run(["ansible", "node1", "-i", str(TEST_INVENTORY), "-m", "ansible.builtin.setup",
                 "-a", "filter=ansible_distribution*"], timeout=180, check=True)
    assert "ansible_distribution_major_version: '13'" in facts.stdout, facts.stdout


def test_an_existing_host_is_started_as_it_is_never_made_again(sandbox_hosts):
    # A host's root filesystem holds what no volume keeps (etcd's and Kafka's data under
    # /opt/vectorops): a changed recipe must not recreate it, and a stopped host starts as it was.
    from tests.conftest import run

    name = CONTAINERS["node3"]
    marker = "/opt/vectorops-kept-marker"
    before = docker("inspect", "--format", "{{.Id}}", name).stdout.strip()
    docker("exec", name, "touch", marker)
    try:
        docker("stop", "-t", "30", name, timeout=120)
        changed_recipe = '{"sandbox_host_cap_drop": ["SYS_RESOURCE", "SYS_TIME"]}'
        res = run(["ansible-playbook", "-i", str(TEST_INVENTORY), "sandbox/playbooks/hosts_up.yml",
                   "-e", changed_recipe], timeout=600)
        assert res.returncode == 0, res.stdout[-3000:]
        after = docker("inspect", "--format", "{{.Id}} {{.State.Running}}", name).stdout.split()
        assert after == [before, "true"]
        assert docker("exec", name, "test", "-f", marker, check=False).returncode == 0
    finally:
        docker("start", name, check=False)
        docker("exec", name, "rm", "-f", marker, check=False)
