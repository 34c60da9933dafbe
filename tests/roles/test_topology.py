"""Topology filters and the Milvus compose files they render, for every release line."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from plugins.filter.topology import (
    image_ref,
    kafka_cluster_id,
    milvus_env,
    milvus_host_services,
    milvus_release_line,
    milvus_session_counts,
)
from tests.conftest import ROOT, compose_config, run

TOPOLOGIES = yaml.safe_load((ROOT / "roles/milvus/vars/main.yml").read_text())["_milvus_topologies"]
PORTS = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())["cluster_milvus_ports"]


@pytest.mark.parametrize(("version", "line"), [("v2.3.5", "2.3"), ("2.4.17", "2.4"), ("2.6.0-rc1", "2.6")])
def test_release_line(version, line):
    assert milvus_release_line(version) == line


def test_release_line_rejects_garbage():
    with pytest.raises(AnsibleFilterError):
        milvus_release_line("latest")


def test_env_flattens_nested_keys_lists_and_booleans():
    env = milvus_env({"etcd": {"endpoints": ["a:2379", "b:2379"], "use": {"embed": False}},
                      "queryNode": {"gracefulTime": 5}, "minio": {"rootPath": None}})
    assert env == {"ETCD_ENDPOINTS": "a:2379,b:2379", "ETCD_USE_EMBED": "false",
                   "QUERYNODE_GRACEFULTIME": "5", "MINIO_ROOTPATH": ""}


@pytest.mark.parametrize("line", sorted(TOPOLOGIES))
@pytest.mark.parametrize("mode", ["mixture", "separate"])
def test_every_line_places_a_full_host_without_port_collisions(line, mode):
    topo = TOPOLOGIES[line]
    placement = {"coordinator": 1, **{w: (1 if w == "proxy" else 3) for w in topo["workers"]}}
    services = milvus_host_services(placement, "10.0.0.5", topo, PORTS, mode)
    names = [s["name"] for s in services]
    assert len(names) == len(set(names))
    metrics = [s["ports"]["metrics"] for s in services]
    assert len(metrics) == len(set(metrics))
    for svc in services:
        assert svc["healthz"].endswith(f":{svc['ports']['metrics']}/healthz")
        assert svc["command"][:2] == ["milvus", "run"]
    if line == "2.6":
        assert "mixcoord" in names and not any(n.startswith("indexnode") for n in names)
        assert any(n.startswith("streamingnode") for n in names)
    elif mode == "separate":
        assert {"rootcoord", "querycoord", "datacoord"} <= set(names)
    else:
        mix = next(s for s in services if s["name"] == "mixcoord")
        assert mix["command"] == ["milvus", "run", "mixture", "-rootcoord", "-querycoord", "-datacoord"]
        assert mix["env"]["ROOTCOORD_IP"] == mix["env"]["QUERYCOORD_IP"] == "10.0.0.5"


def test_instances_of_one_role_get_their_own_ports():
    services = milvus_host_services({"querynode": 2}, "10.0.0.5", TOPOLOGIES["2.3"], PORTS)
    q1, q2 = services
    assert (q1["name"], q2["name"]) == ("querynode-1", "querynode-2")
    assert q1["env"]["QUERYNODE_PORT"] == "21123" and q2["env"]["QUERYNODE_PORT"] == "21133"
    assert q1["env"]["METRICS_PORT"] == "9191" and q2["env"]["METRICS_PORT"] == "9192"
    assert q1["env"]["QUERYNODE_IP"] == "10.0.0.5"


@pytest.mark.parametrize(("placement", "message"), [
    ({"proxy": 2}, "one proxy per host"),
    ({"querynode": 10}, "0 to 9"),
    ({"indexnode": 1, "streamingnode": 1}, "not part of this release line"),
])
def test_impossible_placements_fail_clearly(placement, message):
    line = "2.6" if "indexnode" in placement else "2.3"
    with pytest.raises(AnsibleFilterError, match=message):
        milvus_host_services(placement, "10.0.0.5", TOPOLOGIES[line], PORTS)


def test_colliding_port_table_is_refused():
    ports = {**PORTS, "datanode": {"grpc": 21123, "metrics": 9201}}
    with pytest.raises(AnsibleFilterError, match="port 21123"):
        milvus_host_services({"querynode": 1, "datanode": 1}, "10.0.0.5", TOPOLOGIES["2.3"], ports)


@pytest.mark.parametrize(
    ("image", "digest", "expected"),
    [
        ("quay.io/coreos/etcd:v3.5.16", "", "quay.io/coreos/etcd:v3.5.16"),
        ("quay.io/coreos/etcd:v3.5.16", "sha256:" + "a" * 64, "quay.io/coreos/etcd@sha256:" + "a" * 64),
        ("mirror.local:5000/minio/minio", "sha256:" + "b" * 64,
         "mirror.local:5000/minio/minio@sha256:" + "b" * 64),
        ("milvusdb/milvus:v2.3.5@sha256:" + "c" * 64, "sha256:" + "d" * 64,
         "milvusdb/milvus@sha256:" + "d" * 64),
        ("", "", ""),  # unset stays unset: the roles' checks name the setting
    ],
)
def test_image_ref_pins_by_digest(image, digest, expected):
    assert image_ref(image, digest) == expected


@pytest.mark.parametrize("digest", ["sha256:abc", "sha512:" + "a" * 64, "a" * 64, "sha256:" + "A" * 64])
def test_image_ref_refuses_what_is_not_a_sha256_digest(digest):
    with pytest.raises(AnsibleFilterError, match="is not a digest of the form sha256:<64 hex digits>"):
        image_ref("minio/minio:RELEASE.2024-05-28T17-19-04Z", digest)


def test_kafka_cluster_id_is_stable_and_well_formed():
    cid = kafka_cluster_id("vectorops-milvus")
    assert cid == kafka_cluster_id("vectorops-milvus") != kafka_cluster_id("other")
    assert len(cid) == 22 and "=" not in cid


def test_session_counts():
    keys = ["by-dev/meta/session/querynode-4", "by-dev/meta/session/querynode-7",
            "by-dev/meta/session/rootcoord", "by-dev/meta/session/proxy-9", "by-dev/meta/session/id"]
    assert milvus_session_counts(keys, ["proxy", "querynode", "datanode"]) == \
        {"proxy": 1, "querynode": 2, "datanode": 0}


@pytest.mark.parametrize("version", ["2.3.5", "2.4.17", "2.5.4", "2.6.0"])
@pytest.mark.parametrize("inventory", ["inventories/sandbox", "prod"])
def test_compose_files_render_for_every_line(tmp_path, version, inventory):
    # 2.6 has no indexnode and adds streamingnode: place those on the datanode hosts.
    line_args = (["-e", "milvus_mq_type=woodpecker", "-e", "milvus_indexnode_group=none",
                  "-e", "milvus_streamingnode_group=milvus_datanode"] if version.startswith("2.6") else [])
    base = tmp_path / "base"  # where the compose file finds the secrets env file
    base.mkdir()
    (base / "secrets.env").write_text("MINIO_ACCESSKEYID=render\nMINIO_SECRETACCESSKEY=render-secret\n")
    res = run(["ansible-playbook", "-i", inventory, "tests/roles/playbooks/render_milvus.yml",
               "-e", f"render_dir={tmp_path}", "-e", f"milvus_version={version}",
               "-e", f"milvus_base_dir={base}", *line_args],
              timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    files = sorted(tmp_path.glob("*.compose.yml"))
    assert len(files) == 3
    ports_by_ip: dict[str, set[int]] = {}
    for path in files:
        checked = compose_config(path)
        assert checked.returncode == 0, (path.name, checked.stderr)
        doc = yaml.safe_load(path.read_text())
        assert doc["name"] == "vectorops-milvus"
        for name, svc in doc["services"].items():
            assert svc["network_mode"] == "host" and svc["restart"] == "unless-stopped", name
            assert svc["healthcheck"]["test"][0] == "CMD", name
            assert svc["image"].endswith(f"v{version}")
            env = svc["environment"]
            assert all(isinstance(v, str) for v in env.values()), name
            assert "MINIO_SECRETACCESSKEY" not in env and "render-secret-key" not in path.read_text()
            assert env["COMMON_SECURITY_AUTHORIZATIONENABLED"] == "true"
            # a lost host's sessions expire within 10 s, and a search moves off its query node
            # after 3 tries (issue #21)
            detection = (env["COMMON_SESSION_TTL"], env["QUERYCOORD_CHECKNODESESSIONINTERVAL"],
                         env["GRPC_CLIENT_MAXMAXATTEMPTS"])
            assert detection == ("10", "5", "3"), name
            # a proxy stops choosing a query node that does not answer after 2 failed asks of
            # 1000 ms (issue #21); the other processes do not read these
            balancer = (env.get("PROXY_HEALTHCHECKTIMEOUT"), env.get("PROXY_RETRYTIMESONHEALTHCHECK"))
            proxy = svc["labels"]["org.vectorops.role"] == "proxy"
            assert balancer == (("1000", "2") if proxy else (None, None)), name
            ip = next(v for k, v in env.items() if k.endswith("_IP"))
            used = ports_by_ip.setdefault(ip, set())
            for key, value in env.items():
                if key.endswith(("_PORT", "_INTERNALPORT")) and not key.startswith(("MINIO", "PULSAR")):
                    assert int(value) not in used, (path.name, key)
                    used.add(int(value))


@pytest.mark.parametrize(("setting", "value"), [("milvus_session_ttl", "4"),
                                                ("milvus_check_node_session_interval", "0"),
                                                ("milvus_grpc_client_max_attempts", "1"),
                                                ("milvus_proxy_health_check_timeout_ms", "100"),
                                                ("milvus_proxy_health_check_retries", "0")])
def test_failure_detection_settings_too_short_are_refused(tmp_path, setting, value):
    res = run(["ansible-playbook", "-i", "inventories/sandbox", "tests/roles/playbooks/render_milvus.yml",
               "-e", f"render_dir={tmp_path}", "-e", f"{setting}={value}"], timeout=300)
    assert res.returncode != 0 and not list(tmp_path.glob("*.compose.yml")), res.stdout[-3000:]
    assert "milvus_session_ttl must be 5 or more" in res.stdout, res.stdout[-3000:]
