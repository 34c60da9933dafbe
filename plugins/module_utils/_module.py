# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""MilvusModule: the AnsibleModule that every Milvus module of the collection is built on.

It holds what the modules share on the Ansible side: the connection options and their
constraints (documented once in doc_fragments/connection.py), the pymilvus connection and its
closing, and the failure path, one line for fail_json whatever went wrong.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import (
    HAS_PYMILVUS,
    PYMILVUS_IMPORT_ERROR,
    Milvus,
    MilvusError,
    one_line,
)

# The options that say who logs in; milvus_password logs in with credentials of its own.
LOGIN_OPTIONS = ("user", "password", "token")


def connection_argument_spec() -> dict[str, Any]:
    """The connection options shared by every module (documented in doc_fragments/connection)."""
    return {
        "uri": {"type": "str", "fallback": (env_fallback, ["MILVUS_URI"])},
        "hosts": {"type": "list", "elements": "str"},
        "user": {"type": "str", "fallback": (env_fallback, ["MILVUS_USER"])},
        "password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["MILVUS_PASSWORD"])},
        "token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["MILVUS_TOKEN"])},
        "db_name": {"type": "str", "default": "default"},
        "secure": {"type": "bool", "default": False},
        "ca_cert": {"type": "path"},
        "client_cert": {"type": "path"},
        "client_key": {"type": "path", "no_log": False},
        "server_name": {"type": "str"},
        "timeout": {"type": "float", "default": 10.0},
    }


CONNECTION_OPTIONS = tuple(connection_argument_spec())


def connection_module_kwargs(login: bool = True) -> dict[str, list[list[str]]]:
    """Constraints between connection options, for AnsibleModule(**kwargs).

    login=False leaves out the ones between user, password and token, for a module that does
    not log in with them.
    """
    constraints = {
        "mutually_exclusive": [["uri", "hosts"], ["token", "password"], ["token", "user"]],
        "required_together": [["user", "password"], ["client_cert", "client_key"]],
    }
    if login:
        return constraints
    return {
        key: [group for group in groups if not set(group) & set(LOGIN_OPTIONS)]
        for key, groups in constraints.items()
    }


def failure_message(exc: BaseException) -> str:
    """One line for fail_json: a MilvusError as it reads, anything else behind its type."""
    if isinstance(exc, MilvusError):
        return str(exc)
    return f"unexpected error: {type(exc).__name__}: {one_line(exc)}"


class MilvusModule(AnsibleModule):
    """AnsibleModule with the connection options, the pymilvus connection and one-line failures.

    `argument_spec` holds the module's own options; the connection options and their
    constraints are added, along with any constraints of the module's own in `kwargs`. It fails
    at once, with Ansible's standard message, when pymilvus is not importable.
    """

    def __init__(self, argument_spec: dict[str, Any] | None = None, *, login: bool = True, **kwargs: Any):
        spec = connection_argument_spec()
        spec.update(argument_spec or {})
        for key, groups in connection_module_kwargs(login).items():
            kwargs[key] = groups + list(kwargs.get(key) or [])
        super().__init__(argument_spec=spec, **kwargs)
        self.milvus: Milvus | None = None
        if not HAS_PYMILVUS:
            self.fail_json(msg=missing_required_lib("pymilvus") + f" ({PYMILVUS_IMPORT_ERROR})")

    def connect(self, params: dict[str, Any] | None = None) -> Milvus:
        """Connect with the module's connection options (or `params`); MilvusError on failure."""
        self.close()
        self.milvus = Milvus.connect(self.params if params is None else params)
        return self.milvus

    def close(self) -> None:
        """Close the connection, if one is open; best effort."""
        milvus, self.milvus = self.milvus, None
        if milvus is not None:
            milvus.close()

    def fail(self, exc: BaseException, **result: Any) -> NoReturn:
        """fail_json with one line for `exc`, and `result`; at -vvv (verbosity 3 or more) the
        result also carries the traceback of `exc` in `exception`.

        ansible-core 2.19 passes a module's traceback on only when its DISPLAY_TRACEBACK setting
        includes `error` (ANSIBLE_DISPLAY_TRACEBACK=error); with that setting on, fail_json adds
        the traceback below -vvv too.
        """
        msg = failure_message(exc)
        if self._verbosity >= 3:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            self.fail_json(msg=msg, exception=trace, **result)
        self.fail_json(msg=msg, **result)

    @contextlib.contextmanager
    def connection(self, params: dict[str, Any] | None = None, **fail_result: Any) -> Iterator[Milvus]:
        """The connected Milvus for a with-block. Any error in connecting or in the block fails
        the module in one line (with `fail_result` in its result); the connection is closed
        however the block ends."""
        try:
            yield self.connect(params)
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback
            self.fail(exc, **fail_result)
        finally:
            self.close()
