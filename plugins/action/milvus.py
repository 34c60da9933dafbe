# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Action plugin of the collection's Milvus modules (meta/runtime.yml routes each one here).

pymilvus lives on the controller, so the module always runs there, with the controller's Python
(`ansible_playbook_python`), whatever host the task targets; nothing is installed on the cluster
hosts. The connection comes from the inventory, so neither a playbook nor an ad-hoc command types
it: the proxies of the `milvus_proxy` group (`cluster_host_ip`, else `ansible_host`, port
`milvus_ops_proxy_port`, else 19530), the targeted host's own proxy first, after the clients'
endpoint (`endpoint_vip`, port `cluster_endpoint_port`) when the inventory has one; user `milvus_ops_user`
(root) with `milvus_root_password`; TLS from `milvus_tls_*` when defined. Any argument given
(`-a`, task args, module_defaults) wins over what is derived.

milvus_facts connects to the targeted proxy host's own proxy only (a dead proxy fails that host);
its alerts are judged on the controller by the `milvus_health_alerts` filter, as health.yml does.
"""

from __future__ import annotations

import os
import socket
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.plugins.shell import sh
from ansible.utils.display import Display
from ansible_collections.vectorops.milvus.plugins.filter.operations import _host_of, milvus_health_alerts
from ansible_collections.vectorops.milvus.plugins.module_utils._cluster_info import (
    check_expected,
    check_thresholds,
)
from ansible_collections.vectorops.milvus.plugins.plugin_utils._inventory import (
    DEFAULT_ENDPOINT_PORT,
    DEFAULT_PROXY_PORT,
    PROXY_GROUP,
    InventoryVarError,
    defined,
    proxy_address,
)

display = Display()

PASSWORD_VAR = "milvus_root_password"
DEFAULT_PORT = DEFAULT_PROXY_PORT
FACTS_MODULE = "milvus_facts"
# The clients' endpoint (roles/endpoint): its group.
ENDPOINT_GROUP = "endpoint"
# connection option -> inventory variable, applied when the variable is defined
TLS_VARS = {
    "secure": "milvus_tls_enabled",
    "ca_cert": "milvus_tls_ca_cert",
    "client_cert": "milvus_tls_client_cert",
    "client_key": "milvus_tls_client_key",
    "server_name": "milvus_tls_server_name",
}


class ConnectionVarError(InventoryVarError):
    """The inventory cannot give a connection setting: one line for the user."""


_defined = defined


def connection_defaults(
    module: str,
    args: Mapping[str, Any],
    task_vars: Mapping[str, Any],
    var: Callable[[str], Any],
    target: str,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The connection options to add to `args`, from the inventory.

    `var(name)` returns a templated variable of the task (None when undefined); `target` is the
    host the module is for (the delegated host, else inventory_hostname). Raises
    ConnectionVarError with one line when the password is nowhere to be found.
    """
    environ = os.environ if environ is None else environ
    hostvars = task_vars.get("hostvars") or {}
    groups = task_vars.get("groups") or {}
    proxies = list(groups.get(PROXY_GROUP) or [])
    out: dict[str, Any] = {}
    derived_hosts = False
    if not _defined(args.get("uri")) and args.get("hosts") is None and proxies:
        own = proxy_address(hostvars, target) if target in proxies else None
        if module == FACTS_MODULE and own:
            out["hosts"] = [own]  # this proxy's view, or this host fails
        else:
            others = [proxy_address(hostvars, h) for h in proxies if h != target]
            out["hosts"] = endpoint_address(groups, var) + ([own] if own else []) + others
        derived_hosts = True
    if not _defined(args.get("uri")):
        for option, name in TLS_VARS.items():
            value = var(name)
            if args.get(option) is None and _defined(value):
                out[option] = value
    if module == "milvus_password":  # logs in as `name` with its own passwords, never user/password
        return out
    if _defined(args.get("token")) or _defined(args.get("user")):
        return out
    user = var("milvus_ops_user") or "root"
    if _defined(args.get("password")):
        out["user"] = user  # `-a password=...` alone (what the missing-password message suggests)
        return out
    password = var(PASSWORD_VAR)
    if _defined(password):
        out["user"] = user
        out["password"] = str(password)
    elif derived_hosts and not (environ.get("MILVUS_PASSWORD") or environ.get("MILVUS_TOKEN")):
        raise ConnectionVarError(
            f"{PASSWORD_VAR} is not defined: Milvus's root password comes from it (open the vault"
            " with --ask-vault-pass or --vault-password-file, or pass -a password=... or token=...)"
        )
    return out


