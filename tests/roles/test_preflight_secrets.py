"""The preflight's secret checks (roles/preflight/tasks/secrets.yml) through ansible-playbook on
localhost, with a throw-away inventory: example values (CHANGE-ME...) and unencrypted vault files
are refused in one line that names them and never shows a value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, VENV_BIN, run

REAL = "real-Root-pw-8812"
PLAY = [{
    "hosts": "all",
    "gather_facts": False,
    "tasks": [
        {"ansible.builtin.include_role": {"name": "vectorops.milvus.preflight", "tasks_from": "secrets.yml"}}
    ],
}]


def inventory(tmp_path: Path, vault: dict | None, encrypt: bool = False) -> tuple[Path, list[str]]:
    """An inventory like prod's: cluster.yml maps vault_* variables, vault.yml holds them."""
    inv = tmp_path / "inv"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"node1": {
        "ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")}}}}))
    (inv / "group_vars" / "all" / "cluster.yml").write_text(yaml.safe_dump({
        "milvus_root_password": "{{ vault_milvus_root_password }}",
        "object_store_secret_key": "{{ vault_object_store_secret_key }}",
    }))
    extra: list[str] = []
    if vault is not None:
        path = inv / "group_vars" / "all" / "vault.yml"
        path.write_text(yaml.safe_dump(vault))
        if encrypt:
            secret = tmp_path / "vault-pass"
            secret.write_text("unit-test-vault-pass\n")
            run(["ansible-vault", "encrypt", "--vault-password-file", str(secret), str(path)],
                check=True, timeout=60)
            extra = ["--vault-password-file", str(secret)]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY))
    return inv, extra


def preflight(tmp_path: Path, vault: dict | None, encrypt: bool = False, *args: str):
    inv, extra = inventory(tmp_path, vault, encrypt)
    res = run(["ansible-playbook", "-i", str(inv), str(tmp_path / "play.yml"), *extra, *args], timeout=120)
    assert "Traceback" not in res.stdout + res.stderr
    return res


def failure_line(res) -> str:
    lines = [line for line in res.stdout.splitlines() if "msg:" in line or "fatal:" in line]
    return " ".join(lines)


SECRETS = {"vault_milvus_root_password": REAL, "vault_object_store_secret_key": "real-secret-key-77"}


def test_encrypted_vault_with_real_values_passes(tmp_path):
    res = preflight(tmp_path, SECRETS, True)
    assert res.returncode == 0, res.stdout


def test_plain_vault_fails_unless_allowed(tmp_path):
    res = preflight(tmp_path, SECRETS)
    assert res.returncode == 2, res.stdout
    vault = tmp_path / "inv" / "group_vars" / "all" / "vault.yml"
    assert f"vault file(s) not encrypted: {vault}; run ansible-vault encrypt" in res.stdout, res.stdout
    assert REAL not in res.stdout
    allowed = run(["ansible-playbook", "-i", str(tmp_path / "inv"), str(tmp_path / "play.yml"),
                   "-e", "preflight_allow_plain_vault=true"], timeout=120)
    assert allowed.returncode == 0, allowed.stdout
    assert "WARNING: vault file(s) not encrypted" in allowed.stdout


@pytest.mark.parametrize("encrypt", [False, True])
def test_example_values_are_refused_by_name(tmp_path, encrypt):
    example = yaml.safe_load((ROOT / "inventories/prod/group_vars/all/vault.yml.example").read_text())
    res = preflight(tmp_path, example, encrypt, "-e", "preflight_allow_plain_vault=true")
    assert res.returncode == 2, res.stdout
    out = " ".join(res.stdout.split())
    assert ("milvus_root_password, object_store_secret_key, vault_milvus_root_password, "
            "vault_object_store_access_key, vault_object_store_secret_key: still the example value "
            "(CHANGE-ME...) of vault.yml.example") in out, res.stdout
    assert "CHANGE-ME-at-least-8-chars" not in res.stdout


def test_the_sandbox_inventory_passes():
    """No vault file and real (sandbox) values: nothing to refuse."""
    play = ROOT / "tests" / "roles" / "playbooks" / "preflight_secrets.yml"
    res = run(["ansible-playbook", "-i", "inventories/sandbox", str(play)], timeout=120)
    assert res.returncode == 0, res.stdout
