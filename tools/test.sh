#!/usr/bin/env bash
# The whole test suite (what CI runs), or one tier of it:
#   tools/test.sh [all|lint|unit|roles|integration|sandbox|e2e|pulsar|hosts]
# Sets up what each tier needs on a fresh machine: the venv always; for the sandbox and e2e
# tiers the Docker engine and the offline images too (cached in .cache/, reused when current).
#
# The tests run on their own hosts (inventories/test, inventories/sandbox_pulsar), never on the
# sandbox a user built with `make sandbox` (inventories/sandbox, or VECTOROPS_USER_INVENTORY).
# This machine has 2 cores: a second idle cluster beside the tests' own slows every scenario
# about threefold, so the user's sandbox is stopped (`docker stop` of its containers, no volume
# touched) while the tiers with clusters run, and started again however the run ends. Whatever
# has not stopped after 30 s is killed: every write of etcd, Kafka and the S3 store is in this
# machine's page cache by then (the hosts share one kernel), and Milvus replays from Kafka.
# `hosts` is that guard alone around creating and removing the test hosts (the e2e tier checks it).
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
  # ANSIBLE_HOME in the checkout: a copy of vectorops.milvus installed in ~/.ansible/collections
  # (by ansible-galaxy, or another checkout) would otherwise be linted in place of this one.
  PATH="$PWD/.cache/lint-venv/bin:$PATH" ANSIBLE_HOME="$PWD/.cache/ansible-home" \
    ANSIBLE_COLLECTIONS_PATH="$PWD/collections:$site" ansible-lint
  # Every change comes with a changelog fragment; antsibull-changelog checks their sections and
  # markup, and the release history (changelogs/changelog.yaml).
  .cache/lint-venv/bin/antsibull-changelog lint
  .cache/lint-venv/bin/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
  # ansible-test sanity (validate-modules, ansible-doc, pylint, pep8, ...); waivers with reasons
  # in tests/sanity/ignore-2.19.txt
  bash tools/sanity.sh
}

need_docker() {
  step "engine and images"
  bash tools/engine.sh
  python tools/images.py build --all  # with the Milvus release the upgrade test starts from
}
# The e2e tier opens the monitoring overview page in headless Chromium (Debian's package).
need_browser() {
  command -v chromium >/dev/null 2>&1 && return 0
  echo "[test] installing chromium (the e2e tier's browser)"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
}

