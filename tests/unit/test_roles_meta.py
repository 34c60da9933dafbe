"""Every role keeps meta/argument_specs.yml equal to defaults/main.yml and prefixes its names.

Public variables start with the role's prefix, private ones (vars/main.yml) with `_` + prefix,
registered results with `__` + prefix. Roles whose prefix is not `<role name>_` go in PREFIXES.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

ROLES_DIR = ROOT / "roles"

# role name -> prefix of its variables, where it is not "<role name>_".
PREFIXES: dict[str, str] = {
    "milvus_images": "milvus_images_",
}


def prefix_of(role: str) -> str:
    return PREFIXES.get(role, f"{role}_")


class _AnsibleLoader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's tags (!vault, !unsafe) as their plain values."""


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_AnsibleLoader.add_multi_constructor("!", _plain)


def load_yaml(path: Path):
    return yaml.load(path.read_text(), Loader=_AnsibleLoader)


def roles() -> list[str]:
    if not ROLES_DIR.is_dir():
        return []
    return sorted(p.name for p in ROLES_DIR.iterdir() if (p / "tasks").is_dir())


def defaults_of(role: str) -> dict:
    path = ROLES_DIR / role / "defaults" / "main.yml"
    return (load_yaml(path) or {}) if path.is_file() else {}


def spec_options_of(role: str) -> dict:
    path = ROLES_DIR / role / "meta" / "argument_specs.yml"
    assert path.is_file(), f"{role}: no meta/argument_specs.yml"
    specs = (load_yaml(path) or {}).get("argument_specs", {})
    assert "main" in specs, f"{role}: meta/argument_specs.yml has no 'main' entry point"
    return specs["main"].get("options") or {}


def tasks_in(items) -> Iterator[dict]:
    """Every task in a task list, blocks (block/rescue/always) included, recursively."""
    for task in items or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from tasks_in(task.get(key))


def registered_names(role: str) -> list[tuple[str, str]]:
    found = []
    for folder in ("tasks", "handlers"):
        for path in sorted((ROLES_DIR / role / folder).rglob("*.yml")):
            for task in tasks_in(load_yaml(path)):
                if "register" in task:
                    found.append((str(path.relative_to(ROLES_DIR)), task["register"]))
    return found


ROLES = roles()


def test_the_roles_are_found():
    assert {"docker", "milvus_images"} <= set(ROLES), ROLES


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_equal_defaults(role):
    defaults, options = set(defaults_of(role)), set(spec_options_of(role))
    assert defaults == options, (
        f"{role}: only in defaults/main.yml: {sorted(defaults - options)}; "
        f"only in meta/argument_specs.yml: {sorted(options - defaults)}"
    )


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_agree_with_defaults_file(role):
    """Where a spec states a default too, it is the one in defaults/main.yml."""
    if not (ROLES_DIR / role / "meta" / "argument_specs.yml").is_file():
        pytest.skip("no meta/argument_specs.yml (test_argument_specs_equal_defaults fails for it)")
    defaults = defaults_of(role)
    differ = {
        name: (opt["default"], defaults.get(name))
        for name, opt in spec_options_of(role).items()
        if isinstance(opt, dict) and "default" in opt and opt["default"] != defaults.get(name)
    }
    assert not differ, f"{role}: spec default != defaults/main.yml: {differ}"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_carry_the_role_prefix(role):
    prefix = prefix_of(role)
    bad = sorted(name for name in defaults_of(role) if not name.startswith(prefix))
    assert not bad, f"{role}: defaults without the prefix {prefix!r}: {bad}"


@pytest.mark.parametrize("role", ROLES)
def test_private_vars_carry_the_private_prefix(role):
    path = ROLES_DIR / role / "vars" / "main.yml"
    names = (load_yaml(path) or {}) if path.is_file() else {}
    prefix = "_" + prefix_of(role)
    bad = sorted(name for name in names if not name.startswith(prefix))
    assert not bad, f"{role}: vars/main.yml names without the prefix {prefix!r}: {bad}"


@pytest.mark.parametrize("role", ROLES)
def test_registered_results_carry_the_register_prefix(role):
    prefix = "__" + prefix_of(role)
    bad = [f"{where}: {name}" for where, name in registered_names(role) if not name.startswith(prefix)]
    assert not bad, f"{role}: registered names without the prefix {prefix!r}: {bad}"


@pytest.mark.parametrize(
    ("role", "prefix"), [("docker", "docker_"), ("milvus_images", "milvus_images_"), ("kafka", "kafka_")]
)
def test_prefix_table(role, prefix):
    assert prefix_of(role) == prefix


QUORUM_ROLES = {  # role -> the task file that writes and starts its compose project
    "etcd": "tasks/main.yml",
    "kafka": "tasks/main.yml",
    "object_store": "tasks/minio.yml",
    "pulsar": "tasks/main.yml",
}


@pytest.mark.parametrize("role", sorted(QUORUM_ROLES))
def test_quorum_members_take_compose_changes_one_host_at_a_time(role):
    """What `compose up` would recreate (a changed compose file, a new image under its
    reference) reaches running members through docker's compose_serial.yml (one host at a
    time, throttle 1, healthy before the next), before the role's own start could recreate them
    all at once: each quorum role starts its stack through docker's member_stack.yml, once,
    before any start of its own."""
    tasks = list(tasks_in(load_yaml(ROLES_DIR / role / QUORUM_ROLES[role])))
    names = [t.get("name", "") for t in tasks]
    stack = [
        i for i, t in enumerate(tasks)
        if (t.get("ansible.builtin.include_role") or {}).get("tasks_from") == "member_stack.yml"
    ]
    assert len(stack) == 1, names
    starts = [i for i, t in enumerate(tasks) if "community.docker.docker_compose_v2" in t]
    assert not starts or stack[0] < min(starts), names
    # member_stack.yml: which containers run, compose_serial.yml for those, then the start
    shared = load_yaml(ROLES_DIR / "docker" / "tasks" / "member_stack.yml")
    assert [next(k for k in t if k.startswith("ansible.") or k.startswith("community.")) for t in shared] == [
        "ansible.builtin.command", "ansible.builtin.set_fact", "ansible.builtin.import_tasks",
        "community.docker.docker_compose_v2"]
    assert shared[2]["ansible.builtin.import_tasks"] == "compose_serial.yml"
    assert "running" in " ".join(shared[2]["when"]), shared[2]["when"]
    serial = load_yaml(ROLES_DIR / "docker" / "tasks" / "compose_serial.yml")
    # the probe (what compose would recreate) runs on every host at once; the recreation one
    # host at a time
    assert [t.get("throttle") for t in serial] == [None, 1]
