#!/usr/bin/python
# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Ansible module: make a Milvus user's password the desired one."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: milvus_password
short_description: Make a Milvus user's password the desired one
description:
  - Connects as O(name) with O(new_password). When that authenticates, nothing changes.
  - Otherwise connects with each of O(old_passwords) in turn (by default the well-known initial
    root password) and changes the password to O(new_password), then checks that it authenticates.
  - The deploy uses it to move C(root) off the initial password right after the proxies come up,
    so a cluster never serves with the well-known one.
  - Fails with one line, changing nothing, when neither password authenticates.
version_added: 0.1.0
author: vectorops team (!UNKNOWN)
extends_documentation_fragment:
  - vectorops.milvus.connection
  - vectorops.milvus.attributes
options:
  name:
    description: The user whose password to set.
    type: str
    default: root
  new_password:
    description: The password the user must have afterwards (at least 6 characters).
    type: str
    required: true
  old_passwords:
    description:
      - Passwords to try, in order, when O(new_password) does not authenticate. Never logged.
      - To rotate a password, list the current one first, then the initial one (the role passes
        C(milvus_root_password_previous) and C(Milvus)).
      - When omitted, the well-known initial root password C(Milvus) is tried.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    details: Reports whether the password would change, changes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Once the password is the desired one, further runs change nothing.
notes:
  - The O(user) and O(password) connection options are not used; O(name) and the passwords are.
"""

EXAMPLES = r"""
- name: Move root off the initial password
  vectorops.milvus.milvus_password:
    hosts: "{{ groups['milvus_proxy'] | map('extract', hostvars, 'cluster_host_ip') | list }}"
    name: root
    new_password: "{{ milvus_root_password }}"
  no_log: true

- name: Rotate root's password (the current one first, then the initial one)
  vectorops.milvus.milvus_password:
    hosts: "{{ groups['milvus_proxy'] | map('extract', hostvars, 'cluster_host_ip') | list }}"
    name: root
    new_password: "{{ milvus_root_password }}"
    old_passwords: ["{{ milvus_root_password_previous }}", Milvus]
  no_log: true
"""

RETURN = r"""
user:
  description: The user whose password was checked.
  returned: always
  type: str
  sample: root
address:
  description: The proxy (host:port) that answered.
  returned: always
  type: str
  sample: 10.213.0.11:19530
"""

from ansible_collections.vectorops.milvus.plugins.module_utils._milvus import MilvusError, one_line
from ansible_collections.vectorops.milvus.plugins.module_utils._module import MilvusModule

INITIAL_PASSWORD = "Milvus"  # root's password on a new Milvus


def _log_in(module: MilvusModule, user: str, password: str) -> str:
    """Connect as user/password: "" when that authenticates (module.milvus is then the
    connection), else the reason the password was refused."""
    try:
        module.connect({**module.params, "user": user, "password": password, "token": None})
    except MilvusError as exc:
        if "authentication failed" in str(exc):
            return str(exc)
        raise
    return ""


def main() -> None:
    module = MilvusModule(
        argument_spec={
            "name": {"type": "str", "default": "root"},
            "new_password": {"type": "str", "required": True, "no_log": True},
            # No default here: Ansible would mask a defaulted no_log value ("Milvus") in every message.
            "old_passwords": {"type": "list", "elements": "str", "no_log": True},
        },
        supports_check_mode=True,
        login=False,  # logs in as `name` with the passwords above, never as user/password/token
    )
    params = module.params
    user, new = params["name"], params["new_password"]
    if len(new) < 6:
        module.fail_json(msg="new_password must have at least 6 characters (Milvus's minimum)")
    try:
        if not _log_in(module, user, new):
            module.exit_json(changed=False, user=user, address=module.milvus.address)
        olds = params["old_passwords"] if params["old_passwords"] is not None else [INITIAL_PASSWORD]
        for old in [o for o in olds if o]:
            if _log_in(module, user, old):
                continue
            address = module.milvus.address
            if not module.check_mode:
                try:
                    module.milvus.client.update_password(user, old, new)
                except Exception as exc:  # noqa: BLE001 - reported as one line
                    module.fail_json(
                        msg=f"changing the password of {user} at {address} failed: {one_line(exc)}")
                reason = _log_in(module, user, new)
                if reason:
                    module.fail_json(msg=f"the new password of {user} does not authenticate: {reason}")
            module.exit_json(changed=True, user=user, address=address)
        module.fail_json(msg=f"neither the desired password nor any of old_passwords authenticates {user}")
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        module.fail(exc)
    finally:
        module.close()


if __name__ == "__main__":
    main()
