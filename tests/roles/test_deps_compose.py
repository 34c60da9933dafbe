"""The dependency stacks' compose files (etcd, Kafka, MinIO) as the prod inventory renders them:
valid for Compose v2 (what each role's `validate:` runs on the hosts), one service per stack
with host networking, a restart policy and a healthcheck."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import compose_config, run

HOSTS = ["milvus-01", "milvus-02", "milvus-03"]
STACKS = {"etcd": "etcd", "kafka": "kafka", "object_store": "minio"}
# prod names no Kafka image (none official serves the role): an operator's own, pushed image
OWN_KAFKA = "registry.example.internal/vectorops/kafka:3.9.1"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def render(out, *extra: str):
    minio = out / "minio"  # where MinIO's compose file finds its secrets env file
    minio.mkdir()
    (minio / "secrets.env").write_text("MINIO_ROOT_USER=render\nMINIO_ROOT_PASSWORD=render-secret\n")
    res = run(["ansible-playbook", "-i", "prod", "tests/roles/playbooks/render_deps.yml",
               "-e", f"render_dir={out}", "-e", f"object_store_minio_base_dir={minio}", *extra],
              timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render(tmp_path_factory.mktemp("deps"), "-e", f"kafka_image={OWN_KAFKA}")


def images_of(out, host: str) -> dict[str, str]:
    images = {}
    for role in STACKS:
        services = yaml.safe_load((out / host / f"{role}.compose.yml").read_text())["services"]
        images[role] = next(iter(services.values()))["image"]
    return images


def test_prod_runs_the_official_images_and_the_kafka_image_it_is_given(rendered):
    for host in HOSTS:
        assert images_of(rendered, host) == {
            "etcd": "quay.io/coreos/etcd:v3.5.16",
            "kafka": OWN_KAFKA,
            "object_store": "minio/minio:RELEASE.2024-05-28T17-19-04Z",
        }


def test_digests_pin_the_images(tmp_path):
    out = render(tmp_path, "-e", f"kafka_image={OWN_KAFKA}", "-e", f"etcd_image_digest={DIGEST}",
                 "-e", f"kafka_image_digest={DIGEST}", "-e", f"object_store_minio_image_digest={DIGEST}")
    for host in HOSTS:
        assert images_of(out, host) == {
            "etcd": f"quay.io/coreos/etcd@{DIGEST}",
            "kafka": f"registry.example.internal/vectorops/kafka@{DIGEST}",
            "object_store": f"minio/minio@{DIGEST}",
        }
        for role in STACKS:
            checked = compose_config(out / host / f"{role}.compose.yml")
            assert checked.returncode == 0, (host, role, checked.stderr)


@pytest.mark.parametrize("role", sorted(STACKS))
def test_every_host_gets_a_valid_stack(rendered, role):
    for host in HOSTS:
        path = rendered / host / f"{role}.compose.yml"
        checked = compose_config(path)
        assert checked.returncode == 0, (host, checked.stderr)
        doc = yaml.safe_load(path.read_text())
        assert len(doc["services"]) == 1, doc["services"]
        svc = next(iter(doc["services"].values()))
        assert svc["network_mode"] == "host" and svc["restart"] == "unless-stopped", (host, role)
        assert svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), (host, role)


def test_minio_health_is_checked_with_the_image_own_client(rendered):
    # The official MinIO image dropped curl in RELEASE.2023-11-01 (minio/minio#18389): a curl
    # healthcheck would keep every server unhealthy and every health gate waiting.
    for i, host in enumerate(HOSTS):
        svc = yaml.safe_load((rendered / host / "object_store.compose.yml").read_text())["services"]["minio"]
        assert svc["healthcheck"]["test"] == ["CMD", "mc", "ready", "health"]
        assert svc["environment"]["MC_HOST_health"] == f"http://192.0.2.10{i + 1}:9000"
        assert "curl" not in str(svc)


def test_each_broker_serves_its_metrics_on_its_own_address(rendered, tmp_path):
    def kafka_env(out, host: str) -> dict:
        services = yaml.safe_load((out / host / "kafka.compose.yml").read_text())["services"]
        return services["kafka"]["environment"]

    for host, ip in zip(HOSTS, ("192.0.2.101", "192.0.2.102", "192.0.2.103"), strict=True):
        assert kafka_env(rendered, host)["KAFKA_METRICS_ADDRESS"] == f"{ip}:9308"
    out = render(tmp_path, "-e", f"kafka_image={OWN_KAFKA}", "-e", "kafka_metrics_port=''")
    assert "KAFKA_METRICS_ADDRESS" not in kafka_env(out, "milvus-01")
