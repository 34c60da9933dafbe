"""Roles tier: the roles and playbooks run by ansible-playbook on this machine, with no host and no
Milvus: compose files rendered and checked by `docker compose config`, the preflight's
refusals, the collection built and documented. The collection is importable as
ansible_collections.vectorops.milvus here too (the filters' own tests)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))
