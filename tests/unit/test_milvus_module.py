"""MilvusModule: the connection options and constraints, connect/close, and the one-line failure
(its traceback only at -vvv), on its own and inside each Milvus module's main()."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from ansible.module_utils._internal import _traceback
from ansible.module_utils.testing import patch_module_args
from ansible_collections.vectorops.milvus.plugins.module_utils import _module
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import MilvusError
from ansible_collections.vectorops.milvus.plugins.module_utils._module import (
    CONNECTION_OPTIONS,
    MilvusModule,
    connection_argument_spec,
    connection_module_kwargs,
)

CONN = {"uri": "http://10.0.0.11:19530", "user": "root", "password": "s3cret-pw"}
REFUSED = "authentication failed at 10.0.0.11:19530: wrong user/password or token"


class FakeMilvus:
    """Stands in for a connected Milvus: every call fails with `error`; counts its closes."""

    address = "10.0.0.11:19530"
    uri = "http://10.0.0.11:19530"

    def __init__(self, error: BaseException | None = None):
        self.error = error
        self.closed = 0

    def close(self) -> None:
        self.closed += 1

    def __getattr__(self, name: str) -> Any:
        def call(*_args: Any, **_kwargs: Any) -> Any:
            raise self.error or AssertionError(f"unexpected call {name}")

        return call


@pytest.fixture
def connects(monkeypatch):
    """Milvus.connect replaced: returns FakeMilvus(error), or raises `refuse`; the params it got."""
    made: dict[str, Any] = {"clients": [], "params": []}

    def setup(error: BaseException | None = None, refuse: BaseException | None = None) -> dict[str, Any]:
        def connect(params: dict[str, Any]) -> FakeMilvus:
            made["params"].append(dict(params))
            if refuse is not None:
                raise refuse
            client = FakeMilvus(error)
            made["clients"].append(client)
            return client

        monkeypatch.setattr(_module.Milvus, "connect", staticmethod(connect))
        return made

    return setup


@pytest.fixture
def tracebacks(monkeypatch):
    """Tracebacks enabled as in a module process, by each test's module args: the controller's
    Display (imported by other tests) replaces the check, and the module side caches its answer."""
    monkeypatch.setattr(_traceback, "_is_traceback_enabled", _traceback._is_module_traceback_enabled)
    monkeypatch.setattr(_traceback, "_module_tracebacks_enabled_events", None)


def run_main(capsys, main, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Exit code and JSON result of a module's main() (or any callable that exits like one)."""
    with patch_module_args(args), pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr().out
    return done.value.code, json.loads(out[out.index("{"):])


def build(args: dict[str, Any], **kwargs: Any) -> MilvusModule:
    with patch_module_args(args):
        return MilvusModule(**kwargs)


# ------------------------------------------------------------------ the connection options


def test_every_connection_option_is_in_the_spec_with_its_secrets_no_log():
    spec = connection_argument_spec()
    assert tuple(spec) == CONNECTION_OPTIONS
    assert spec["password"]["no_log"] and spec["token"]["no_log"]
    assert spec["client_key"]["no_log"] is False  # a path, not a secret
    module = build(dict(CONN), argument_spec={"collections": {"type": "list", "elements": "str"}})
    assert set(CONNECTION_OPTIONS) | {"collections"} == set(module.params)
    assert module.params["timeout"] == 10.0 and module.params["db_name"] == "default"


@pytest.mark.parametrize(
    "args, fragment",
    [
        ({"uri": "http://a:19530", "hosts": ["b"]}, "mutually exclusive: uri|hosts"),
        ({"token": "tok-0123456789", "password": "pw-0123456789"}, "mutually exclusive: token|password"),
        ({"user": "root"}, "parameters are required together: user, password"),
        ({"client_cert": "/c.pem"}, "parameters are required together: client_cert, client_key"),
    ],
)
def test_connection_constraints_fail_in_one_line(capsys, args, fragment):
    rc, result = run_main(capsys, MilvusModule, args)
    assert rc == 1 and result["failed"] and fragment in result["msg"] and "\n" not in result["msg"]


def test_without_login_only_the_constraints_on_user_password_and_token_go():
    kwargs = connection_module_kwargs(login=False)
    assert kwargs == {
        "mutually_exclusive": [["uri", "hosts"]],
        "required_together": [["client_cert", "client_key"]],
    }
    args = {"user": "root", "token": "tok-0123456789", "new": "x"}
    module = build(args, argument_spec={"new": {"type": "str"}}, login=False)
    assert module.params["user"] == "root" and module.params["token"] == "tok-0123456789"


def test_a_modules_own_constraints_join_the_connection_ones(capsys):
    def make() -> MilvusModule:
        return MilvusModule(
            argument_spec={"a": {"type": "str"}, "b": {"type": "str"}}, mutually_exclusive=[["a", "b"]]
        )

    assert run_main(capsys, make, {"a": "1", "b": "2"})[1]["msg"] == "parameters are mutually exclusive: a|b"
    assert "uri|hosts" in run_main(capsys, make, {"uri": "u", "hosts": ["h"]})[1]["msg"]


def test_without_pymilvus_it_fails_with_ansibles_message(capsys, monkeypatch):
    monkeypatch.setattr(_module, "HAS_PYMILVUS", False)
    monkeypatch.setattr(_module, "PYMILVUS_IMPORT_ERROR", "No module named 'pymilvus'")
    rc, result = run_main(capsys, MilvusModule, {})
    assert rc == 1 and "Failed to import the required Python library (pymilvus)" in result["msg"]
    assert "No module named 'pymilvus'" in result["msg"]


