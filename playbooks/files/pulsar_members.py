"""Asks every Pulsar member, from one member host, what the health gate needs to know, and
prints one JSON object (judged by the pulsar_member_problems filter):

  {"zookeeper": {"ip:port": "<the member's srvr answer>" or "error: ..."},
   "bookies":   {"ip:port": "" (accepts connections) or "error: ..."},
   "brokers":   {"from": "ip:port", "active": ["ip:port", ...]} or {"error": "..."}}

Only the standard library and the hosts' own python3: no JVM start, nothing run inside the
containers, so a member whose container is gone is asked the same way as one that is up.

Usage: pulsar_members.py ZOOKEEPER_PORT BOOKIE_PORT WEB_PORT CLUSTER HOST [HOST ...]
"""

import json
import socket
import sys
import urllib.error
import urllib.request

TIMEOUT = 3.0


def four_letter_word(host, port, word):
    """ZooKeeper's answer to a four-letter word (whitelisted by the role: srvr)."""
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as conn:
            conn.sendall(word.encode())
            conn.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace") or "error: empty answer"
    except OSError as exc:
        return f"error: {exc}"


def accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return ""
    except OSError as exc:
        return f"error: {exc}"


def active_brokers(hosts, port, cluster):
    """The active brokers, as the first broker that answers lists them."""
    errors = []
    for host in hosts:
        url = f"http://{host}:{port}/admin/v2/brokers/{cluster}"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT * 2) as answer:
                return {"from": f"{host}:{port}", "active": json.loads(answer.read().decode())}
        except (OSError, ValueError, urllib.error.URLError) as exc:
            errors.append(f"{host}:{port}: {exc}")
    return {"error": "; ".join(errors) or "no member"}


def main(argv):
    if len(argv) < 5:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    zookeeper_port, bookie_port, web_port = (int(p) for p in argv[:3])
    cluster, hosts = argv[3], argv[4:]
    print(json.dumps({
        "zookeeper": {f"{h}:{zookeeper_port}": four_letter_word(h, zookeeper_port, "srvr") for h in hosts},
        "bookies": {f"{h}:{bookie_port}": accepts(h, bookie_port) for h in hosts},
        "brokers": active_brokers(hosts, web_port, cluster),
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
