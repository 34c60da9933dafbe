"""A real Milvus 2.3.5 standalone from the `milvus` PyPI wheel, on free local ports.

Used by the integration fixture, the fixture capture script and the benchmark:

    python -m tests.integration.milvus_server --data /tmp/m   # runs until Ctrl+C, prints the URI
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT_PASSWORD = "Milvus"  # Milvus's built-in root password; the tests enable authorization
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vectorops-milvus-tests"


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 right now."""
    socks, ports = [], []
    for _unused in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in socks:
        sock.close()
    return ports


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class Standalone:
    """Start and stop one embedded Milvus standalone with its own data dir and ports."""

    PORT_KEYS = (
        "proxy_port",
        "proxy_internal_port",
        "root_coord_port",
        "query_coord_port",
        "query_node_port",
        "index_coord_port",
        "index_node_port",
        "data_coord_port",
        "data_node_port",
        "etcd_port",
    )

    def __init__(
        self,
        data_dir: Path,
        authorization: bool = True,
        auto_compaction: bool = False,
        tls: Path | None = None,
        tls_mode: int = 1,
    ):
        """`tls`: a directory with ca.pem, server.pem and server.key (tests/integration/tls_certs.py);
        the proxy then serves TLS only, one-way (`tls_mode` 1) or mutual (2, client certificate
        signed by ca.pem required)."""
        if tls is not None and tls_mode not in (1, 2):
            raise ValueError(f"tls_mode must be 1 or 2, not {tls_mode!r}")
        self.data_dir = Path(data_dir).resolve()
        self.authorization = authorization
        self.auto_compaction = auto_compaction
        self.tls = Path(tls).resolve() if tls is not None else None
        self.tls_mode = tls_mode if tls is not None else 0
        self.ports: dict[str, int] = {}
        self.metrics_port = 0
        self.server = None

    @property
    def uri(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.ports['proxy_port']}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports['proxy_port']}"

    def _template(self) -> Path:
        """The wheel's config template plus an embedded-etcd config file, so etcd's peer port is free too."""
        import milvus

        src = Path(milvus.__file__).parent / "data" / "config.yaml.template"
        text = src.read_text()
        text = text.replace("\netcd:\n", "\netcd:\n  config:\n    path: {{ etcd_config_path }}\n", 1)
        out = self.data_dir / "config.yaml.template"
        out.write_text(text)
        return out

    def _link_cached_binaries(self) -> None:
        """Unpack the server binaries once per machine and link them in (saves ~9 s per start)."""
        import milvus

        cache = CACHE / f"milvus-{milvus.__version__}"
        if not (cache / "bin" / "milvus").exists():
            cache.mkdir(parents=True, exist_ok=True)
            milvus._initialize_data_files(str(cache))
        target = self.data_dir / "bin"
        if not target.exists():
            target.symlink_to(cache / "bin")

    def start(self, timeout: float = 180) -> Standalone:
        import milvus
        from milvus import MilvusServer, MilvusServerConfig

        self.data_dir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(len(self.PORT_KEYS) + 2)
        self.ports = dict(zip(self.PORT_KEYS, ports, strict=False))
        peer, self.metrics_port = ports[-2], ports[-1]
        etcd_conf = self.data_dir / "embed-etcd.yaml"
        etcd_conf.write_text(
            "name: standalone\n"
            f"listen-client-urls: http://127.0.0.1:{self.ports['etcd_port']}\n"
            f"advertise-client-urls: http://127.0.0.1:{self.ports['etcd_port']}\n"
            f"listen-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-cluster: standalone=http://127.0.0.1:{peer}\n"
        )
        config = MilvusServerConfig(template=str(self._template()), data_dir=str(self.data_dir), **self.ports)
        config.glog_conf_file = str(
            Path(milvus.__file__).parent / "data" / "glog.conf"
        )  # unset with a template
        config.set("etcd_config_path", str(etcd_conf))
        config.set("authorization_enabled", self.authorization)
        if not self.auto_compaction:
            config.set("dataCoord.compaction.enableAutoCompaction", "false")
        if self.tls:
            config.set("tls_mode", self.tls_mode)
            config.set("server_pem_path", str(self.tls / "server.pem"))
            config.set("server_key_path", str(self.tls / "server.key"))
            config.set("ca_pem_path", str(self.tls / "ca.pem"))
        self._link_cached_binaries()
        server = MilvusServer(config, wait_for_started=False)
        server.webservice_port = self.metrics_port
        server.start()
        self.metrics_port = server.webservice_port
        self.server = server
        self._check_rendered_tls()
        self.wait_healthy(timeout)
        return self

    def _check_rendered_tls(self) -> None:
        """MilvusServerConfig.set ignores a value of the wrong type: make sure TLS really is on (or off)."""
        rendered = (self.data_dir / "configs" / "milvus.yaml").read_text()
        wanted = [f"tlsMode: {self.tls_mode}"]
        if self.tls:
            wanted += [str(self.tls / name) for name in ("server.pem", "server.key", "ca.pem")]
        missing = [w for w in wanted if w not in rendered]
        if missing:
            self.stop()
            raise RuntimeError(f"rendered milvus.yaml lacks {missing}")

    def wait_healthy(self, timeout: float) -> None:
        """Poll /healthz and the proxy port; raise with the log tail if the server dies or stalls."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.metrics_port}/healthz"
        while time.monotonic() < deadline:
            proc = self.server.server_proc if self.server else None
            if proc is None or proc.poll() is not None:
                raise RuntimeError(f"milvus exited during start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if b"OK" in resp.read() and port_open(self.ports["proxy_port"]):
                        time.sleep(1)
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"milvus not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        log = self.data_dir / "logs" / "milvus-stdout.log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 10) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds (a graceful stop can hang on its coordinators)."""
        if not self.server:
            return
        proc = self.server.server_proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.server.server_proc = None
        for fd in self.server.proc_fds.values():
            fd.close()
        self.server.proc_fds.clear()
        self.server = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="data directory (created)")
    parser.add_argument("--no-auth", action="store_true", help="leave authorization off")
    parser.add_argument("--auto-compaction", action="store_true", help="keep automatic compaction on")
    parser.add_argument("--tls", type=Path, help="dir with ca.pem, server.pem, server.key: serve TLS")
    parser.add_argument("--tls-mode", type=int, default=1, choices=(1, 2), help="1 one-way, 2 mutual")
    args = parser.parse_args()
    srv = Standalone(
        Path(args.data),
        authorization=not args.no_auth,
        auto_compaction=args.auto_compaction,
        tls=args.tls,
        tls_mode=args.tls_mode,
    )
    srv.start()
    print(
        f"uri={srv.uri} metrics=http://127.0.0.1:{srv.metrics_port} user=root password={ROOT_PASSWORD}",
        flush=True,
    )
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_unused: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_unused: stop.update(now=True))
    try:
        while not stop["now"] and srv.server and srv.server.server_proc.poll() is None:
            time.sleep(0.5)
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
