#!/usr/bin/env bash
# The whole test suite (what CI runs), or one tier of it:
#   tools/test.sh [all|lint|unit|integration|sandbox|e2e|pulsar]
# Sets up what each tier needs on a fresh machine: the venv always; for the sandbox and e2e
# tiers the Docker engine and the offline images too (cached in .cache/, reused when current).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" PYTHONDONTWRITEBYTECODE=1
tier=${1:-all}
step() { echo; echo "== $* ($(date +%T))"; }

bash tools/venv.sh
bash tools/compose-cli.sh  # `docker compose config` of the rendered compose files (unit tier)

lint() {
  step "lint"
  # shellcheck disable=SC2046
  ruff check $(ls -d plugins tests tools bench molecule 2>/dev/null)
  # ansible-lint (.ansible-lint: production profile, offline) from its own venv, first on PATH
  # so its ansible-playbook runs the syntax checks; the collections the playbooks use come from
  # the `ansible` package in .venv, vectorops.milvus from ./collections (the checkout).
  bash tools/lint-venv.sh
  local site
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  PATH="$PWD/.cache/lint-venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$PWD/collections:$site" ansible-lint
}

need_docker() {
  step "engine and images"
  bash tools/engine.sh
  python tools/images.py build
}

case "$tier" in
  lint) lint ;;
  unit) step "unit"; pytest tests/unit ;;
  integration) step "integration"; pytest tests/integration ;;
  sandbox) need_docker; step "sandbox"; pytest tests/sandbox ;;
  e2e) need_docker; step "e2e"; pytest tests/e2e; cat .cache/e2e/steps*.txt ;;
  pulsar)  # the Pulsar scenario alone (`all` runs it too)
    need_docker; step "e2e: pulsar"
    pytest tests/e2e/test_molecule.py -k pulsar; cat .cache/e2e/steps-pulsar.txt ;;
  all)
    start=$(date +%s)
    lint
    need_docker
    step "tests: unit, integration, sandbox, e2e"
    # One pytest run for every tier, in that order, so its summary line counts the whole suite.
    status=0
    pytest tests/unit tests/integration tests/sandbox tests/e2e || status=$?
    cat .cache/e2e/steps*.txt 2>/dev/null || true
    echo "whole suite in $(( $(date +%s) - start )) s"
    exit "$status"
    ;;
  *) echo "usage: $0 [all|lint|unit|integration|sandbox|e2e|pulsar]" >&2; exit 2 ;;
esac
