"""Each local image really starts its service in a plain container, and serves a client."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import VENV_BIN, run
from tests.sandbox.conftest import container, docker, wait_until

pytestmark = pytest.mark.sandbox


def test_every_archive_is_recorded(images):
    # milvus-2.3.4: the release the e2e cluster starts on, for the upgrade test
    assert set(images) == {"base", "host", "etcd", "monitoring", "endpoint", "s3", "kafka", "pulsar",
                           "milvus", "milvus-2.3.4"}
    assert images["milvus-2.3.4"]["image"] == "vectorops/milvus:v2.3.4"
    for entry in images.values():
        assert entry["bytes"] > 10 * 2**20
        assert len(entry["recipe"]) == 64


def test_etcd_serves_a_healthy_member(images, probe_network):
    ip = "10.213.1.10"
    env = {"ETCD_NAME": "check", "ETCD_ADVERTISE_CLIENT_URLS": f"http://{ip}:2379",
           "ETCD_LISTEN_PEER_URLS": "http://0.0.0.0:2380",
           "ETCD_INITIAL_ADVERTISE_PEER_URLS": f"http://{ip}:2380",
           "ETCD_INITIAL_CLUSTER": f"check=http://{ip}:2380"}
    with container(images["etcd"]["image"], ip, env=env) as name:
        def healthy():
            res = docker("exec", name, "etcdctl", f"--endpoints=http://{ip}:2379", "endpoint", "health",
                         check=False)
            return "is healthy" in res.stdout + res.stderr

        wait_until(healthy, 60, what="etcd endpoint health")
        docker("exec", name, "etcdctl", f"--endpoints=http://{ip}:2379", "put", "/check", "ok")
        got = docker("exec", name, "etcdctl", f"--endpoints=http://{ip}:2379", "get", "--print-value-only",
                     "/check")
        assert got.stdout.strip() == "ok"
        version = docker("exec", name, "etcd", "--version").stdout
        assert "etcd Version: 3.5." in version


def test_s3_server_takes_a_put_and_a_get(images, probe_network, tmp_path):
    ip = "10.213.1.11"
    env = {"S3_ACCESS_KEY": "check-access", "S3_SECRET_KEY": "check-secret-123"}
    remote = (f":s3,provider=Other,endpoint='http://{ip}:9000',access_key_id=check-access,"
              "secret_access_key=check-secret-123:")
    rclone = str(VENV_BIN / "rclone")
    payload = tmp_path / "object.bin"
    payload.write_bytes(np.random.default_rng(7).bytes(3 * 2**20))
    with container(images["s3"]["image"], ip, env=env):
        wait_until(lambda: run([rclone, "lsd", remote], timeout=20).returncode == 0, 60,
                   what="S3 listing")
        run([rclone, "mkdir", remote + "bucket"], timeout=30, check=True)
        run([rclone, "copyto", str(payload), remote + "bucket/dir/object.bin"], timeout=60, check=True)
        back = tmp_path / "back.bin"
        run([rclone, "copyto", remote + "bucket/dir/object.bin", str(back)], timeout=60, check=True)
        assert back.read_bytes() == payload.read_bytes()
        wrong = remote.replace("check-secret-123", "not-the-secret")
        assert run([rclone, "--retries", "1", "lsd", wrong + "bucket"], timeout=30).returncode != 0


def test_s3_server_refuses_to_start_without_keys(images, probe_network):
    res = docker("run", "--rm", images["s3"]["image"], check=False, timeout=60)
    assert res.returncode != 0
    assert "S3_ACCESS_KEY is required" in res.stderr


def test_kafka_accepts_a_produce_and_a_consume(images, probe_network):
    ip = "10.213.1.12"
    env = {"KAFKA_CFG_ADVERTISED_LISTENERS": f"PLAINTEXT://{ip}:9092",
           "KAFKA_CFG_NUM_PARTITIONS": "2", "KAFKA_METRICS_ADDRESS": f"{ip}:9308"}
    with container(images["kafka"]["image"], ip, env=env) as name:
        def topics():
            res = docker("exec", name, "kafka-run-class", "org.apache.kafka.tools.TopicCommand",
                         "--bootstrap-server", f"{ip}:9092", "--list", check=False, timeout=60)
            return res.returncode == 0

        wait_until(topics, 120, interval=3, what="Kafka broker answering")
        docker("exec", name, "kafka-run-class", "org.apache.kafka.tools.TopicCommand",
               "--bootstrap-server", f"{ip}:9092", "--create", "--topic", "check", "--partitions", "2",
               timeout=60)
        messages = "\n".join(f"message-{i}" for i in range(50)) + "\n"
        res = run(["docker", "exec", "-i", name, "kafka-run-class", "kafka.tools.ConsoleProducer",
                   "--bootstrap-server", f"{ip}:9092", "--topic", "check"], input=messages, timeout=90)
        assert res.returncode == 0, res.stderr
        res = docker("exec", name, "kafka-run-class", "org.apache.kafka.tools.consumer.ConsoleConsumer",
                     "--bootstrap-server", f"{ip}:9092", "--topic", "check", "--from-beginning",
                     "--max-messages", "50", "--timeout-ms", "30000", timeout=90)
        assert sorted(res.stdout.split()) == sorted(messages.split())
        version = docker("exec", name, "sh", "-c", "ls /opt/kafka/libs | grep '^kafka_2.13-'").stdout
        assert version.strip().startswith("kafka_2.13-3.9.")
        # The broker serves its metrics through the JMX exporter's agent (the tools run above
        # with docker exec did not load it: their port would clash); the agent is not on the
        # broker's classpath.
        import urllib.request

        with urllib.request.urlopen(f"http://{ip}:9308/metrics", timeout=10) as answer:  # noqa: S310
            metrics = answer.read().decode()
        found = {line.split(" ")[0] for line in metrics.splitlines() if line.startswith("kafka_")}
        assert {"kafka_server_replicamanager_underreplicatedpartitions",
                "kafka_controller_kafkacontroller_activecontrollercount",
                "kafka_controller_kafkacontroller_offlinepartitionscount"} <= found, sorted(found)
        libs = docker("exec", name, "ls", "/opt/kafka/libs").stdout
        assert "jmx_prometheus" not in libs


def test_milvus_standalone_answers_insert_and_search(images, probe_network):
    from pymilvus import DataType, MilvusClient

    ip = "10.213.1.13"
    with container(images["milvus"]["image"], ip) as name:
        def healthy():
            res = docker("exec", name, "curl", "-sf", "http://127.0.0.1:9091/healthz", check=False)
            return res.stdout.strip() == "OK"

        wait_until(healthy, 180, interval=3, what="Milvus /healthz OK")
        client = MilvusClient(uri=f"http://{ip}:19530", timeout=30)
        try:
            assert client.get_server_version().startswith("v2.3.5")
            schema = client.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vec", DataType.FLOAT_VECTOR, dim=16)
            index = client.prepare_index_params()
            index.add_index("vec", index_type="FLAT", metric_type="L2")
            client.create_collection("check", schema=schema, index_params=index)
            rng = np.random.default_rng(11)
            vectors = rng.random((2000, 16), dtype=np.float32)
            client.insert("check", [{"id": i, "vec": v.tolist()} for i, v in enumerate(vectors)])
            client.flush("check")
            client.load_collection("check")
            sample = [3, 500, 1999]
            hits = client.search("check", data=[vectors[i].tolist() for i in sample], limit=1,
                                 anns_field="vec", search_params={"metric_type": "L2"})
            assert [h[0]["id"] for h in hits] == sample
            assert client.query("check", filter="id >= 0", output_fields=["count(*)"])[0]["count(*)"] == 2000
        finally:
            client.close()
