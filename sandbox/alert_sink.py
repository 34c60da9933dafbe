"""The sandbox's alert receiver: Alertmanager's webhook target (monitoring_alertmanager_webhook_url).

Each notification Alertmanager POSTs is printed as one line per alert (`docker logs
<prefix>alerts` shows them) and kept, the last 1000, for GET /alerts, which answers them as a
JSON list, oldest first. A sandbox stand-in for a chat bridge or an incident tool; it holds
nothing else and forgets everything when it stops.

    python3 alert_sink.py [PORT]
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEEP = 1000
MAX_BODY = 1 << 20
received: deque = deque(maxlen=KEEP)


def flatten(payload: dict) -> list[dict]:
    """One record per alert of an Alertmanager webhook payload (version 4)."""
    out = []
    for alert in payload.get("alerts") or []:
        labels = alert.get("labels") or {}
        out.append({
            "received": round(time.time(), 3),
            "status": alert.get("status", payload.get("status", "")),
            "alertname": labels.get("alertname", ""),
            "labels": labels,
            "summary": (alert.get("annotations") or {}).get("summary", ""),
            "startsAt": alert.get("startsAt", ""),
            "endsAt": alert.get("endsAt", ""),
        })
    return out


class Handler(BaseHTTPRequestHandler):
    def _answer(self, code: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._answer(400, b'{"error": "a JSON body of at most 1 MiB"}')
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self._answer(400, b'{"error": "not JSON"}')
            return
        for record in flatten(payload if isinstance(payload, dict) else {}):
            received.append(record)
            print(json.dumps(record, sort_keys=True), flush=True)
        self._answer(200, b"{}")

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") != "/alerts":
            self._answer(404, b'{"error": "GET /alerts"}')
            return
        self._answer(200, json.dumps(list(received)).encode())

    def log_message(self, *args) -> None:  # the alerts are the log
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9099
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"alert sink listening on :{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
