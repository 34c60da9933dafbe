"""Which images an inventory asks for, the milvus_images preflight on them, the archive check
before `docker load`, and tools/images.py's manifest (sha256 of each cached archive)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run

DIGEST = "sha256:" + "ab" * 32
OWN_KAFKA = "registry.example.internal/vectorops/kafka:3.9.1"


def preflight(tmp_path, inventory: str, *extra: str):
    res = run(["ansible-playbook", "-i", inventory, "tests/roles/playbooks/images_preflight.yml",
               "-e", f"render_dir={tmp_path}", *extra], timeout=300)
    required = tmp_path / "required.json"
    return res, json.loads(required.read_text()) if required.exists() else None


def failure_lines(res) -> list[str]:
    """The one-line fail messages of the play's failed task (once per task)."""
    return re.findall(r"\[ERROR\]: Task failed: (?:Action failed: )?(.*)", res.stdout + res.stderr)


# roles/monitoring: the Prometheus project's own images
MONITORING = ["quay.io/prometheus/node-exporter:v1.9.0", "quay.io/prometheus/prometheus:v2.53.3",
              "quay.io/prometheus/alertmanager:v0.28.1"]


def test_prod_stops_until_the_kafka_image_is_set(tmp_path):
    res, required = preflight(tmp_path, "prod")
    assert res.returncode != 0
    assert required == ["milvusdb/milvus:v2.3.5", "quay.io/coreos/etcd:v3.5.16", "",
                        "minio/minio:RELEASE.2024-05-28T17-19-04Z", *MONITORING]
    msgs = set(failure_lines(res))
    assert msgs == {
        "milvus_images: kafka_image is not set: no official image runs the kafka role's compose "
        "file; build sandbox/images/kafka (tools/images.py build kafka), push it to your own "
        "registry and set kafka_image (roles/milvus_images/README.md)"
    }, res.stdout[-3000:]


def test_prod_on_pulsar_asks_for_the_pulsar_image(tmp_path):
    res, _unused = preflight(tmp_path, "prod", "-e", "milvus_mq_type=pulsar",
                             "-e", f"kafka_image={OWN_KAFKA}")
    assert res.returncode != 0
    assert any("milvus_images: pulsar_image is not set" in m for m in failure_lines(res)), res.stdout[-3000:]


def test_prod_uses_official_images_and_the_kafka_image_it_is_given(tmp_path):
    res, required = preflight(tmp_path, "prod", "-e", f"kafka_image={OWN_KAFKA}")
    assert res.returncode == 0, res.stdout[-3000:]
    assert required == ["milvusdb/milvus:v2.3.5", "quay.io/coreos/etcd:v3.5.16", OWN_KAFKA,
                        "minio/minio:RELEASE.2024-05-28T17-19-04Z", *MONITORING]
    assert not [ref for ref in required if ref.startswith("vectorops/")]


def test_prod_pins_digests(tmp_path):
    names = ("milvus_image", "etcd_image", "kafka_image", "object_store_minio_image",
             "monitoring_node_exporter_image", "monitoring_prometheus_image", "monitoring_alertmanager_image")
    pins = [f"{name}_digest={DIGEST}" for name in names]
    res, required = preflight(tmp_path, "prod", "-e", f"kafka_image={OWN_KAFKA}",
                              *[arg for pin in pins for arg in ("-e", pin)])
    assert res.returncode == 0, res.stdout[-3000:]
    assert required == [f"milvusdb/milvus@{DIGEST}", f"quay.io/coreos/etcd@{DIGEST}",
                        f"registry.example.internal/vectorops/kafka@{DIGEST}", f"minio/minio@{DIGEST}",
                        *(f"quay.io/prometheus/{name}@{DIGEST}"
                          for name in ("node-exporter", "prometheus", "alertmanager"))]


def test_a_malformed_digest_fails_in_one_line(tmp_path):
    res, _unused = preflight(tmp_path, "prod", "-e", f"kafka_image={OWN_KAFKA}",
                             "-e", "etcd_image_digest=sha256:abc")
    assert res.returncode != 0
    assert "image_ref: 'sha256:abc' is not a digest of the form sha256:<64 hex digits>" in res.stdout


def test_a_raw_reference_with_a_bad_digest_is_refused(tmp_path):
    res, _unused = preflight(tmp_path, "prod", "-e", f"kafka_image={OWN_KAFKA}",
                             "-e", '{"milvus_images_required": ["quay.io/coreos/etcd@sha256:xyz"]}')
    assert res.returncode != 0
    assert any("milvus_images: a digest must be sha256:<64 hex digits>: quay.io/coreos/etcd@sha256:xyz" in m
               for m in failure_lines(res)), res.stdout[-3000:]