# ------------------------------------------------------------------ connect, close, fail


def test_connection_is_closed_after_the_block(connects):
    made = connects()
    module = build(dict(CONN))
    with module.connection() as milvus:
        assert milvus is module.milvus
    assert made["clients"][0].closed == 1 and module.milvus is None
    assert made["params"][0]["uri"] == CONN["uri"] and made["params"][0]["password"] == CONN["password"]


def test_a_failure_in_the_block_is_one_line_and_the_connection_is_closed(capsys, connects, tracebacks):
    made = connects()

    def main() -> None:
        module = MilvusModule(supports_check_mode=True)
        with module.connection(changed=False):
            raise RuntimeError("first line\n  second line")

    rc, result = run_main(capsys, main, dict(CONN))
    assert rc == 1 and result["failed"] is True and result["changed"] is False
    assert result["msg"] == "unexpected error: RuntimeError: first line second line"
    assert "exception" not in result
    assert made["clients"][0].closed == 1


def test_a_milvus_error_reads_as_it_is_and_a_refused_connection_closes_nothing(capsys, connects):
    made = connects(refuse=MilvusError(REFUSED))

    def main() -> None:
        with MilvusModule().connection():
            raise AssertionError("the block must not run")

    rc, result = run_main(capsys, main, dict(CONN))
    assert rc == 1 and result["msg"] == REFUSED
    assert made["clients"] == []


@pytest.mark.parametrize(
    "verbosity, switch, carried",
    [
        (0, [], False),
        (2, [], False),
        (3, ["error"], True),
        (4, ["error"], True),
    ],
)
def test_the_traceback_travels_only_at_vvv(capsys, connects, tracebacks, verbosity, switch, carried):
    """-vvv adds the traceback of the failure itself in `exception`. ansible-core 2.19 passes a
    module's traceback on only when DISPLAY_TRACEBACK includes error (`_ansible_tracebacks_for`),
    so the -vvv runs have that switch on as well."""
    connects()

    def main() -> None:
        module = MilvusModule()
        module.fail(ValueError("bad value"), changed=False)  # outside any except: only `exc` has a traceback

    args = dict(CONN, _ansible_verbosity=verbosity, _ansible_tracebacks_for=switch)
    rc, result = run_main(capsys, main, args)
    assert rc == 1 and result["msg"] == "unexpected error: ValueError: bad value"
    if carried:
        assert result["exception"] == "ValueError: bad value\n"  # never raised: no frames above it
    else:
        assert "exception" not in result


def test_vvv_carries_the_traceback_of_the_error_raised_in_the_block(capsys, connects, tracebacks):
    connects(error=MilvusError("get server version: connection reset"))

    def main() -> None:
        with MilvusModule().connection() as milvus:
            milvus.require_version()

    args = dict(CONN, _ansible_verbosity=3, _ansible_tracebacks_for=["error"])
    rc, result = run_main(capsys, main, args)
    assert result["msg"] == "get server version: connection reset"
    assert result["exception"].startswith("Traceback (most recent call last):")
    assert "MilvusError: get server version: connection reset" in result["exception"]


# ------------------------------------------------------------------ the modules built on it

MODULE_ARGS = {
    "milvus_cluster_info": {},
    "milvus_facts": {},
    "milvus_rebalance": {},
    "milvus_loadtest": {"collection": "products"},
}


@pytest.mark.parametrize("name", sorted(MODULE_ARGS))
def test_each_module_fails_in_one_line_and_closes_its_connection(capsys, connects, tracebacks, name):
    made = connects(error=RuntimeError("socket closed\nby peer"))
    module = importlib.import_module(f"ansible_collections.vectorops.milvus.plugins.modules.{name}")
    rc, result = run_main(capsys, module.main, {**CONN, **MODULE_ARGS[name]})
    assert rc == 1 and result["msg"] == "unexpected error: RuntimeError: socket closed by peer", result
    assert result.get("changed", False) is False and "exception" not in result
    assert [c.closed for c in made["clients"]] == [1]
    assert "s3cret-pw" not in json.dumps(result)


def test_password_module_logs_in_as_name_and_closes_each_connection(capsys, connects):
    made = connects()
    password = importlib.import_module("ansible_collections.vectorops.milvus.plugins.modules.milvus_password")
    # user and token are not its options to use: they neither conflict nor reach the login
    args = {"uri": CONN["uri"], "user": "someone", "token": "tok-0123456789", "new_password": "n3w-secret"}
    rc, result = run_main(capsys, password.main, args)
    assert rc == 0 and result == {**result, "changed": False, "user": "root", "address": FakeMilvus.address}
    assert made["params"][0]["user"] == "root" and made["params"][0]["token"] is None
    assert [c.closed for c in made["clients"]] == [1]


def test_password_module_fails_in_one_line_when_no_password_authenticates(capsys, connects):
    connects(refuse=MilvusError(REFUSED))
    password = importlib.import_module("ansible_collections.vectorops.milvus.plugins.modules.milvus_password")
    rc, result = run_main(capsys, password.main, {"uri": CONN["uri"], "new_password": "n3w-secret"})
    assert rc == 1
    assert result["msg"] == "neither the desired password nor any of old_passwords authenticates root"
