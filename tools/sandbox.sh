#!/usr/bin/env bash
# The local three-host sandbox.
#   tools/sandbox.sh up     engine + venv + images, the three hosts, site.yml (the Milvus
#                           cluster, images from the archives), then its health
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
    step "cluster: site.yml"
    ansible-playbook -i "$inv" site.yml
    step "health"
    ansible-playbook -i "$inv" playbooks/health.yml
    echo "sandbox up in $(( $(date +%s) - start )) s; proxies on 10.213.0.11-13:19530 (user root," \
         "password: milvus_root_password in inventories/sandbox/group_vars/all/cluster.yml)"
    ;;
  hosts) hosts_up ;;
  down)
    bash tools/engine.sh
    bash tools/venv.sh
    ansible-playbook -i "$inv" sandbox/playbooks/hosts_down.yml
    ;;
  *) echo "usage: $0 up|hosts|down" >&2; exit 2 ;;
esac
