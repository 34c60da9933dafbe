"""The pulsar role's files as an inventory renders them, and Milvus's wiring to Pulsar."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import compose_config, run

INVENTORY = "inventories/sandbox_pulsar"
IPS = ["10.213.2.11", "10.213.2.12", "10.213.2.13"]


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return dict(pairs)


def render(out, *extra: str) -> dict:
    res = run(["ansible-playbook", "-i", INVENTORY, "tests/roles/playbooks/render_pulsar.yml",
               "-e", f"render_dir={out}", *extra], timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    return {host.name: host for host in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render(tmp_path_factory.mktemp("pulsar"))


def images(folder) -> set[str]:
    return {svc["image"] for svc in yaml.safe_load((folder / "compose.yml").read_text())["services"].values()}


def test_the_sandbox_runs_the_image_its_inventory_names(rendered):
    # the role has no default image: inventories/sandbox_pulsar/group_vars/all/images.yml names it
    for folder in rendered.values():
        assert images(folder) == {"vectorops/pulsar:3.0.7"}


def test_a_digest_pins_the_pulsar_image(tmp_path):
    digest = "sha256:" + "fe" * 32
    for folder in render(tmp_path, "-e", f"pulsar_image_digest={digest}").values():
        assert images(folder) == {f"vectorops/pulsar@{digest}"}


def test_every_host_runs_zookeeper_bookie_and_broker(rendered):
    assert list(rendered) == ["pnode1", "pnode2", "pnode3"]
    for host, folder in rendered.items():
        doc = yaml.safe_load((folder / "compose.yml").read_text())
        assert doc["name"] == "vectorops-pulsar"
        assert set(doc["services"]) == {"zookeeper", "bookie", "broker"}
        for name, svc in doc["services"].items():
            assert svc["network_mode"] == "host" and svc["restart"] == "unless-stopped", (host, name)
            assert svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), (host, name)
            assert svc["command"] == [name]
            assert svc["environment"]["PULSAR_MEM"].startswith("-Xms")


def test_compose_files_pass_docker_compose_config(rendered):
    for folder in rendered.values():
        res = compose_config(folder / "compose.yml")
        assert res.returncode == 0, res.stderr


def test_zookeeper_ensemble_has_every_member_and_distinct_ids(rendered):
    ids = []
    for host, folder in rendered.items():
        conf = properties((folder / "zookeeper.conf").read_text())
        assert [conf[f"server.{i}"] for i in (1, 2, 3)] == [f"{ip}:2888:3888" for ip in IPS]
        assert "ruok" in conf["4lw.commands.whitelist"] and "srvr" in conf["4lw.commands.whitelist"]
        compose = yaml.safe_load((folder / "compose.yml").read_text())
        ids.append(compose["services"]["zookeeper"]["environment"]["ZOOKEEPER_MYID"])
        assert conf["clientPortAddress"] == IPS[int(ids[-1]) - 1], host
    assert ids == ["1", "2", "3"]


def test_brokers_and_bookies_share_the_metadata_and_survive_one_host(rendered):
    zk = ",".join(f"{ip}:2181" for ip in IPS)
    for i, folder in enumerate(rendered.values()):
        broker = properties((folder / "broker.conf").read_text())
        bookie = properties((folder / "bookkeeper.conf").read_text())
        assert broker["metadataStoreUrl"] == broker["configurationMetadataStoreUrl"] == f"zk:{zk}"
        assert broker["bookkeeperMetadataServiceUri"] == bookie["metadataServiceUri"] == \
            f"zk+hierarchical://{zk.replace(',', ';')}/ledgers"
        assert broker["advertisedAddress"] == bookie["advertisedAddress"] == IPS[i]
        quorum = [int(broker[f"managedLedgerDefault{key}"])
                  for key in ("EnsembleSize", "WriteQuorum", "AckQuorum")]
        assert quorum == [2, 2, 2]
        assert int(bookie["nettyMaxFrameSizeBytes"]) > int(broker["maxMessageSize"])


def test_milvus_reaches_every_broker(tmp_path):
    res = run(["ansible-playbook", "-i", INVENTORY, "tests/roles/playbooks/render_milvus.yml",
               "-e", f"render_dir={tmp_path}"], timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    want = "pulsar://" + ",".join(f"{ip}:6650" for ip in IPS)
    files = sorted(tmp_path.glob("*.compose.yml"))
    assert len(files) == 3
    for path in files:
        for name, svc in yaml.safe_load(path.read_text())["services"].items():
            env = svc["environment"]
            assert env["MQ_TYPE"] == "pulsar" and env["PULSAR_ADDRESS"] == want, name
            assert env["PULSAR_WEBPORT"] == "8080" and env["KAFKA_BROKERLIST"] == ""
