"""Poll Milvus /healthz URLs until every one answers 200, or fail naming those that do not.

    python3 wait_healthz.py TIMEOUT_SECONDS URL [URL ...]

Runs on the managed host (python3 only, no extra modules); prints one JSON line.
"""

import json
import sys
import time
import urllib.error
import urllib.request

# commonpb.StateCode, as the JSON answer gives each component's state
STATES = {0: "Initializing", 1: "Healthy", 2: "Abnormal", 3: "StandBy", 4: "Stopping"}


def answer(body):
    """The answer's text: with the JSON form, its state and, when not OK, every component's state
    (its text form names only the last component that is not healthy)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict) or "state" not in data:
        return body
    state = str(data["state"])
    detail = data.get("detail") or []
    if state == "OK" or not isinstance(detail, list):
        return state
    parts = [f"{d.get('name')} {STATES.get(d.get('code'), d.get('code'))}"
             for d in detail if isinstance(d, dict)]
    return f"{state} ({', '.join(parts)})" if parts else state


def status(url):
    request = urllib.request.Request(url, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=3) as resp:
            return resp.status, answer(resp.read(4000).decode(errors="replace").strip())
    except urllib.error.HTTPError as exc:
        return exc.code, answer(exc.read(4000).decode(errors="replace").strip())
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


if __name__ == "__main__":  # python3 -c runs it as __main__ too
    main()
