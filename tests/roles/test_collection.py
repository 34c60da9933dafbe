"""The collection skeleton: it builds, it resolves from the checkout, its inventories parse."""

from __future__ import annotations

import json
import re
import tarfile

import pytest
import yaml

from tests.conftest import ROOT, project_env, run


def test_galaxy_build_contains_only_the_collection(tmp_path):
    res = run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
              check=True, timeout=120)
    built = list(tmp_path.glob("vectorops-milvus-*.tar.gz"))
    assert len(built) == 1, res.stdout
    with tarfile.open(built[0]) as tar:
        names = tar.getnames()
    manifest = json.loads(tar_member(built[0], "MANIFEST.json"))
    assert manifest["collection_info"]["namespace"] == "vectorops"
    assert manifest["collection_info"]["name"] == "milvus"
    assert "meta/runtime.yml" in names
    for private in (".venv", ".cache", "collections", "sandbox", ".ci"):
        assert not any(n == private or n.startswith(private + "/") for n in names), private


def tar_member(path, member: str) -> str:
    with tarfile.open(path) as tar:
        return tar.extractfile(member).read().decode()


def test_collection_resolves_from_checkout():
    res = run(["ansible-galaxy", "collection", "list", "vectorops.milvus", "--format", "json"],
              check=True, timeout=120)
    found = {name for paths in json.loads(res.stdout).values() for name in paths}
    assert "vectorops.milvus" in found


@pytest.mark.parametrize("inventory", ["inventories/sandbox", "prod"])
def test_inventory_parses(inventory):
    res = run(["ansible-inventory", "-i", inventory, "--list"], check=True, timeout=120)
    assert "[WARNING]" not in res.stderr, res.stderr
    data = json.loads(res.stdout)
    hosts = data["_meta"]["hostvars"]
    assert len(hosts) >= 3, hosts.keys()


def test_sandbox_inventory_addresses_are_inside_the_subnet():
    import ipaddress

    inv = yaml.safe_load((ROOT / "inventories/sandbox/hosts.yml").read_text())
    sandbox = yaml.safe_load((ROOT / "inventories/sandbox/group_vars/all/sandbox.yml").read_text())
    subnet = ipaddress.ip_network(sandbox["sandbox_subnet"])
    hosts = inv["all"]["children"]["sandbox_hosts"]["hosts"]
    ips = [ipaddress.ip_address(h["sandbox_ip"]) for h in hosts.values()]
    ips.append(ipaddress.ip_address(sandbox["sandbox_s3_ip"]))
    assert all(ip in subnet for ip in ips)
    assert len(set(ips)) == len(ips)


def test_site_playbook_syntax():
    run(["ansible-playbook", "--syntax-check", "-i", "prod", "site.yml"], check=True, timeout=120)


MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))


def returned_keys(spec: dict, path: str = "") -> list[tuple[str, dict]]:
    """Every RETURN key, nested ones (contains) included, with its dotted path."""
    out = []
    for key, value in spec.items():
        out.append((path + key, value))
        out += returned_keys(value.get("contains") or {}, f"{path}{key}.")
    return out


def test_every_module_documents_attributes_examples_and_samples():
    res = run(["ansible-doc", "-j", *(f"vectorops.milvus.{m}" for m in MODULES)], check=True, timeout=300)
    docs = json.loads(res.stdout)
    assert sorted(docs) == [f"vectorops.milvus.{m}" for m in MODULES]
    for name, doc in docs.items():
        attributes = doc["doc"].get("attributes", {})
        assert {"check_mode", "diff_mode", "idempotent"} <= set(attributes), name
        # what ansible-test's validate-modules asks of each (tests/sanity; not run offline here)
        for attr, spec in attributes.items():
            assert spec.get("description"), (name, attr)
            assert spec.get("support") in ("full", "partial", "none"), (name, attr)
            assert spec["support"] != "partial" or spec.get("details"), (name, attr)
        assert doc["examples"] and yaml.safe_load(doc["examples"]), name
        assert doc["return"], name
        no_sample = [key for key, spec in returned_keys(doc["return"])
                     if "sample" not in spec and not spec.get("contains")]
        assert not no_sample, f"{name}: RETURN keys without a sample: {no_sample}"


def _secret_values() -> set[str]:
    """Literal values of the secret variables in the inventories (passwords, secret keys)."""
    found = set()
    for path in ROOT.glob("inventories/*/group_vars/all/*.yml"):
        data = yaml.safe_load(path.read_text()) or {}
        for key, value in data.items():
            if re.search(r"password|secret|access_key", key) and isinstance(value, str) \
                    and value and "{{" not in value:
                found.add(value)
    return found


LITERAL_PASSWORD = re.compile(
    r"^[ \t]*-?[ \t]*\w*(password|secret_key)\w*[ \t]*:[ \t]*"  # a key like milvus_root_password:
    r"(?![\"']?\{\{)(?![\"']{2}[ \t]*$)[^\s#]",  # with a value that is no template and not ""
    re.I | re.M,
)


def test_galaxy_build_leaves_out_inventories_vaults_and_secrets(tmp_path):
    """The tarball is what goes to Galaxy: no inventory, no vault file, no password in it."""
    secrets = _secret_values()
    assert {"sandbox-Root-7d41c9", "sandbox-secret-0f5c2a"} <= secrets  # the scan sees them
    run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
        check=True, timeout=120)
    (built,) = tmp_path.glob("vectorops-milvus-*.tar.gz")
    leaks = []
    with tarfile.open(built) as tar:
        for member in tar.getmembers():
            name = member.name
            if name.startswith(("inventories/", "prod/")) or name in ("inventories", "prod"):
                leaks.append(f"{name}: inventory")
            if re.search(r"(^|/)vault\.ya?ml", name):
                leaks.append(f"{name}: vault file")
            if not member.isfile():
                continue
            text = tar.extractfile(member).read().decode(errors="replace")
            leaks += [f"{name}: contains the value of an inventory secret" for s in secrets if s in text]
            if name.endswith((".yml", ".yaml")):
                leaks += [f"{name}: literal {m.group(0).strip()!r}" for m in LITERAL_PASSWORD.finditer(text)]
    assert not leaks, "\n".join(leaks)


def test_ansible_cfg_keeps_host_key_checking():
    """ansible.cfg applies to prod SSH too: it must not switch host key checking off."""
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "ansible.cfg")
    off = [f"[{section}] {key} = {value}" for section in cfg.sections() for key, value in cfg[section].items()
           if key == "host_key_checking" and not cfg[section].getboolean(key)]
    ssh_args = " ".join(cfg.get(sec, "ssh_args", fallback="") for sec in ("ssh_connection", "defaults"))
    if "StrictHostKeyChecking=no" in ssh_args.replace(" ", ""):
        off.append(f"ssh_args {ssh_args}")
    assert not off, off
    env = {k: v for k, v in project_env().items() if k != "ANSIBLE_HOST_KEY_CHECKING"}
    res = run(["ansible-config", "dump", "--only-changed"], check=True, timeout=60, env=env)
    assert "HOST_KEY_CHECKING" not in res.stdout, res.stdout
