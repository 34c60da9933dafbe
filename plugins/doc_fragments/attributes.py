# Copyright (c) vectorops team
# Apache-2.0 (see galaxy.yml)
"""What the attributes of the collection's modules mean, written once."""

from __future__ import annotations


class ModuleDocFragment:
    """Documentation fragments: vectorops.milvus.attributes, .read_only and .facts.

    The first says what each attribute means; a module states its own support (and details) in
    its `attributes:`, or takes them from .read_only or .facts, used together with it.
    """

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode),
      when in diff mode.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second
      invocation indicates no change.
"""

    # A module that only reads the cluster.
    READ_ONLY = r"""
attributes:
  check_mode:
    support: full
    details: It only reads, in check mode as outside it.
  diff_mode:
    support: none
    details: Nothing ever changes.
  idempotent:
    support: full
    details: Never reports a change.
"""

    # A module that returns facts.
    FACTS = r"""
attributes:
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
"""
