"""One source for the cluster's constants: roles/cluster/defaults/main.yml.

No role or playbook types one of its ports again (comments and option descriptions aside);
every role that reads a cluster_* variable depends on the cluster role, and every operations
play that reads them runs it; preflight's port list is derived from it, and its check fails on
a port given twice or out of range."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.vectorops.milvus.plugins.filter.topology import (
    cluster_listen_ports,
    cluster_port_problems,
    cluster_ports,
    cluster_ports_taken,
    reserved_ports_value,
)

from tests.conftest import ROOT
from tests.unit.conftest import scan_probe

CLUSTER = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())
PORT_MAP = {k: v for k, v in CLUSTER.items() if re.fullmatch(r"cluster_.*_port", k)}
MILVUS_PORTS = CLUSTER["cluster_milvus_ports"]
ALL_PORTS = sorted(set(PORT_MAP.values()) | {p for ports in MILVUS_PORTS.values() for p in ports.values()})
SOURCE = ROOT / "roles/cluster/defaults/main.yml"
SUFFIXES = {".yml", ".yaml", ".j2", ".sh", ".py", ".cfg"}


def _code_lines(path: Path):
    """(line number, text) of the lines that are code: YAML/shell comments, Jinja comments and
    the description text of argument specs left out."""
    in_description = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if path.name == "argument_specs.yml":
            if re.match(r"^description:", stripped):
                in_description = True
                continue
            if in_description and re.match(r"^[a-z_]+:", stripped):
                in_description = False
            if in_description:
                continue
        code = re.sub(r"\{#.*?#\}", "", line)
        if code.lstrip().startswith("#"):
            continue
        yield number, code


def literal_ports(path: Path) -> list[str]:
    found = []
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(str, ALL_PORTS)) + r")(?![\w.])")
    for number, code in _code_lines(path):
        for match in pattern.finditer(code):
            found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(1)}")
    return found


def project_files() -> list[Path]:
    files = []
    for folder in ("roles", "playbooks"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and path != SOURCE:
                files.append(path)
    return files + [ROOT / "site.yml"]


def test_no_port_is_typed_outside_the_cluster_role():
    found = [hit for path in project_files() for hit in literal_ports(path)]
    assert not found, "ports typed outside roles/cluster/defaults/main.yml:\n" + "\n".join(found)


def test_the_plugins_defaults_are_the_cluster_roles():
    from ansible_collections.vectorops.milvus.plugins.module_utils import _milvus
    from ansible_collections.vectorops.milvus.plugins.plugin_utils import _inventory

    proxy = MILVUS_PORTS["proxy"]["grpc"]
    assert _inventory.DEFAULT_PROXY_PORT == _milvus.DEFAULT_PORT == proxy
    assert CLUSTER["cluster_endpoint_port"] == _inventory.DEFAULT_ENDPOINT_PORT


def test_the_literal_port_check_sees_a_typed_port():
    """The check above can fail: a port in code is found, one in a comment is not."""
    hits = scan_probe("# 2379 in a comment\nsome_port: 2379\nurl: \"http://{{ ip }}:19530\"\n", literal_ports)
    assert [h.rsplit(": ", 1)[1] for h in hits] == ["2379", "19530"]


def test_roles_that_read_cluster_constants_depend_on_the_cluster_role():
    for role in sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir() and p.name != "cluster"):
        text = "\n".join(p.read_text() for p in role.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        if "cluster_" not in re.sub(r"cluster_host_ip", "", text):
            continue
        meta = yaml.safe_load((role / "meta/main.yml").read_text())
        deps = [d["role"] if isinstance(d, dict) else d for d in meta.get("dependencies") or []]
        assert "cluster" in deps, role.name


def test_operations_plays_that_read_the_constants_run_the_cluster_role():
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(path.read_text()) or []:
            if "vars/milvus_ops.yml" in (play.get("vars_files") or []):
                assert "vectorops.milvus.cluster" in (play.get("roles") or []), f"{path.name}: {play['name']}"


def test_preflight_ports_come_from_the_constants():
    spec = yaml.safe_load((ROOT / "roles/preflight/defaults/main.yml").read_text())["preflight_ports"]
    assert "cluster_ports" in spec and not re.search(r"\d{4}", spec)
    kafka = cluster_ports(PORT_MAP, MILVUS_PORTS, "kafka")
    # what preflight checked when the list was typed by hand
    assert kafka == sorted([2379, 2380, 9000, 19530, 19529, 9091, 53100, 19531, 13333, 21123, 21124, 21121,
                            22222, 9092, 9093])
    pulsar = cluster_ports(PORT_MAP, MILVUS_PORTS, "pulsar")
    assert set(pulsar) - set(kafka) == {2181, 2888, 3888, 3181, 6650, 8080}
    assert not {9092, 9093} & set(pulsar) and 9001 not in kafka  # the other queue, the console


def test_every_port_a_process_listens_on_is_reserved():
    # The preflight role reserves these: rootcoord's 53100 is inside Linux's default ephemeral
    # range (32768-60999), where an outgoing connection's local port can take it.
    two = cluster_listen_ports(PORT_MAP, MILVUS_PORTS, 2)
    assert set(ALL_PORTS) <= set(two) and 53100 in two
    # the second instance of each role: gRPC 10 up, metrics 1 up (milvus_host_services)
    assert {53110, 21133, 9192} <= set(two) and 53110 not in cluster_listen_ports(PORT_MAP, MILVUS_PORTS)
    defaults = yaml.safe_load((ROOT / "roles/preflight/defaults/main.yml").read_text())
    spec = defaults["preflight_reserved_ports"]
    assert "cluster_listen_ports" in spec and not re.search(r"\d{4}", spec)


@pytest.mark.parametrize(("current", "ports", "value"), [
    ("", [9001, 9000, 2380, 2379, 53100, 19530], "2379-2380,9000-9001,19530,53100"),
    ("\n", [53100], "53100"),
    # what others reserved stays; a run of ports joins one that touches it
    ("2379-2380,60000", [2381, 59999, 53100], "2379-2381,53100,59999-60000"),
    ("53100", [53100], "53100"),
])
def test_reserved_ports_value_is_the_kernels_own_form(current, ports, value):
    assert reserved_ports_value(current, ports) == value
    # what the kernel prints back is already whole: a second converge has nothing to change
    assert reserved_ports_value(value, ports) == value


@pytest.mark.parametrize("current", ["53100-x", "abc", "70000"])
def test_a_reserved_ports_value_the_kernel_would_not_print_is_refused(current):
    with pytest.raises(AnsibleFilterError, match="reserved_ports_value"):
        reserved_ports_value(current, [53100])


FIXTURES = ROOT / "tests" / "unit" / "fixtures"


def test_a_cluster_port_held_by_a_connection_is_named():
    # `ss -Htan` on the suite's node3 (no coordinator there) while a connection bound to 53100
    # went to node1's etcd: run Z's peers saw "cannot reach node3 on 53100 (refused)".
    lines = (FIXTURES / "ss_tan_port_held_by_a_connection.txt").read_text().splitlines()
    ports = cluster_ports(PORT_MAP, MILVUS_PORTS, "kafka")
    assert cluster_ports_taken(lines, ports) == ["53100 (10.213.4.13:53100 -> 10.213.4.11:2379, ESTAB)"]
    # node1 runs rootcoord: 53100 listens there, and its accepted connections share the port
    coordinator = (FIXTURES / "ss_tan_coordinator_host.txt").read_text().splitlines()
    assert sum(":53100 " in line for line in coordinator) > 1
    assert cluster_ports_taken(coordinator, ports) == []


@pytest.mark.parametrize(("line", "taken"), [
    ("ESTAB 0 0 10.0.0.3:53100 10.0.0.1:2379", ["53100 (10.0.0.3:53100 -> 10.0.0.1:2379, ESTAB)"]),
    ("SYN-SENT 0 1 [::ffff:10.0.0.3]:53100 [::ffff:10.0.0.1]:9092",
     ["53100 ([::ffff:10.0.0.3]:53100 -> [::ffff:10.0.0.1]:9092, SYN-SENT)"]),
    ("TIME-WAIT 0 0 10.0.0.3:53100 10.0.0.1:2379", []),  # a reusing listener binds over it
    ("ESTAB 0 0 10.0.0.3:53101 10.0.0.1:2379", []),  # no cluster port
])
def test_which_connections_hold_a_port(line, taken):
    assert cluster_ports_taken([line], [53100, 2379]) == taken
    # with a listener on the port, the connection is one it accepted
    assert cluster_ports_taken([line, "LISTEN 0 4096 0.0.0.0:53100 0.0.0.0:*"], [53100]) == []


def test_the_shipped_constants_have_no_problem():
    assert cluster_port_problems(PORT_MAP, MILVUS_PORTS) == []


@pytest.mark.parametrize(("change", "problem"), [
    ({"cluster_kafka_port": 2379}, "cluster_etcd_client_port and cluster_kafka_port are all 2379"),
    ({"cluster_s3_port": 70000}, "cluster_s3_port is 70000, not a port from 1 to 65535"),
    ({"cluster_s3_port": "nine"}, "cluster_s3_port is 'nine', not a port"),
    ({"cluster_pulsar_web_port": 9091},
     "cluster_pulsar_web_port and cluster_milvus_ports.proxy.metrics are all 9091"),
])
def test_port_problems_name_the_settings(change, problem):
    problems = cluster_port_problems({**PORT_MAP, **change}, MILVUS_PORTS)
    assert any(p.startswith(problem) for p in problems), problems


# Addresses the cluster role derives once (roles/cluster/vars/main.yml), and the shape of a list
# built elsewhere: a group's hosts mapped to their cluster_host_ip, then to a port or a dict.
DERIVED_ONCE = {
    "etcd client URLs": re.compile(r"hostvars, 'cluster_host_ip'\)[^\n]*\n?[^\n]*etcd_(client_)?port"),
    "monitoring host addresses": re.compile(
        r"groups\[(?:'monitoring'|[a-z_]*monitoring_group)\][^\n]*\n?[^\n]*'cluster_host_ip'"),
}
# Each as it was built before, outside the cluster role: the check must find it.
BUILT_BEFORE = {
    "etcd client URLs": "urls: \"{{ groups['etcd'] | map('extract', hostvars, 'cluster_host_ip')\n"
                        "           | product([':' ~ milvus_etcd_port]) | map('join') | list }}\"\n",
    "monitoring host addresses": "hosts: \"{{ groups['monitoring'] | default([])\n"
                                 "           | map('extract', hostvars, 'cluster_host_ip') | list }}\"\n",
}


def built_here(path: Path, what: str) -> list[str]:
    """Where a file builds one of the cluster role's derived address lists itself."""
    text = "\n".join(code for _number, code in _code_lines(path))
    return [f"{path.relative_to(ROOT)}: {m.group(0)[:80]!r}" for m in DERIVED_ONCE[what].finditer(text)]