@pytest.mark.parametrize(
    ("inventory", "expected"),
    [
        ("inventories/sandbox", ["vectorops/milvus:v2.3.5", "vectorops/etcd:3.5",
                                 "vectorops/kafka:3.9.1", "vectorops/monitoring:2.53",
                                 "vectorops/endpoint:3.0"]),
        ("inventories/sandbox_pulsar", ["vectorops/milvus:v2.3.5", "vectorops/etcd:3.5",
                                        "vectorops/pulsar:3.0.7"]),
    ],
)
def test_the_sandboxes_name_their_own_images(tmp_path, inventory, expected):
    # the manifest check of archive mode is not this test's concern: registry mode
    res, required = preflight(tmp_path, inventory, "-e", "milvus_images_source=registry")
    assert res.returncode == 0, res.stdout[-3000:]
    assert required == expected
    images = (ROOT / inventory / "group_vars" / "all" / "images.yml")
    assert not images.is_symlink()
    for ref in expected:
        assert ref.split(":")[0] in images.read_text()


# ------------------------------------------------------------------ archive checksum


ARCHIVE_IMAGE = "registry.example.internal/app:1"


def load_archive(tmp_path, entry: dict | None):
    archive = tmp_path / "app-1.tar"
    archive.write_bytes(b"not really a docker save archive\n")
    manifest = tmp_path / "manifest.json"
    base = {"image": ARCHIVE_IMAGE, "archive": str(archive)}
    manifest.write_text(json.dumps({"app": {**base, **(entry or {})}}))
    res = run(["ansible-playbook", "-i", "inventories/sandbox", "tests/roles/playbooks/load_archive.yml",
               "-e", f"render_dir={tmp_path}", "-e", f"image={ARCHIVE_IMAGE}",
               "-e", f"milvus_images_archive_manifest={manifest}"], timeout=300)
    return res, archive


def tasks_run(res) -> list[str]:
    return re.findall(r"TASK \[vectorops\.milvus\.milvus_images : ([^\]]+)\]", res.stdout)


def test_an_archive_that_differs_from_the_manifest_is_not_loaded(tmp_path):
    res, archive = load_archive(tmp_path, {"sha256": "0" * 64})
    real = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert res.returncode != 0
    assert failure_lines(res) == [
        f"milvus_images: the archive of {ARCHIVE_IMAGE} on the host has sha256 {real}, the manifest "
        f"says {'0' * 64} ({archive}): nothing loaded"
    ], res.stdout[-3000:]
    assert f"Load {ARCHIVE_IMAGE}" not in tasks_run(res)
    assert "Delete the copied archive" in tasks_run(res) and not list((tmp_path / "host").iterdir())


def test_an_archive_that_matches_goes_on_to_the_load(tmp_path):
    archive_bytes = b"not really a docker save archive\n"
    res, _unused = load_archive(tmp_path, {"sha256": hashlib.sha256(archive_bytes).hexdigest()})
    run_tasks = tasks_run(res)
    # the check passed; the load then fails on the engine socket that does not exist
    assert f"Check the archive's sha256 against the manifest, {ARCHIVE_IMAGE}" in run_tasks
    assert f"Load {ARCHIVE_IMAGE}" in run_tasks, res.stdout[-3000:]
    assert "nothing loaded" not in res.stdout
    assert not list((tmp_path / "host").iterdir())


def test_a_manifest_without_checksums_is_refused_before_any_copy(tmp_path):
    res, _unused = load_archive(tmp_path, None)
    assert res.returncode != 0
    assert any(f"milvus_images: no sha256 of the archive of {ARCHIVE_IMAGE}" in m for m in failure_lines(res))
    assert not any(t.startswith("Copy the archive") for t in tasks_run(res))


# ------------------------------------------------------------------ tools/images.py manifest


