#!/usr/bin/env bash
# Failover windows under given failure-detection settings (prints the drill's figures):
#   bench/failover_settings.sh SESSION_TTL CHECK_INTERVAL HOST COLLECTION [COLLECTION...]
# Converges the cluster with milvus_session_ttl / milvus_check_node_session_interval set
# (every Milvus process restarts, one host at a time), runs playbooks/drill_failover.yml on
# HOST with one search probe per collection, then converges back to the inventory's settings
# (also when the drill fails). INVENTORY selects the inventory (default: the sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n 2,3p "$0"; exit 2; }
ttl=$1 interval=$2 host=$3
shift 3
inv=${INVENTORY:-inventories/sandbox}
bin=.venv/bin
collections=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
settings=(-e "milvus_session_ttl=$ttl" -e "milvus_check_node_session_interval=$interval")
log=$(mktemp -d)

restore() {
  echo "converging back to the inventory's settings" >&2
  "$bin/ansible-playbook" playbooks/site.yml -i "$inv" >"$log/restore.log" 2>&1 \
    || { echo "restore failed, see $log/restore.log" >&2; exit 1; }
}
trap restore EXIT

echo "converging with session ttl $ttl s, node session check interval $interval s" >&2
start=$(date +%s)
"$bin/ansible-playbook" playbooks/site.yml -i "$inv" "${settings[@]}" >"$log/converge.log" 2>&1 \
  || { echo "converge failed, see $log/converge.log" >&2; exit 1; }
echo "converged in $(( $(date +%s) - start )) s; drilling $host" >&2
ANSIBLE_STDOUT_CALLBACK=json "$bin/ansible-playbook" playbooks/drill_failover.yml -i "$inv" "${settings[@]}" \
  -e "drill_host=$host" -e "{\"drill_collections\": $collections}" >"$log/drill.json" 2>"$log/drill.err" \
  || echo "the drill failed, see $log/drill.json" >&2
sed -n '/^{/,$p' "$log/drill.json" | jq '[.plays[].tasks[] | select(.task.name == "Publish the drill'"'"'s figures") | .hosts[].ansible_facts.drill_result]
    | first | (.collections |= map(del(.outages)))'