@pytest.mark.parametrize("what", sorted(DERIVED_ONCE))
def test_derived_addresses_are_built_in_the_cluster_role_only(what):
    outside = [path for path in project_files() if "roles/cluster/" not in str(path)]
    found = [hit for path in outside for hit in built_here(path, what)]
    assert not found, f"{what} built outside roles/cluster/vars/main.yml:\n" + "\n".join(found)
    assert len(scan_probe(BUILT_BEFORE[what], lambda probe: built_here(probe, what))) == 1  # it can fail


def test_no_task_chooses_the_controllers_python():
    # A task delegated to localhost runs on the implicit localhost, whose interpreter is the
    # one running ansible-playbook (the venv's), whatever the play's hosts use: an override
    # per task is noise that can only go stale.
    found = [hit for path in project_files() for number, code in _code_lines(path)
             if "ansible_python_interpreter" in code for hit in [f"{path.relative_to(ROOT)}:{number}"]]
    assert not found, found


def test_a_retirement_takes_down_the_roles_own_projects_and_folders():
    # playbooks/vars/milvus_ops.yml names the stateless projects and their folders with each
    # role's variable, falling back on a cluster constant when the role's defaults are not
    # loaded: the constant must be the one the role's own default reads, or a retirement would
    # leave the real project running.
    ops = (ROOT / "playbooks/vars/milvus_ops.yml").read_text()
    defaults = {}
    for role in ("milvus", "endpoint", "monitoring"):
        defaults.update(yaml.safe_load((ROOT / f"roles/{role}/defaults/main.yml").read_text()))
    retire = ops.split("milvus_ops_retire_projects:")[1].split("\nmilvus_ops_retire_dirs:")[0]
    fallback = r"\{\{ (\w+_project_name) \| default\((cluster_projects\.\w+)\.name\) \}\}"
    fallbacks = dict(re.findall(fallback, retire))
    assert set(fallbacks) == {"milvus_project_name", "endpoint_project_name",
                              "monitoring_node_exporter_project_name"}, fallbacks
    for var, constant in fallbacks.items():
        assert defaults[var] == "{{ " + constant + ".name }}", var
    retire_dirs = ops.split("milvus_ops_retire_dirs:")[1].split("\nmilvus_ops_projects:")[0]
    dir_fallback = r"(\w+_base_dir) \| default\(cluster_base_dir ~ '/' ~ (cluster_projects\.\w+)\.dir\)"
    dirs = dict(re.findall(dir_fallback, retire_dirs))
    assert set(dirs) == {"milvus_base_dir", "endpoint_base_dir", "monitoring_base_dir"}, dirs
    for var, constant in dirs.items():
        assert defaults[var] == "{{ cluster_base_dir }}/{{ " + constant + ".dir }}", var
    # Every group a play of site.yml's phases places processes with is a placing group.
    placing = set(yaml.safe_load(ops)["milvus_ops_placing_groups"])
    played = set()
    for book in ("site.yml", "milvus.yml", "endpoint.yml", "monitoring.yml"):
        for play in yaml.safe_load((ROOT / "playbooks" / book).read_text()):
            hosts = str(play.get("hosts", ""))
            played |= set(re.findall(r"[a-z_]+", hosts.split("{{", maxsplit=1)[0]))
    played -= {"milvus_cluster"}  # every host of the cluster, placed or not: the groups below it place
    assert played <= placing, played - placing