user_inv=${VECTOROPS_USER_INVENTORY:-inventories/sandbox}
user_stopped=()
# The user's sandbox: every running container on its network (hosts and S3 endpoint).
pause_user_sandbox() {
  local net
  net=$(sed -n 's/^sandbox_network: *//p' "$user_inv/group_vars/all/sandbox.yml")
  [ -n "$net" ] || return 0
  mapfile -t user_stopped < <(docker ps -q --filter "network=$net")
  [ ${#user_stopped[@]} -gt 0 ] || return 0
  echo "[test] stopping your sandbox ($user_inv: ${#user_stopped[@]} containers on $net) while the tests" \
       "run on their own hosts; its data stays and it starts again when they end"
  trap resume_user_sandbox EXIT
  docker stop -t 30 "${user_stopped[@]}" >/dev/null
}
resume_user_sandbox() {
  [ ${#user_stopped[@]} -gt 0 ] || return 0
  docker start "${user_stopped[@]}" >/dev/null || true
  echo "[test] started your sandbox again ($user_inv: ${#user_stopped[@]} containers); its cluster" \
       "serves again once its processes are healthy"
  user_stopped=()
}
# Known state: hosts left by an interrupted run are removed before the tiers make their own.
fresh_test_hosts() {
  local inv
  for inv in "$@"; do
    SANDBOX_INVENTORY=$inv bash tools/sandbox.sh down >/dev/null
  done
}

case "$tier" in
  lint) lint ;;
  unit) step "unit"; pytest tests/unit ;;
  roles) step "roles"; pytest tests/roles ;;
  integration) step "integration"; pytest tests/integration ;;
  sandbox) need_docker; pause_user_sandbox; step "sandbox"; pytest tests/sandbox ;;
  e2e)
    need_docker; need_browser; pause_user_sandbox; fresh_test_hosts inventories/test inventories/sandbox_pulsar
    step "e2e"; pytest tests/e2e; cat .cache/e2e/steps*.txt ;;
  pulsar)  # the Pulsar scenario alone (`all` runs it too)
    need_docker; pause_user_sandbox; fresh_test_hosts inventories/sandbox_pulsar; step "e2e: pulsar"
    pytest tests/e2e/test_molecule.py -k pulsar; cat .cache/e2e/steps-pulsar.txt ;;
  hosts)
    # VECTOROPS_TEST_HOSTS: the inventory whose hosts are made and removed (inventories/test);
    # the e2e tier's check of this guard names another one, with its own cluster as the user's.
    hosts_inv=${VECTOROPS_TEST_HOSTS:-inventories/test}
    if [ "$(realpath "$hosts_inv")" = "$(realpath "$user_inv")" ]; then
      echo "[test] refusing: the test hosts ($hosts_inv) are the user's sandbox's" >&2; exit 2
    fi
    need_docker; pause_user_sandbox
    step "test hosts: create, then remove ($hosts_inv)"
    SANDBOX_INVENTORY=$hosts_inv bash tools/sandbox.sh hosts
    fresh_test_hosts "$hosts_inv" ;;
  all)
    start=$(date +%s)
    need_docker
    need_browser
    pause_user_sandbox
    fresh_test_hosts inventories/test inventories/sandbox_pulsar
    # Lint, then the Pulsar scenario's cluster, then the sandbox tier (bare test hosts, one
    # container per image check), run beside the unit, roles and integration tiers, which keep
    # one core busy with Ansible start-ups and run no cluster of their own; the two streams take
    # about as long. Lint runs as its own process so that its `set -e` holds. The e2e tier starts
    # once the Pulsar hosts are gone, so two clusters never run at once. Each run prints its own
    # summary; the run fails when any of them failed.
    step "tests: lint, the Pulsar scenario and the sandbox tier beside unit, roles and integration" \
         "(their output: .cache/e2e/lint.log, .cache/e2e/beside.log)"
    status=0
    mkdir -p .cache/e2e
    (
      beside=0
      bash tools/test.sh lint > .cache/e2e/lint.log 2>&1 || beside=$?
      pytest "tests/e2e/test_molecule.py::test_molecule_scenario[pulsar]" tests/sandbox \
        > .cache/e2e/beside.log 2>&1 || beside=$?
      exit "$beside"
    ) &
    beside_pid=$!
    trap 'pkill -P "$beside_pid" 2>/dev/null; kill "$beside_pid" 2>/dev/null || true; resume_user_sandbox' EXIT
    pytest tests/unit tests/roles tests/integration || status=$?
    step "tests: waiting for lint, the Pulsar scenario and the sandbox tier"
    beside_status=0
    wait "$beside_pid" || beside_status=$?
    trap resume_user_sandbox EXIT
    cat .cache/e2e/lint.log .cache/e2e/beside.log
    [ "$beside_status" -eq 0 ] || status=$beside_status
    fresh_test_hosts inventories/sandbox_pulsar  # whatever a failed scenario left
    step "tests: e2e"
    pytest tests/e2e --deselect "tests/e2e/test_molecule.py::test_molecule_scenario[pulsar]" || status=$?
    cat .cache/e2e/steps*.txt 2>/dev/null || true
    echo "whole suite in $(( $(date +%s) - start )) s"
    exit "$status"
    ;;
  *) echo "usage: $0 [all|lint|unit|roles|integration|sandbox|e2e|pulsar|hosts]" >&2; exit 2 ;;
esac
