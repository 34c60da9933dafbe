#!/bin/sh
# Starts one Pulsar process, chosen by the first argument, with its configuration file
# /etc/pulsar/<process>.conf (mounted by the pulsar role):
#   zookeeper   a ZooKeeper ensemble member (myid from ZOOKEEPER_MYID, written to dataDir)
#   bookie      a BookKeeper bookie
#   broker      a Pulsar broker
#   init-metadata CLUSTER ZK WEB_URL BROKER_URL   the cluster's metadata, once per cluster
#   standalone  ZooKeeper, a bookie and a broker in one process (tests); without a mounted
#               standalone.conf it is written from PULSAR_ADVERTISED_ADDRESS and PULSAR_CFG_*
#               variables (PULSAR_CFG_maxMessageSize=1048576 -> maxMessageSize=1048576)
#   anything else runs as a command (pulsar-run CLASS ..., pulsar-4lw ruok, bash)
set -eu
export PULSAR_LOG_CONF=/opt/pulsar/conf/log4j2.properties
conf="/etc/pulsar/${1:-}.conf"
case "${1:-}" in
  zookeeper)
    datadir=$(sed -n 's/^dataDir=//p' "$conf" | tail -n 1)
    mkdir -p "$datadir"
    if [ -n "${ZOOKEEPER_MYID:-}" ]; then echo "$ZOOKEEPER_MYID" > "$datadir/myid"; fi
    exec pulsar-run org.apache.zookeeper.server.quorum.QuorumPeerMain "$conf" ;;
  bookie)
    exec pulsar-run org.apache.bookkeeper.server.Main --conf "$conf" ;;
  broker)
    exec pulsar-run org.apache.pulsar.PulsarBrokerStarter --broker-conf "$conf" ;;
  init-metadata)
    [ $# -eq 5 ] || { echo "usage: init-metadata CLUSTER ZK WEB_URL BROKER_URL" >&2; exit 2; }
    export PULSAR_LOG_CONF=/opt/pulsar/conf/log4j2-tools.properties
    exec pulsar-run org.apache.pulsar.PulsarClusterMetadataSetup --cluster "$2" \
      --metadata-store "zk:$3" --configuration-metadata-store "zk:$3" \
      --web-service-url "$4" --broker-service-url "$5" ;;
  standalone)
    if [ ! -f "$conf" ]; then
      conf=/opt/pulsar/conf/standalone.conf
      addr=${PULSAR_ADVERTISED_ADDRESS:-$(hostname -i | cut -d' ' -f1)}
      {
        echo "clusterName=standalone"
        echo "advertisedAddress=$addr"
        echo "managedLedgerDefaultEnsembleSize=1"
        echo "managedLedgerDefaultWriteQuorum=1"
        echo "managedLedgerDefaultAckQuorum=1"
        env | sed -n 's/^PULSAR_CFG_//p'
      } > "$conf"
    fi
    exec pulsar-run org.apache.pulsar.PulsarStandaloneStarter --config "$conf" \
      --no-functions-worker --no-stream-storage ;;
  *)
    exec "$@" ;;
esac