PROJECT_NAMES = sorted(p["name"] for p in CLUSTER["cluster_projects"].values())


def literal_project_names(path: Path) -> list[str]:
    """Compose project names (and so container names, <project>-<service>-<n>) typed in code.
    A path inside a container (/etc/vectorops-endpoint/) and a name: key's value (a task's or a
    Prometheus rule group's name) are not a project."""
    pattern = re.compile(r"(?<![\w/.-])(" + "|".join(map(re.escape, PROJECT_NAMES)) + r")(?![\w/])")
    found = []
    for number, code in _code_lines(path):
        if re.match(r"^\s*-?\s*name:", code):
            continue
        for match in pattern.finditer(code):
            found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(1)}")
    return found


def test_no_project_or_container_name_is_typed_outside_the_cluster_role():
    found = [hit for path in project_files() for hit in literal_project_names(path)]
    assert not found, "compose project names typed outside the cluster role's defaults:\n" + "\n".join(found)
    hits = scan_probe("# vectorops-etcd in a comment\nc: vectorops-etcd-etcd-1\n"  # the check can fail
                      "p: \"{{ x | default('vectorops-milvus') }}\"\nf: /etc/vectorops-endpoint/x.cfg\n",
                      literal_project_names)
    assert [h.rsplit(": ", 1)[1] for h in hits] == ["vectorops-etcd", "vectorops-milvus"]


def test_the_cluster_name_is_one_constant():
    for role, var in (("etcd", "etcd_cluster_token"), ("kafka", "kafka_cluster_name"),
                      ("pulsar", "pulsar_cluster_name")):
        defaults = yaml.safe_load((ROOT / f"roles/{role}/defaults/main.yml").read_text())
        assert defaults[var] == "{{ cluster_name }}", (role, var)
