#!/usr/bin/env bash
# The cost of Prometheus's scrapes on the cluster (issue #17's figure): search QPS and p99 of
# playbooks/loadtest.yml with Prometheus stopped and running, alternately, in one run:
#   bench/scrape_cost.sh [ROUNDS] [SECONDS]      (default: 2 rounds of 30 s searches each way)
# Prometheus (roles/monitoring, on the monitoring group's hosts) is stopped with docker stop
# for the runs without it and started again however the script ends. Each load test inserts
# 20000 rows into a scratch collection, then searches for SECONDS s, and drops it.
# INVENTORY selects the inventory (default: the sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2} seconds=${2:-30}
inv=${INVENTORY:-inventories/sandbox}
bin=.venv/bin
container=vectorops-monitoring-prometheus-1
log=$(mktemp -d)

prometheus() {  # start | stop, on every monitoring host
  "$bin/ansible" monitoring -i "$inv" -m ansible.builtin.command -a "docker $1 $container" >"$log/$1.log" 2>&1 \
    || { echo "docker $1 $container failed, see $log/$1.log" >&2; exit 1; }
}
trap 'prometheus start' EXIT

loadtest() {  # label: one load test, its search QPS and p99 as a line
  ANSIBLE_STDOUT_CALLBACK=json "$bin/ansible-playbook" playbooks/loadtest.yml -i "$inv" \
    -e loadtest_collection=vectorops_scrape_cost -e loadtest_insert_batches=20 -e loadtest_searches=1000000 \
    -e "loadtest_duration=$seconds" >"$log/$1.json" 2>"$log/$1.err" \
    || { echo "the load test failed, see $log/$1.json" >&2; exit 1; }
  sed -n '/^{/,$p' "$log/$1.json" | jq -r --arg label "$1" '[.plays[].tasks[] | select(.task.name == "Run the load test")
      | .hosts[]][0].search | "\($label)\tqps \(.qps)\tp99_ms \(.latency_ms.p99)\tsearches \(.requests)"'
}

for round in $(seq 1 "$rounds"); do
  prometheus stop
  loadtest "round $round, Prometheus stopped"
  prometheus start
  loadtest "round $round, Prometheus running"
done
