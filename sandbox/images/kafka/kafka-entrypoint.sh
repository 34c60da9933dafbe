#!/bin/sh
# Starts one KRaft broker+controller. The configuration is /etc/kafka/server.properties when
# mounted (what the kafka role does), else built from KAFKA_CFG_* variables
# (KAFKA_CFG_NODE_ID=1 -> node.id=1); with neither it runs a single-node cluster.
# The storage is formatted once with KAFKA_CLUSTER_ID (a fixed id per cluster).
set -eu
conf=/etc/kafka/server.properties
if [ ! -f "$conf" ]; then
  conf=/opt/kafka/config/server.properties
  {
    echo "process.roles=broker,controller"
    echo "node.id=1"
    echo "controller.quorum.voters=1@127.0.0.1:9093"
    echo "listeners=PLAINTEXT://:9092,CONTROLLER://:9093"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:9092"
    echo "controller.listener.names=CONTROLLER"
    echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    echo "log.dirs=/var/lib/kafka/data"
    echo "offsets.topic.replication.factor=1"
    echo "transaction.state.log.replication.factor=1"
    echo "transaction.state.log.min.isr=1"
    env | sed -n 's/^KAFKA_CFG_\([^=]*\)=\(.*\)$/\1 \2/p' | while read -r key value; do
      echo "$(echo "$key" | tr 'A-Z_' 'a-z.')=$value"
    done
  } > "$conf"
fi
# A cluster id is 16 bytes, base64url without padding (22 characters).
: "${KAFKA_CLUSTER_ID:=dmVjdG9yb3BzLWthZmthMA}"
logdirs=$(sed -n 's/^log\.dirs=//p' "$conf" | tail -n 1)
if [ ! -f "${logdirs%%,*}/meta.properties" ]; then
  kafka-run-class kafka.tools.StorageTool format --ignore-formatted -t "$KAFKA_CLUSTER_ID" -c "$conf"
fi
export KAFKA_LOG4J_CONFIG=/opt/kafka/config/log4j.properties
# The broker alone (not the tools run with docker exec) serves its metrics, on
# KAFKA_METRICS_ADDRESS (host:port), through the Prometheus JMX exporter's java agent.
if [ -n "${KAFKA_METRICS_ADDRESS:-}" ]; then
  export KAFKA_JVM_AGENT="-javaagent:/opt/kafka/jmx/jmx_prometheus_javaagent.jar=${KAFKA_METRICS_ADDRESS}:/opt/kafka/jmx/kafka.yml"
fi
exec kafka-run-class kafka.Kafka "$conf"
