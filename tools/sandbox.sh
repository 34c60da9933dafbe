#!/usr/bin/env bash
# The local three-host sandbox.
#   tools/sandbox.sh up     engine + venv + images, the three hosts, site.yml (the Milvus
#                           cluster, images from the archives), then its health
#   tools/sandbox.sh hosts  only the three hosts
#   tools/sandbox.sh down   remove containers, volumes and network (the image cache stays): the
#                           only command that deletes a sandbox's data
# SANDBOX_INVENTORY names another sandbox inventory: the test suite runs its own hosts
# (inventories/test) and never the user's (inventories/sandbox, the default).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
inv=${SANDBOX_INVENTORY:-inventories/sandbox}
step() { echo; echo "== $* ($(date +%T))"; }

hosts_up() {
  bash tools/engine.sh
  bash tools/venv.sh
  step "images"
  # The Pulsar image only for an inventory with Pulsar hosts (the Kafka sandbox never runs it).
  local also=()
  if ansible-inventory -i "$inv" --list 2>/dev/null \
      | python -c 'import json, sys; sys.exit(0 if json.load(sys.stdin).get("pulsar", {}).get("hosts") else 1)'; then
    also=(--also pulsar)
  fi
  python tools/images.py build "${also[@]}"
  step "sandbox hosts"
  ansible-playbook -i "$inv" sandbox/playbooks/hosts_up.yml
}

case "${1:-up}" in
  up)
    start=$(date +%s)
    hosts_up
    step "cluster: site.yml"
    ansible-playbook -i "$inv" site.yml
    step "health"
    ansible-playbook -i "$inv" playbooks/health.yml
    ansible-inventory -i "$inv" --list 2>/dev/null | python tools/sandbox_addresses.py "$inv"
    prefix=$(sed -n 's/^sandbox_container_prefix: *//p' "$inv/group_vars/all/sandbox.yml")
    echo "sandbox up in $(( $(date +%s) - start )) s; alerts: docker logs ${prefix}alerts"
    ;;
  hosts) hosts_up ;;
  down)
    echo "[sandbox] removing the sandbox of $inv: its host containers, their volumes (every" \
         "collection stored in it) and its network"
    bash tools/engine.sh
    bash tools/venv.sh
    ansible-playbook -i "$inv" sandbox/playbooks/hosts_down.yml
    ;;
  *) echo "usage: $0 up|hosts|down" >&2; exit 2 ;;
esac