@pytest.fixture
def images_tool(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("images_tool", ROOT / "tools" / "images.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "images_tool", mod)  # dataclasses look their module up
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "ARCHIVES", tmp_path)

    def no_engine(*args, **kwargs):
        raise AssertionError(f"the manifest must not run anything: {args}")

    monkeypatch.setattr(subprocess, "run", no_engine)
    monkeypatch.setattr(subprocess, "Popen", no_engine)
    return mod


def test_the_builder_and_the_role_read_one_recipe_label(images_tool):
    # tools/images.py stamps each image with its recipe; the milvus_images role's filter reads
    # it back on the hosts to tell a rebuilt archive under the same tag. Two spellings of one name.
    from ansible_collections.vectorops.milvus.plugins.filter.topology import RECIPE_LABEL

    assert images_tool.LABEL == RECIPE_LABEL == "org.vectorops.recipe"


def test_the_manifest_holds_each_cached_archive_sha256(images_tool, tmp_path):
    kafka = images_tool.IMAGES["kafka"]
    kafka.archive.write_bytes(b"fake archive\n" * 1000)  # an archive cached before sha256 was kept
    kafka.archive.with_suffix(".recipe").write_text("r1\n")
    entries = images_tool.write_manifest()
    want = hashlib.sha256(b"fake archive\n" * 1000).hexdigest()
    assert list(entries) == ["kafka"]
    assert entries["kafka"] == {"image": kafka.ref, "archive": str(kafka.archive), "recipe": "r1",
                                "bytes": 13000, "sha256": want}
    assert json.loads((tmp_path / "manifest.json").read_text()) == entries
    assert kafka.archive.with_suffix(".sha256").read_text().split()[0] == want


def test_the_sha256_follows_a_rewritten_archive(images_tool):
    kafka = images_tool.IMAGES["kafka"]
    kafka.archive.write_bytes(b"first")
    assert images_tool.write_manifest()["kafka"]["sha256"] == hashlib.sha256(b"first").hexdigest()
    kafka.archive.write_bytes(b"second, longer")
    assert images_tool.write_manifest()["kafka"]["sha256"] == hashlib.sha256(b"second, longer").hexdigest()


def test_the_stamp_spares_hashing_an_unchanged_archive(images_tool, monkeypatch):
    kafka = images_tool.IMAGES["kafka"]
    kafka.archive.write_bytes(b"big")
    first = images_tool.write_manifest()["kafka"]["sha256"]
    monkeypatch.setattr(images_tool, "file_sha256", lambda path: pytest.fail("hashed again"))
    assert images_tool.write_manifest()["kafka"]["sha256"] == first


# ------------------------------------------------------------------ the roles' own check


@pytest.mark.parametrize(
    ("inventory", "role", "extra", "message"),
    [
        ("prod", "kafka", [], "kafka_image is not set: build sandbox/images/kafka, push it to your own "
         "registry and set kafka_image (roles/milvus_images/README.md)"),
        ("prod", "kafka", ["-e", f"kafka_image={OWN_KAFKA}"], None),
        ("inventories/sandbox_pulsar", "pulsar", ["-e", "pulsar_image="], "pulsar_image is not set: "
         "build sandbox/images/pulsar, push it to your own registry and set pulsar_image "
         "(roles/milvus_images/README.md)"),
        ("inventories/sandbox_pulsar", "pulsar", [], None),
    ],
)
def test_the_queue_roles_refuse_to_run_without_an_image(inventory, role, extra, message):
    res = run(["ansible-playbook", "-i", inventory, "tests/roles/playbooks/mq_preflight.yml",
               "-e", f"mq_role={role}", "--tags", f"{role}_preflight", *extra], timeout=300)
    if message is None:
        assert res.returncode == 0, res.stdout[-3000:]
    else:
        assert res.returncode != 0 and failure_lines(res) == [message], res.stdout[-3000:]


def test_every_milvus_release_shares_one_recipe_under_its_own_tag(images_tool):
    main, older = images_tool.IMAGES["milvus"], images_tool.IMAGES["milvus-2.3.4"]
    assert main.ref == f"vectorops/milvus:v{images_tool.MILVUS_VERSION}"
    assert older.ref == "vectorops/milvus:v2.3.4"
    assert older.archive.name == "milvus-v2.3.4.tar" and older.inputs == ["milvus==2.3.4"]
    # The same recipe folder, so only the wheel differs; the older one is built on demand only.
    assert images_tool.recipe_hash(main) != images_tool.recipe_hash(older)
    assert older.on_demand and not main.on_demand
    built = []

    def ensure(img):
        built.append(img.ref)
        img.archive.write_bytes(b"x")
        return "cached"

    images_tool.ensure = ensure
    images_tool.IMAGES = {"milvus": main, "milvus-2.3.4": older}
    images_tool.cmd_build([])
    assert built == [main.ref]
    images_tool.cmd_build([], everything=True)
    images_tool.cmd_build(["milvus-2.3.3"])  # any release with a wheel, named on demand
    assert built == [main.ref, main.ref, older.ref, "vectorops/milvus:v2.3.3"]


# docker_image_info's answer for kafka, etcd and milvus 2.3.4 (captured from a real engine); the
# manifest's recipes of the same three archives.
HOST_IMAGES = json.loads((ROOT / "tests/unit/fixtures/docker_image_info.json").read_text())["images"]
RECIPES = {image["RepoTags"][0]: image["Config"]["Labels"]["org.vectorops.recipe"] for image in HOST_IMAGES}
PRESENT = list(RECIPES)


def to_load(required, recipes, images=HOST_IMAGES):
    from plugins.filter.topology import milvus_images_to_load
    return milvus_images_to_load(images, required, list(required), recipes)


def test_images_present_with_their_archives_recipe_are_not_loaded_again():
    assert to_load(PRESENT, RECIPES) == []


def test_a_missing_image_is_loaded():
    assert to_load(PRESENT + ["vectorops/nothere:1"], RECIPES) == ["vectorops/nothere:1"]


def test_an_archive_rebuilt_under_the_same_tag_is_loaded():
    rebuilt = dict(RECIPES, **{"vectorops/kafka:3.9.1": "f" * 64})
    assert to_load(PRESENT, rebuilt) == ["vectorops/kafka:3.9.1"]


def test_without_a_recipe_only_a_missing_image_is_loaded():
    # an operator's own archives: the manifest may give no recipe, and the images no label
    unlabelled = [dict(image, Config={"Labels": None}) for image in HOST_IMAGES]
    assert to_load(PRESENT, {}, unlabelled) == []
    assert to_load(PRESENT, {"vectorops/etcd:3.5": "f" * 64}, unlabelled) == ["vectorops/etcd:3.5"]