def endpoint_address(groups: Mapping[str, Any], var: Callable[[str], Any]) -> list[str]:
    """[VIP:port] of the clients' endpoint (roles/endpoint) when the inventory has one: tried
    first, the proxies after it."""
    vip = var("endpoint_vip")
    if not (groups.get(ENDPOINT_GROUP) and _defined(vip) and str(vip).strip()):
        return []
    port = var("cluster_endpoint_port")
    return [f"{str(vip).strip()}:{int(port) if _defined(port) else DEFAULT_ENDPOINT_PORT}"]


def inventory_proxies(task_vars: Mapping[str, Any]) -> list[str]:
    """host:port of every proxy of the inventory, in group order."""
    hostvars = task_vars.get("hostvars") or {}
    return [proxy_address(hostvars, h) for h in (task_vars.get("groups") or {}).get(PROXY_GROUP) or []]


def port_open(address: str, timeout: float = 3.0) -> bool:
    host, _unused, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def judge(
    info: dict[str, Any],
    expected: list[dict[str, Any]] | None,
    thresholds: dict[str, Any],
    proxies: list[dict[str, Any]],
) -> dict[str, Any]:
    """info with its alerts, proxies, expected and summary, judged as health.yml judges.

    GetMetrics through a proxy lists only that proxy: proxies count as up when their port accepts
    connections (health.yml's wait_for), every other role as GetMetrics lists it.
    """
    nodes = [n for n in info.get("nodes") or [] if n.get("role") != "proxy"]
    nodes += [{"role": "proxy", "address": p["address"]} for p in proxies if not p["failed"]]
    if not proxies:  # nothing checked: the proxy that answered is up
        nodes += [n for n in info.get("nodes") or [] if n.get("role") == "proxy"]
    alerts = milvus_health_alerts({**info, "nodes": nodes}, expected or [], thresholds)
    out = dict(info, alerts=alerts, proxies=proxies, expected=expected)
    out["summary"] = summary(out, nodes)
    return out


def summary(info: dict[str, Any], judged_nodes: list[dict[str, Any]]) -> str:
    """One line: version, proxy, nodes up/expected, balance, alerts."""
    server = info.get("server") or {}
    parts = [f"Milvus {info.get('version', '?')} via {server.get('connected_to', '?')}"]
    expected = info.get("expected")
    if expected:
        unique = {(n.get("role"), str(n.get("address", ""))) for n in judged_nodes}
        registered = Counter((role, _host_of(address)) for role, address in unique)
        want = sum(int(e.get("count", 1)) for e in expected)
        up = sum(min(registered.get((e["role"], str(e["ip"])), 0), int(e.get("count", 1))) for e in expected)
        parts.append(f"{up}/{want} nodes up")
    else:
        parts.append(f"{len(info.get('nodes') or [])} nodes")
    balance = info.get("balance") or {}
    if balance.get("count"):
        parts.append(
            f"balance cv {balance.get('cv')} ({balance['count']} query nodes,"
            f" {balance.get('total')} {balance.get('by', 'rows')})"
        )
    else:
        parts.append("balance n/a (no query node)")
    alerts = info.get("alerts") or []
    parts.append(
        f"{len(alerts)} alert(s): " + ", ".join(a["name"] for a in alerts) if alerts else "no alerts"
    )
    line = "; ".join(parts[1:])
    return f"{parts[0]}: {line}"


class _ControllerRun(ActionBase):
    """Runs a module over the connection it is given (ActionBase's own transfer), nothing else."""

    def run(self, tmp=None, task_vars=None):
        raise NotImplementedError("used through _execute_module only")


