"""milvus_password through Ansible against the real standalone: rotation, and nothing logged.

A user of its own (not root), so the rest of the tier keeps its connection.
"""

from __future__ import annotations

import pytest
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import Milvus, MilvusError

from tests.conftest import module_command, run
from tests.integration.conftest import run_module

PASSWORD = "milvus_password"
USER = "it_rotate"
FIRST = "it-First-pw-5521"
CURRENT = "it-Current-pw-8830"
NEXT = "it-Next-pw-2207"


@pytest.fixture
def rotating_user(client):
    client.client.create_user(USER, FIRST)
    yield USER
    client.client.drop_user(USER)


def authenticates(conn: dict, password: str) -> bool:
    try:
        Milvus.connect({"uri": conn["uri"], "user": USER, "password": password, "timeout": 10}).close()
    except MilvusError as exc:
        assert "authentication failed" in str(exc), exc
        return False
    return True


def test_rotation_with_the_previous_password_never_logs_either(conn, rotating_user):
    base = {"uri": conn["uri"], "name": USER, "timeout": 10}
    # A cluster moved off the first password once already (what the deploy does).
    first = run_module(PASSWORD, {**base, "new_password": CURRENT, "old_passwords": [FIRST]})
    assert first.result["changed"] is True, first.result

    # Rotation: the new password, with the current one as the previous (then the initial one).
    args = {**base, "new_password": NEXT, "old_passwords": [CURRENT, "Milvus"]}
    verbose = run(module_command(PASSWORD, args) + ["-vvv"], timeout=300)
    out = verbose.stdout + verbose.stderr
    assert verbose.returncode == 0 and "CHANGED" in verbose.stdout, out[-3000:]
    assert "module_args:" in verbose.stdout and "old_passwords:" in verbose.stdout  # the invocation...
    for secret in (CURRENT, NEXT):
        assert secret not in out  # ...but neither password is

    again = run_module(PASSWORD, args)
    assert again.rc == 0 and again.result["changed"] is False, again.result
    assert authenticates(conn, NEXT)
    assert not authenticates(conn, CURRENT)  # the old password is refused from now on

    # Without the previous password, rotation cannot authenticate: one line, nothing changed.
    stale = run_module(PASSWORD, {**base, "new_password": "it-Other-pw-1234"})
    stale.assert_clean_failure("neither the desired password nor any of old_passwords authenticates")
    assert authenticates(conn, NEXT)
