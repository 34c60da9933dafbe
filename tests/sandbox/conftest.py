"""Sandbox tier: the Docker engine, the local images and the three sandbox hosts."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import inventory_hosts, run

# The suite's own hosts (inventories/test), never the user's sandbox.
HOSTS = {name: h["ip"] for name, h in inventory_hosts().items()}
CONTAINERS = {name: h["container"] for name, h in inventory_hosts().items()}
# Plain containers that check each image stand on their own network, away from the hosts.
PROBE_NETWORK = "vectorops-imagecheck"
PROBE_SUBNET = "10.213.1.0/24"
PULSAR_PROBE_NETWORK = "vectorops-pimagecheck"
PULSAR_PROBE_SUBNET = "10.213.2.128/25"


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return run(["docker", *args], timeout=timeout, check=check)


def wait_until(probe, timeout: float, interval: float = 2.0, what: str = "condition"):
    """Call probe() until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what} not reached within {timeout:.0f} s (last: {last!r})")


@pytest.fixture(scope="session")
def sandbox_hosts(images: dict) -> dict[str, str]:
    """The three test hosts, up and booted (idempotent: reuses running ones)."""
    run(["bash", "tools/sandbox.sh", "hosts"], timeout=1800, check=True)  # SANDBOX_INVENTORY: project_env
    return HOSTS


@contextlib.contextmanager
def own_network(name: str, subnet: str) -> Iterator[str]:
    """A bridge network with an explicit subnet, made fresh and removed after."""
    docker("network", "rm", name, check=False)
    docker("network", "create", "--subnet", subnet, name)
    try:
        yield name
    finally:
        docker("network", "rm", name, check=False)


@pytest.fixture(scope="session")
def probe_network(images: dict) -> Iterator[str]:
    with own_network(PROBE_NETWORK, PROBE_SUBNET) as name:
        yield name


@pytest.fixture(scope="session")
def pulsar_probe_network(images: dict) -> Iterator[str]:
    """The Pulsar image checks' own network: the upper half of the Pulsar sandbox's /24, so the
    checks and molecule/pulsar (10.213.2.0/25) can run at once."""
    with own_network(PULSAR_PROBE_NETWORK, PULSAR_PROBE_SUBNET) as name:
        yield name


@contextlib.contextmanager
def container(image: str, ip: str, *args: str, env: dict[str, str] | None = None,
              network: str = PROBE_NETWORK, prefix: str = "vectorops-check-") -> Iterator[str]:
    """A detached container of `image` at a fixed address on a probe network, removed after."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    env_args = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
    docker("run", "-d", "--name", name, "--network", network, "--ip", ip, *env_args, image, *args)
    try:
        yield name
    except BaseException:
        logs = docker("logs", "--tail", "40", name, check=False)
        print(f"--- logs of {name} ({image})\n{logs.stdout}\n{logs.stderr}")
        raise
    finally:
        docker("rm", "-f", "-v", name, check=False)
