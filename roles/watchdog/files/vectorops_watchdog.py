"""vectorops-watchdog: restart the cluster's containers that stay unhealthy.

    python3 vectorops_watchdog.py CONFIG.json

A systemd timer runs it on each cluster host. Docker restarts a container that exits, never one
that keeps running unhealthy (a Milvus process waiting for ever on another, a wedged broker). A
container of one of the cluster's compose projects (project_pattern) whose health check has said
"unhealthy" for unhealthy_seconds is restarted, with stop_timeout seconds to stop. A loop guard
holds a container after max_restarts_per_hour restarts in the last hour: it is left alone, said
once in the journal, and flagged in the metrics file (a node exporter textfile) until a restart
is allowed again. A file named `pause` in the state directory pauses every action (a playbook or
an operator restarting things on purpose) until it is pause_max_seconds old. Each action is one
line on stdout, which the journal keeps. Python 3 alone, nothing else installed.

One host at a time: the hosts run the same services under the same container names, and a cause
that reaches every host at once (a shared dependency down, a health check that cannot pass) makes
the same container unhealthy everywhere. Before a restart the watchdog claims it in the cluster's
etcd (etcd_endpoints; a key per container name under claim_prefix, on a lease of
peer_gap_seconds, renewed when the restart ends): while another host's claim lives, the restart
is deferred, said once and flagged. The same container is thus never restarted on two hosts
less than peer_gap_seconds apart, so a quorum (etcd, Kafka, Pulsar, MinIO) or the serving
replicas outlive the restarts. With no etcd member answering nothing is restarted: the
watchdog cannot tell whether the other hosts are restarting the same thing.
"""

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

HOUR = 3600.0


def allow_all(_name):
    """The claim of a watchdog that coordinates with no one (tests of the per-host decisions)."""
    return True, "", ""


def decide(now, unhealthy, state, cfg, claim=allow_all):
    """The actions of one run, and the state to keep; no side effects but claim's.

    unhealthy: names of the watched containers whose health is "unhealthy" now. state:
    {"since": {name: first time seen unhealthy}, "restarts": {name: [times]}, "held": {name:
    time the guard held it}, "deferred": {name: who}}. claim(name) -> (True, "", "") when this
    host may restart the container now, (False, who, why) while another host's restart of it is
    recent (who names that host, why says it) or etcd cannot tell (who "etcd").
    Returns (actions, state): actions are (kind, name, detail) with kind "restart", "hold" or
    "defer"; a hold is reported once, when the guard starts holding, and a deferral once per
    host waited for.
    """
    since = {n: t for n, t in (state.get("since") or {}).items() if n in unhealthy}
    restarts = {n: [t for t in ts if now - t < HOUR] for n, ts in (state.get("restarts") or {}).items()}
    restarts = {n: ts for n, ts in restarts.items() if ts}
    held = {n: t for n, t in (state.get("held") or {}).items() if n in unhealthy}
    deferred = {n: w for n, w in (state.get("deferred") or {}).items() if n in unhealthy}
    actions = []
    for name in sorted(unhealthy):
        first = since.setdefault(name, now)
        waited = now - first
        if waited < cfg["unhealthy_seconds"]:
            continue
        done = restarts.get(name, [])
        if len(done) >= cfg["max_restarts_per_hour"]:
            if name not in held:
                held[name] = now
                bound = cfg["max_restarts_per_hour"]
                actions.append(("hold", name, f"unhealthy for {waited:.0f} s, restarted {len(done)} times in"
                                              f" the last hour (max_restarts_per_hour {bound}): left alone"
                                              " until an hour after the first of them"))
            continue
        allowed, who, why = claim(name)
        if not allowed:
            if deferred.get(name) != who:
                actions.append(("defer", name, f"unhealthy for {waited:.0f} s: restart deferred: {why}"))
            deferred[name] = who
            continue
        deferred.pop(name, None)
        held.pop(name, None)
        restarts[name] = done + [now]
        since[name] = now  # a restarted container gets the whole window again
        actions.append(("restart", name, f"unhealthy for {waited:.0f} s: restart {len(done) + 1} of at most"
                                         f" {cfg['max_restarts_per_hour']} an hour"))
    return actions, {"since": since, "restarts": restarts, "held": held, "deferred": deferred}


