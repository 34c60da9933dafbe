"""Poll Milvus /healthz URLs until every one answers 200, or fail naming those that do not.

    python3 wait_healthz.py TIMEOUT_SECONDS URL [URL ...]

Runs on the managed host (python3 only, no extra modules); prints one JSON line.
"""

import json
import sys
import time
import urllib.error
import urllib.request


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, resp.read(200).decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(200).decode(errors="replace").strip()
    except OSError as exc:
        return 0, str(getattr(exc, "reason", exc))


def main():
    deadline = time.monotonic() + float(sys.argv[1])
    pending = {url: (0, "not asked yet") for url in sys.argv[2:]}
    polls = 0
    while pending:
        polls += 1
        for url in list(pending):
            code, body = status(url)
            if code == 200:
                del pending[url]
            else:
                pending[url] = (code, body)
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(3)
    print(json.dumps({"healthy": len(sys.argv) - 2 - len(pending), "polls": polls,
                      "unhealthy": {u: f"{c} {b}" for u, (c, b) in pending.items()}}))
    sys.exit(1 if pending else 0)


main()
