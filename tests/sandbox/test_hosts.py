"""The test suite's three sandbox hosts (inventories/test): booted systemd, reachable by
Ansible, addressed as the inventory says."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_INVENTORY
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
    assert ok == sorted(HOSTS), res.stdout
    facts = run(["ansible", "node1", "-i", str(TEST_INVENTORY), "-m", "ansible.builtin.setup",
                 "-a", "filter=ansible_distribution*"], timeout=180, check=True)
    assert "ansible_distribution_major_version: '13'" in facts.stdout, facts.stdout
