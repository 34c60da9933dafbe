# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""Attributes shared by the preflight's port check modules (port_listener, port_reach), used
together with vectorops.milvus.attributes (what each attribute means)."""

from __future__ import annotations


class ModuleDocFragment:
    """Documentation fragment: vectorops.milvus.port_check."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    details: Runs the same way in check mode; nothing is left behind on the host.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never reports a change.
"""