class ActionModule(ActionBase):
    """Run the module on the controller, with the inventory's connection as defaults."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = True

    def _var(self, task_vars: Mapping[str, Any], name: str) -> Any:
        """The templated variable, None when undefined (or when it uses an undefined variable)."""
        if name not in task_vars:
            return None
        try:
            return self._templar.template(task_vars[name])
        except AnsibleError as exc:
            if "undefined" in str(exc).lower():
                return None
            raise

    def _target(self, task_vars: Mapping[str, Any]) -> str:
        if self._task.delegate_to:
            return str(self._task.delegate_to)
        return str(task_vars.get("inventory_hostname", ""))

    def _run_on_controller(
        self, module: str, args: dict[str, Any], task_vars: dict[str, Any]
    ) -> dict[str, Any]:
        """_execute_module through a local connection with the controller's python."""
        python = task_vars.get("ansible_playbook_python") or sys.executable
        local_vars = dict(task_vars, ansible_python_interpreter=python)
        if self._task.delegate_to:
            delegated = dict(
                (task_vars.get("ansible_delegated_vars") or {}).get(self._task.delegate_to) or {}
            )
            delegated["ansible_python_interpreter"] = python
            local_vars["ansible_delegated_vars"] = {
                **(task_vars.get("ansible_delegated_vars") or {}),
                self._task.delegate_to: delegated,
            }
        shell = sh.ShellModule()
        shell.set_options()
        connection = self._shared_loader_obj.connection_loader.get(
            "ansible.builtin.local", self._play_context, shell=shell
        )
        connection.set_options()
        # No become: the controller runs the module as the user who runs Ansible.
        connection.set_become_plugin(None)
        # A plain action of its own runs the module over that connection: this action may be
        # wrapped by another execution strategy (Mitogen's replaces the module transfer of the
        # actions it loads), which the local connection taken here does not speak.
        runner = _ControllerRun(self._task, connection, self._play_context, self._loader, self._templar,
                                self._shared_loader_obj)
        # async/poll 0 (the failover drill's probes): the module runs under async_wrapper on the
        # controller, where a later async_status delegated to localhost finds its job.
        wrap_async = bool(self._task.async_val) and not connection.has_native_async
        try:
            result = runner._execute_module(module_name=module, module_args=args, task_vars=local_vars,
                                            wrap_async=wrap_async)
            if not wrap_async:
                runner._remove_tmp_path(connection._shell.tmpdir)
            return result
        finally:
            connection.close()

    def run(self, tmp=None, task_vars=None):
        task_vars = dict(task_vars or {})
        result = super().run(tmp, task_vars)
        module = self._task.resolved_action or self._task.action
        leaf = module.rsplit(".", 1)[-1]
        args = dict(self._task.args)
        try:
            derived = connection_defaults(
                leaf, args, task_vars, lambda n: self._var(task_vars, n), self._target(task_vars)
            )
        except InventoryVarError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        shown = {k: ("(no_log)" if k == "password" else v) for k, v in derived.items()}
        display.vvv(f"vectorops.milvus: {leaf} on the controller ({sys.executable}) with {shown}")
        args = {**derived, **args}
        if leaf == FACTS_MODULE and args.get("expected") is None:
            expected = self._var(task_vars, "milvus_ops_expected")
            if isinstance(expected, list):
                args["expected"] = expected
        result.update(self._run_on_controller(module, args, task_vars))
        if leaf != FACTS_MODULE or result.get("failed") or "ansible_facts" not in result:
            return result
        # Validated by the module already: these only normalise.
        expected = check_expected(args.get("expected"))
        thresholds = check_thresholds(args.get("thresholds"))
        if args.get("uri") is None and args.get("hosts") is not None and "hosts" in derived:
            checked = inventory_proxies(task_vars)
        else:
            checked = [a.split("://", 1)[-1] for a in (args.get("hosts") or [])]
        proxies = [{"address": a, "failed": not port_open(a)} for a in checked]
        facts = judge(result["ansible_facts"]["milvus_cluster"], expected, thresholds, proxies)
        result["ansible_facts"]["milvus_cluster"] = facts
        result["summary"] = facts["summary"]
        result["changed"] = False
        return result
