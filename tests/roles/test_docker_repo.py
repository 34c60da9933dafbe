"""The docker role's trust in Docker's apt repository, and its switch from the distribution's
packages: the key is installed only with the pinned fingerprint, the URLs must be https, and the
switch removes docker.io/containerd one host at a time. The key and URL checks run through
ansible-playbook on localhost (roles/docker/tasks/repo_key.yml and repo_url.yml); the switch is
checked in the task file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, VENV_BIN, run
from tests.unit.test_roles_meta import load_yaml, tasks_in

DOCKER_FPR = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"


def play(tmp_path: Path, tasks_from: str, extra: dict) -> tuple[int, str]:
    book = tmp_path / f"{tasks_from}.play.yml"
    book.write_text(yaml.safe_dump([{
        "hosts": "localhost",
        "gather_facts": False,
        "connection": "local",
        "vars": {"ansible_python_interpreter": str(VENV_BIN / "python")},
        "tasks": [
            {"ansible.builtin.include_role": {"name": "vectorops.milvus.docker", "tasks_from": tasks_from}}
        ],
    }]))
    extra_file = tmp_path / f"{tasks_from}.extra.json"
    extra_file.write_text(json.dumps(extra))
    res = run(["ansible-playbook", "-i", "localhost,", str(book), "-e", f"@{extra_file}"], timeout=120)
    assert "Traceback" not in res.stdout + res.stderr
    return res.returncode, " ".join(res.stdout.split())


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Iterator[dict[str, object]]:
    """Two throw-away signing keys, exported armoured one by one and together."""
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    out: dict[str, object] = {"dir": home}
    for name in ("good", "other"):
        run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.invalid>",
             "ed25519", "sign", "never"], env=env, check=True, timeout=120)
        listing = run(["gpg", "--batch", "--with-colons", "--list-keys", f"{name}@example.invalid"],
                      env=env, check=True, timeout=60).stdout
        fprs = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
        out[f"{name}_fpr"] = fprs[0]
        armoured = run(["gpg", "--batch", "--armor", "--export", f"{name}@example.invalid"],
                       env=env, check=True, timeout=60).stdout
        (home / f"{name}.asc").write_text(armoured)
    (home / "both.asc").write_text((home / "good.asc").read_text() + (home / "other.asc").read_text())
    (home / "junk.asc").write_text("<html>not a key</html>\n")
    yield out
    # Key generation starts a gpg-agent for this home: it must not outlive the tests.
    run(["gpgconf", "--kill", "gpg-agent"], env=env, timeout=60)


def key_run(tmp_path: Path, keys: dict, served: str, fingerprint: str) -> tuple[int, str, Path]:
    keyring = tmp_path / "keyrings" / "docker.asc"
    keyring.parent.mkdir(exist_ok=True)
    rc, out = play(tmp_path, "repo_key.yml", {
        "_docker_upstream_repo_key": f"file://{keys['dir']}/{served}",
        "_docker_upstream_keyring": str(keyring),
        "docker_upstream_repo_key_fingerprint": fingerprint,
    })
    return rc, out, keyring


def spaced(fpr: str) -> str:
    return " ".join(fpr[i:i + 4] for i in range(0, len(fpr), 4)).lower()


def test_the_pinned_key_is_trusted(tmp_path, keys):
    rc, out, keyring = key_run(tmp_path, keys, "good.asc", spaced(keys["good_fpr"]))
    assert rc == 0, out
    assert keyring.read_text() == (keys["dir"] / "good.asc").read_text()
    assert "changed=1 " in out  # the keyring only: the scratch download is no change
    rc, out, _unused = key_run(tmp_path, keys, "good.asc", keys["good_fpr"])
    assert rc == 0 and "changed=0 " in out, out  # idempotent


@pytest.mark.parametrize(("served", "shown"), [
    ("other.asc", "other_fpr"),
    ("both.asc", None),
    ("junk.asc", "no OpenPGP key"),
])
def test_any_other_key_is_refused_in_one_line(tmp_path, keys, served, shown):
    rc, out, keyring = key_run(tmp_path, keys, served, keys["good_fpr"])
    assert rc == 2, out
    assert f"not docker_upstream_repo_key_fingerprint {keys['good_fpr']}: not trusted" in out, out
    if shown == "no OpenPGP key":
        assert "is no OpenPGP key" in out
    elif shown is None:  # the pinned key plus another one: apt would trust both
        pair = (f"{keys['good_fpr']} + {keys['other_fpr']}", f"{keys['other_fpr']} + {keys['good_fpr']}")
        assert pair[0] in out or pair[1] in out, out
    else:
        assert f"is {keys[shown]}, not" in out
    assert not keyring.exists()


def test_the_default_pin_is_dockers_published_fingerprint():
    defaults = load_yaml(ROOT / "roles/docker/defaults/main.yml")
    assert defaults["docker_upstream_repo_key_fingerprint"].replace(" ", "") == DOCKER_FPR
    assert defaults["docker_apt_mirror_trusted"] is False


@pytest.mark.parametrize(("extra", "refused"), [
    ({}, None),
    ({"docker_upstream_repo_url": "https://mirror.example.invalid/docker"}, None),
    ({"docker_upstream_repo_url": "http://mirror.example.invalid/docker"}, "http://mirror.example.invalid/docker"),
    ({"docker_upstream_repo_key_url": "http://mirror.example.invalid/gpg"}, "http://mirror.example.invalid/gpg"),
    ({"docker_upstream_repo_url": "ftp://mirror.example.invalid/docker"}, "ftp://mirror.example.invalid/docker"),
    ({"docker_upstream_repo_url": "http://mirror.example.invalid/docker", "docker_apt_mirror_trusted": True},
     None),
])
def test_repository_urls_must_be_https_unless_trusted(tmp_path, extra, refused):
    defaults = load_yaml(ROOT / "roles/docker/defaults/main.yml")
    rc, out = play(tmp_path, "repo_url.yml", {**defaults, **extra})
    if refused is None:
        assert rc == 0, out
    else:
        assert rc == 2, out
        assert f"docker: {refused}: not https" in out and "docker_apt_mirror_trusted: true" in out, out


def test_the_switch_from_distro_packages_goes_one_host_at_a_time():
    """docker.io/containerd are removed only inside one throttled task that also installs
    docker-ce and waits until the host's compose stacks are healthy again."""
    tasks = list(tasks_in(load_yaml(ROOT / "roles/docker/tasks/install.yml")))
    removing = [t for t in tasks if (t.get("ansible.builtin.apt") or {}).get("state") == "absent"]
    assert not removing, f"apt state=absent outside the throttled switch: {removing}"
    switch = [t for t in tasks if "apt-get remove" in str(t.get("ansible.builtin.shell", ""))]
    assert len(switch) == 1, switch
    (task,) = switch
    assert task.get("throttle") == 1, task
    script = task["ansible.builtin.shell"]["cmd"]
    remove, install = script.index("apt-get remove"), script.index("apt-get install")
    up, wait = script.index("docker compose -f compose.yml up"), script.index("docker_compose_wait_command")
    assert remove < install < up < wait, script
    assert "|| exit 1" in script[wait:]  # an unhealthy host stops the rollout
