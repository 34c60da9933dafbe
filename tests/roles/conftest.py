"""Roles tier: the roles and playbooks run by ansible-playbook on this machine, with no host and no
Milvus: compose files rendered and checked by `docker compose config`, the preflight's
refusals, the collection built and documented. The collection is importable as
ansible_collections.vectorops.milvus (tests/conftest.py)."""