class Etcd:
    """etcd's v3 JSON gateway (POST /v3/...), asking the members in turn until one answers; the
    member that answered is asked first next time (a dead host's costs its timeout once a run)."""

    def __init__(self, endpoints, timeout=3.0):
        self.endpoints = list(endpoints)
        self.timeout = timeout

    def call(self, path, body):
        failures = []
        for endpoint in list(self.endpoints):
            request = urllib.request.Request(f"{endpoint.rstrip('/')}/v3/{path}",
                                             data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    text = answer.read()
                self.endpoints.remove(endpoint)
                self.endpoints.insert(0, endpoint)
                return json.loads(text or b"{}")
            except (OSError, ValueError) as exc:  # refused, timed out, an HTTP error, not JSON
                failures.append(f"{endpoint}: {exc}")
        raise OSError("no etcd member answered (" + "; ".join(failures) + ")")


def b64(text):
    return base64.b64encode(text.encode()).decode()


def holder_of(answer):
    """The claim a refused txn read back: (its value as etcd stores it, {"host", "at"}), or ("", {})."""
    kvs = answer["responses"][0]["response_range"].get("kvs") or []
    return (kvs[0]["value"], json.loads(base64.b64decode(kvs[0]["value"]))) if kvs else ("", {})


class Claims:
    """Restarts claimed in etcd, one host at a time per container name (see the module's text)."""

    def __init__(self, etcd, host, prefix, gap, now):
        self.etcd, self.host, self.prefix, self.gap, self.now = etcd, host, prefix, int(gap), now

    def _put_if(self, key, compare, lease):
        value = b64(json.dumps({"host": self.host, "at": round(self.now, 3)}))
        return self.etcd.call("kv/txn", {
            "compare": [dict(compare, key=key)],
            "success": [{"request_put": {"key": key, "value": value, "lease": lease}}],
            "failure": [{"request_range": {"key": key}}],
        })

    def renew(self, name):
        """This host's claim on name again, from now (after its restart); a failure changes nothing."""
        self.now = time.time()
        return self(name)

    def __call__(self, name):
        key = b64(self.prefix + name)
        try:
            lease = self.etcd.call("lease/grant", {"TTL": self.gap})["ID"]
            answer = self._put_if(key, {"target": "CREATE", "result": "EQUAL", "create_revision": "0"}, lease)
            if not answer.get("succeeded"):
                stored, holder = holder_of(answer)
                if holder.get("host") == self.host:
                    # This host's own earlier restart: its loop guard counts those; the claim
                    # starts again from now.
                    same = {"target": "VALUE", "result": "EQUAL", "value": stored}
                    answer = self._put_if(key, same, lease)
            if answer.get("succeeded"):
                return True, "", ""
            with contextlib.suppress(OSError):  # the unused lease ends by itself after the gap
                self.etcd.call("lease/revoke", {"ID": lease})
            _stored, holder = holder_of(answer)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            return False, "etcd", f"cannot claim it in etcd: {exc}"
        host, at = holder.get("host", "another host"), float(holder.get("at", self.now))
        return False, host, (f"{host} restarted it {self.now - at:.0f} s ago (one host at a time,"
                             f" peer_gap_seconds {self.gap})")


def metrics(now, unhealthy, state):
    """The node exporter textfile: what the alert rules read."""
    lines = [
        "# HELP vectorops_watchdog_last_run_timestamp_seconds When the watchdog last looked.",
        "# TYPE vectorops_watchdog_last_run_timestamp_seconds gauge",
        f"vectorops_watchdog_last_run_timestamp_seconds {now:.0f}",
        "# HELP vectorops_watchdog_unhealthy_seconds How long a watched container has been unhealthy.",
        "# TYPE vectorops_watchdog_unhealthy_seconds gauge",
    ]
    lines += [f'vectorops_watchdog_unhealthy_seconds{{container="{n}"}} {now - state["since"][n]:.0f}'
              for n in sorted(unhealthy) if n in state["since"]]
    lines += [
        "# HELP vectorops_watchdog_restarts_last_hour Restarts by the watchdog in the last hour.",
        "# TYPE vectorops_watchdog_restarts_last_hour gauge",
    ]
    lines += [f'vectorops_watchdog_restarts_last_hour{{container="{n}"}} {len(ts)}'
              for n, ts in sorted(state["restarts"].items())]
    lines += [
        "# HELP vectorops_watchdog_held 1 while the loop guard leaves an unhealthy container alone.",
        "# TYPE vectorops_watchdog_held gauge",
    ]
    lines += [f'vectorops_watchdog_held{{container="{n}"}} 1' for n in sorted(state["held"])]
    lines += [
        "# HELP vectorops_watchdog_deferred 1 while another host's recent restart of the same container"
        " defers this one's.",
        "# TYPE vectorops_watchdog_deferred gauge",
    ]
    lines += [f'vectorops_watchdog_deferred{{container="{n}"}} 1'
              for n in sorted(state.get("deferred") or {})]
    return "\n".join(lines) + "\n"


def watched_unhealthy(pattern):
    """Names of the running containers whose health is unhealthy, in the cluster's projects."""
    out = subprocess.run(
        ["docker", "ps", "--filter", "health=unhealthy", "--format",
         '{{.Names}}\t{{.Label "com.docker.compose.project"}}'],
        capture_output=True, text=True, timeout=60, check=True).stdout
    names = set()
    for line in out.splitlines():
        name, _tab, project = line.partition("\t")
        if name and re.search(pattern, project):
            names.add(name)
    return names


def write(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        cfg = json.load(handle)
    state_dir = cfg["state_dir"]
    state_file = os.path.join(state_dir, "state.json")
    pause = os.path.join(state_dir, "pause")
    now = time.time()
    if os.path.exists(pause):
        age = now - os.path.getmtime(pause)
        if age < cfg["pause_max_seconds"]:
            return 0  # said by whoever paused it; nothing done, nothing said every 30 s
        bound = cfg["pause_max_seconds"]
        print(f"pause file {pause} is {age:.0f} s old (pause_max_seconds {bound}): ignored")
    try:
        with open(state_file, encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        state = {}
    try:
        unhealthy = watched_unhealthy(cfg["project_pattern"])
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"cannot list the containers: {exc}")
        return 1
    claim = allow_all
    if cfg.get("etcd_endpoints"):
        claim = Claims(Etcd(cfg["etcd_endpoints"]), cfg["host"], cfg["claim_prefix"], cfg["peer_gap_seconds"],
                       now)
    actions, state = decide(now, unhealthy, state, cfg, claim)
    status = 0
    for kind, name, detail in actions:
        if kind in ("hold", "defer"):
            print(f"{name}: {detail}")
            continue
        # A restart that fails or hangs still counts for the loop guard: the state is written below
        # whatever happens here.
        try:
            argv = ["docker", "restart", "-t", str(cfg["stop_timeout"]), name]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=cfg["stop_timeout"] + 120,
                                  check=False)
            why = "" if done.returncode == 0 else done.stderr.strip()[:300] or f"exit {done.returncode}"
        except subprocess.TimeoutExpired as exc:
            why = f"no answer after {exc.timeout:.0f} s"
        if isinstance(claim, Claims):
            # The gap counts from the end of this restart, not from the claim: a run that
            # restarts several containers claims them all before the first restart.
            claim.renew(name)
        if not why:
            print(f"{name}: {detail}: restarted")
        else:
            print(f"{name}: {detail}: docker restart failed: {why}")
            status = 1
    write(state_file, json.dumps(state))
    if cfg.get("metrics_file"):
        write(cfg["metrics_file"], metrics(now, unhealthy, state))
    return status


if __name__ == "__main__":
    sys.exit(main())
