#!/usr/bin/env bash
# The local three-host sandbox.
#   tools/sandbox.sh up     engine + venv + images, then the three hosts (and, once site.yml
#                           deploys Milvus, the cluster and its health)
#   tools/sandbox.sh hosts  only the three hosts
#   tools/sandbox.sh down   remove containers, volumes and network (the image cache stays)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
inv=inventories/sandbox
step() { echo; echo "== $* ($(date +%T))"; }

hosts_up() {
  bash tools/engine.sh
  bash tools/venv.sh
  step "images"
  python tools/images.py build
  step "sandbox hosts"
  ansible-playbook -i "$inv" sandbox/playbooks/hosts_up.yml
}

case "${1:-up}" in
  up)
    start=$(date +%s)
    hosts_up
    step "hosts"
    ansible sandbox_hosts -i "$inv" -m ansible.builtin.command -a 'systemctl is-system-running' -o || true
    echo "sandbox up in $(( $(date +%s) - start )) s"
    ;;
  hosts) hosts_up ;;
  down)
    bash tools/engine.sh
    bash tools/venv.sh
    ansible-playbook -i "$inv" sandbox/playbooks/hosts_down.yml
    ;;
  *) echo "usage: $0 up|hosts|down" >&2; exit 2 ;;
esac
