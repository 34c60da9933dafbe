"""galaxy.yml declares every collection the content uses: a module, filter or lookup named by
its fully qualified name (namespace.collection.name) in a role, playbook or Molecule scenario
belongs to ansible.builtin, to this collection, or to a collection galaxy.yml depends on, so
that `ansible-galaxy collection install vectorops.milvus` brings everything it needs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.unit.conftest import scan_probe

OWN = {"ansible.builtin", "vectorops.milvus"}
FQCN = re.compile(r"(?<![\w.$/-])([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*")


def namespaces() -> set[str]:
    """Every namespace the installed ansible package ships collections under (community, ...)."""
    spec = importlib.util.find_spec("ansible_collections")
    assert spec and spec.submodule_search_locations
    return {p.name for loc in spec.submodule_search_locations for p in Path(loc).iterdir()
            if p.is_dir() and not p.name.startswith(("_", "."))}


def used_collections(paths) -> dict[str, str]:
    """namespace.collection -> the first place it is named, in YAML and template code lines."""
    known, found = namespaces() | {"ansible"}, {}
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = re.sub(r"\{#.*?#\}", "", line)
            if code.lstrip().startswith("#"):
                continue
            for match in FQCN.finditer(code):
                name = f"{match.group(1)}.{match.group(2)}"
                if match.group(1) in known and name not in OWN:
                    found.setdefault(name, f"{path.relative_to(ROOT)}:{number}")
    return found


def content_files() -> list[Path]:
    files = [ROOT / "site.yml"]
    for folder in ("roles", "playbooks", "molecule"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in {".yml", ".j2"})
    return files


def test_every_collection_the_content_uses_is_a_dependency():
    declared = set(yaml.safe_load((ROOT / "galaxy.yml").read_text()).get("dependencies") or {})
    used = used_collections(content_files())
    missing = {name: where for name, where in used.items() if name not in declared}
    assert not missing, f"used but not in galaxy.yml's dependencies: {missing}"


def test_the_scan_sees_a_collection_by_its_fqcn():
    # The check above can fail: a filter and a module of undeclared collections are found, a
    # comment, a host name and this collection's own names are not.
    found = scan_probe("# community.crypto.x509_certificate in a comment\n"
                       "a: \"{{ x | community.general.json_query('[]') }}\"\n"
                       "ansible.utils.assert_that: {}\nhost: node1.example.com\n"
                       "b: \"{{ y | vectorops.milvus.milvus_proxy_addresses(z) }}\"\n",
                       lambda probe: used_collections([probe]))
    assert sorted(found) == ["ansible.utils", "community.general"]
