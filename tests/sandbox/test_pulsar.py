"""The Pulsar image in plain containers: a standalone Pulsar passes its health check and carries
messages from a producer to a consumer, and Milvus 2.3.5 runs on it (mq.type pulsar)."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct

import numpy as np
import pytest
import requests

from tests.sandbox.conftest import container, docker, wait_until

pytestmark = pytest.mark.sandbox
PULSAR_IP, S3_IP, MILVUS_IP = "10.213.2.140", "10.213.2.141", "10.213.2.142"
S3_KEYS = {"S3_ACCESS_KEY": "pcheck-access", "S3_SECRET_KEY": "pcheck-secret-123"}


class WebSocket:
    """The least of RFC 6455 a test needs: a client handshake and unfragmented text frames."""

    def __init__(self, host: str, port: int, path: str, timeout: float = 30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += self._read(1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise AssertionError(f"websocket handshake refused: {head[:200]!r}")

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("websocket closed")
            data += chunk
        return data

    def send(self, text: str) -> None:
        payload, mask = text.encode(), os.urandom(4)
        size = len(payload)
        length = bytes([0x80 | size]) if size < 126 else struct.pack("!BH", 0x80 | 126, size)
        head = bytes([0x81]) + length
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self) -> str:
        while True:
            first, second = self._read(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read(8))[0]
            data = self._read(size)
            if first & 0x0F == 0x1:
                return data.decode()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def pulsar(images, pulsar_probe_network):
    """A standalone Pulsar (ZooKeeper, bookie, broker, WebSocket API) at PULSAR_IP."""
    env = {"PULSAR_ADVERTISED_ADDRESS": PULSAR_IP, "PULSAR_CFG_webSocketServiceEnabled": "true",
           "PULSAR_MEM": "-Xms256m -Xmx512m -XX:MaxDirectMemorySize=512m"}
    with container(images["pulsar"]["image"], PULSAR_IP, env=env, network=pulsar_probe_network,
                   prefix="vectorops-pcheck-") as name:
        def healthy():
            try:
                res = requests.get(f"http://{PULSAR_IP}:8080/admin/v2/brokers/health", timeout=10)
            except requests.RequestException:
                return False
            return res.status_code == 200 and res.text == "ok"

        wait_until(healthy, 240, interval=3, what="Pulsar standalone health check")
        yield name


def test_pulsar_standalone_carries_messages(pulsar):
    topic = "persistent/public/default/check"
    consumer = WebSocket(PULSAR_IP, 8080, f"/ws/v2/consumer/{topic}/check-sub?subscriptionType=Exclusive")
    producer = WebSocket(PULSAR_IP, 8080, f"/ws/v2/producer/{topic}")
    sent = [f"message-{i}" for i in range(50)]
    try:
        for i, text in enumerate(sent):
            payload = base64.b64encode(text.encode()).decode()
            producer.send(json.dumps({"payload": payload, "context": str(i)}))
            assert json.loads(producer.recv())["result"] == "ok"
        got = []
        for _unused in sent:
            msg = json.loads(consumer.recv())
            got.append(base64.b64decode(msg["payload"]).decode())
            consumer.send(json.dumps({"messageId": msg["messageId"]}))
        assert got == sent
    finally:
        producer.close()
        consumer.close()
    version = docker("exec", pulsar, "sh", "-c", "ls /opt/pulsar/lib | grep '^pulsar-broker-[0-9]'").stdout
    assert version.strip().startswith("pulsar-broker-3.0.")


def test_milvus_runs_on_pulsar(images, pulsar, pulsar_probe_network):
    from pymilvus import DataType, MilvusClient

    env = {"MQ_TYPE": "pulsar", "PULSAR_ADDRESS": f"pulsar://{PULSAR_IP}:6650", "PULSAR_WEBPORT": "8080",
           "COMMON_STORAGETYPE": "minio", "MINIO_ADDRESS": S3_IP, "MINIO_PORT": "9000",
           "MINIO_ACCESSKEYID": S3_KEYS["S3_ACCESS_KEY"], "MINIO_SECRETACCESSKEY": S3_KEYS["S3_SECRET_KEY"],
           "MINIO_BUCKETNAME": "pulsar-check"}
    with container(images["s3"]["image"], S3_IP, env={**S3_KEYS, "S3_ADDR": "0.0.0.0:9000"},
                   network=pulsar_probe_network, prefix="vectorops-pcheck-"), \
            container(images["milvus"]["image"], MILVUS_IP, env=env, network=pulsar_probe_network,
                      prefix="vectorops-pcheck-") as name:
        def healthy():
            res = docker("exec", name, "curl", "-sf", "http://127.0.0.1:9091/healthz", check=False)
            return res.stdout.strip() == "OK"

        wait_until(healthy, 240, interval=3, what="Milvus on Pulsar /healthz OK")
        admin = f"http://{PULSAR_IP}:8080/admin/v2"
        topics = requests.get(f"{admin}/persistent/public/default", timeout=10).json()
        assert any("rootcoord-dml" in t for t in topics), topics
        client = MilvusClient(uri=f"http://{MILVUS_IP}:19530", timeout=60)
        try:
            schema = client.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vec", DataType.FLOAT_VECTOR, dim=32)
            client.create_collection("pcheck", schema=schema)
            vectors = np.random.default_rng(5).random((2000, 32), dtype=np.float32)
            client.insert("pcheck", [{"id": i, "vec": v.tolist()} for i, v in enumerate(vectors)])
            client.flush("pcheck")
            index = client.prepare_index_params()
            index.add_index("vec", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 32})
            client.create_index("pcheck", index)
            client.load_collection("pcheck")
            sample = [0, 7, 999, 1500, 1999]
            hits = client.search("pcheck", data=[vectors[i].tolist() for i in sample], limit=1,
                                 anns_field="vec",
                                 search_params={"metric_type": "L2", "params": {"nprobe": 32}})
            assert [h[0]["id"] for h in hits] == sample
            assert client.query("pcheck", filter="", output_fields=["count(*)"])[0]["count(*)"] == 2000
        finally:
            client.close()
