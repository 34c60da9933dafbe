"""Ad-hoc health facts (issue #19): `ansible milvus_proxy -i INV -m vectorops.milvus.milvus_facts`
against the real standalone, from an inventory whose hosts' own python has no pymilvus (the
collection's action plugin runs the module on the controller), the connection taken from the
inventory, the facts read back from the jsonfile cache by a later playbook."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, VENV_BIN, ansible_json, project_env
from tests.integration.conftest import BALANCED, UNLOADED

# The hosts' interpreter: a python without pymilvus (and without ansible), as on a cluster host.
HOST_PYTHON = "/usr/bin/python3"


def _inventory(tmp_path: Path, hosts: dict[str, dict[str, Any]], **group_vars: Any) -> Path:
    for hv in hosts.values():
        hv.setdefault("ansible_connection", "local")
        hv.setdefault("ansible_python_interpreter", HOST_PYTHON)
        hv.setdefault("cluster_host_ip", "127.0.0.1")
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps({"all": {"vars": group_vars, "children": {"milvus_proxy": {"hosts": hosts}}}}))
    return path


def _run(cmd: list[str], cache: Path, timeout: float = 300) -> tuple[Any, dict[str, Any]]:
    """ansible / ansible-playbook with the JSON callback, a throw-away fact cache and no Milvus
    connection settings from the environment."""
    return ansible_json(cmd, timeout, drop=("MILVUS_PASSWORD", "MILVUS_TOKEN", "MILVUS_USER", "MILVUS_URI"),
                        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(cache))


def adhoc(
    inventory: Path,
    module: str,
    cache: Path,
    args: dict[str, Any] | None = None,
    pattern: str = "milvus_proxy",
    *extra: str,
) -> tuple[Any, dict[str, dict[str, Any]]]:
    cmd = [
        str(VENV_BIN / "ansible"),
        pattern,
        "-i",
        str(inventory),
        "-m",
        f"vectorops.milvus.{module}",
        *extra,
    ]
    if args:
        cmd += ["-a", json.dumps(args)]
    proc, data = _run(cmd, cache)
    return proc, data["plays"][0]["tasks"][0]["hosts"]


def assert_one_line_failure(proc: Any, result: dict[str, Any], *fragments: str) -> str:
    msg = result.get("msg", "")
    assert result.get("failed") and proc.returncode != 0, result
    assert msg and "\n" not in msg, msg
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "module_stderr" not in result, result.get("module_stderr")
    for frag in fragments:
        assert frag in msg, msg
    return msg


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    path = tmp_path / "facts"
    path.mkdir()
    return path


def test_adhoc_facts_from_the_inventory_then_from_the_cache(
    conn, client, milvus_server, seeded, tmp_path, cache
):
    port = int(milvus_server.uri.rsplit(":", 1)[1])
    inventory = _inventory(
        tmp_path, {"proxy1": {}}, milvus_ops_proxy_port=port, milvus_root_password=conn["password"]
    )
    # The inventory's proxy is up; a query node it places on an address with none is missing.
    expected = [
        {"role": "proxy", "host": "proxy1", "ip": "127.0.0.1"},
        {"role": "querynode", "host": "ghost", "ip": "10.255.255.1", "count": 2},
    ]
    proc, hosts = adhoc(
        inventory, "milvus_facts", cache, {"expected": expected, "thresholds": {"imbalance": 0.5}}
    )
    res = hosts["proxy1"]
    assert proc.returncode == 0 and not res.get("failed"), res
    facts = res["ansible_facts"]["milvus_cluster"]
    assert facts["version"] == "2.3.5" and facts["server"]["connected_to"] == f"127.0.0.1:{port}"
    # the rows per query node are the server's own (list_loaded_segments), per collection
    sums: Counter = Counter()
    for seg in client.loaded_segments(BALANCED):
        for node in seg["node_ids"]:
            sums[node] += seg["num_rows"]
    collections = {c["name"]: c for c in facts["collections"]}
    assert {d["id"]: d["rows"] for d in collections[BALANCED]["distribution"]} == dict(sums)
    assert collections[UNLOADED]["loaded"] is False
    assert facts["balance"]["threshold"] == 0.5 and facts["balanced"] is True
    assert facts["proxies"] == [{"address": f"127.0.0.1:{port}", "failed": False}]
    assert [a["name"] for a in facts["alerts"]] == ["querynode_down"], facts["alerts"]
    assert "ghost (10.255.255.1) 0/2 registered" in facts["alerts"][0]["message"]
    assert res["summary"] == facts["summary"]
    assert res["summary"].startswith(f"Milvus 2.3.5 via 127.0.0.1:{port}: 1/3 nodes up; balance cv 0.0 "), res
    assert res["summary"].endswith("; 1 alert(s): querynode_down"), res["summary"]
    assert conn["password"] not in proc.stdout + proc.stderr

    # Without expected processes: nodes counted, no alert; -o prints the summary on one line.
    proc, hosts = adhoc(inventory, "milvus_facts", cache)
    assert proc.returncode == 0 and hosts["proxy1"]["ansible_facts"]["milvus_cluster"]["alerts"] == []
    assert re.fullmatch(
        rf"Milvus 2\.3\.5 via 127\.0\.0\.1:{port}: \d+ nodes; balance cv 0\.0 \(1 query nodes,"
        r" \d+ rows\); no alerts",
        hosts["proxy1"]["summary"],
    ), hosts["proxy1"]["summary"]
    # The documented form: one line per host (the oneline callback), the summary in it.
    import subprocess

    env = project_env(ANSIBLE_CACHE_PLUGIN_CONNECTION=str(cache), ANSIBLE_NOCOLOR="1")
    oneline = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            "milvus_proxy",
            "-i",
            str(inventory),
            "-m",
            "vectorops.milvus.milvus_facts",
            "-o",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert oneline.returncode == 0, oneline.stdout[-2000:] + oneline.stderr[-2000:]
    (line,) = [x for x in oneline.stdout.splitlines() if x.strip()]
    assert line.startswith("proxy1 | SUCCESS => {") and '"summary": "Milvus 2.3.5 via' in line, line
    assert conn["password"] not in oneline.stdout + oneline.stderr

    # A later playbook, no fact gathering: the fact from the jsonfile cache. Its delegated
    # module task (the operations playbooks' pattern, unchanged) still works.
    play = tmp_path / "read.yml"
    play.write_text(
        json.dumps(
            [
                {
                    "hosts": "milvus_proxy",
                    "gather_facts": False,
                    "vars_files": [str(ROOT / "playbooks" / "vars" / "milvus_ops.yml")],
                    "module_defaults": {"group/vectorops.milvus.milvus": "{{ milvus_connection }}"},
                    "tasks": [
                        {
                            "name": "cached",
                            "ansible.builtin.debug": {
                                "msg": "{{ hostvars['proxy1']['milvus_cluster'].version }}"
                                " {{ hostvars['proxy1']['milvus_cluster'].alerts | length }}"
                            },
                        },
                        {
                            "name": "delegated",
                            "vectorops.milvus.milvus_cluster_info": {"filter": ["version"]},
                            "delegate_to": "localhost",
                            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                        },
                        # The failover drill's pattern: a probe started in the background.
                        {
                            "name": "started",
                            "vectorops.milvus.milvus_cluster_info": {"filter": ["version"]},
                            "delegate_to": "localhost",
                            "async": 120,
                            "poll": 0,
                            "register": "job",
                        },
                        {
                            "name": "finished",
                            "ansible.builtin.async_status": {"jid": "{{ job.ansible_job_id }}"},
                            "delegate_to": "localhost",
                            "register": "done",
                            "until": "done.finished",
                            "retries": 60,
                            "delay": 1,
                        },
                    ],
                }
            ]
        )
    )
    proc, data = _run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(play)], cache)
    assert proc.returncode == 0, proc.stdout[-3000:]
    tasks = {t["task"]["name"]: t["hosts"]["proxy1"] for t in data["plays"][0]["tasks"]}
    assert tasks["cached"]["msg"] == "2.3.5 0", tasks["cached"]
    assert tasks["delegated"]["version"] == "2.3.5", tasks["delegated"]
    assert tasks["delegated"]["server"]["connected_to"] == f"127.0.0.1:{port}"
    assert tasks["started"]["ansible_job_id"] and tasks["finished"]["version"] == "2.3.5", tasks


def test_a_dead_own_proxy_fails_that_host_only(conn, milvus_server, seeded, tmp_path, cache, dead_port):
    """milvus_facts asks each host's own proxy and nothing else; the other modules fall back."""
    port = int(milvus_server.uri.rsplit(":", 1)[1])
    inventory = _inventory(
        tmp_path,
        {"dead": {"milvus_ops_proxy_port": dead_port}, "alive": {"milvus_ops_proxy_port": port}},
        milvus_root_password=conn["password"],
    )
    proc, hosts = adhoc(inventory, "milvus_facts", cache, {"timeout": 3})
    assert_one_line_failure(proc, hosts["dead"], f"127.0.0.1:{dead_port}")
    assert f"127.0.0.1:{port}" not in hosts["dead"]["msg"]
    alive = hosts["alive"]
    assert not alive.get("failed") and alive["ansible_facts"]["milvus_cluster"]["version"] == "2.3.5", alive
    assert alive["ansible_facts"]["milvus_cluster"]["proxies"] == [
        {"address": f"127.0.0.1:{dead_port}", "failed": True},
        {"address": f"127.0.0.1:{port}", "failed": False},
    ]
    # The same host with milvus_cluster_info: its own proxy first, then the others.
    proc, hosts = adhoc(
        inventory, "milvus_cluster_info", cache, {"timeout": 3, "filter": ["version"]}, "dead"
    )
    assert proc.returncode == 0 and hosts["dead"]["server"]["connected_to"] == f"127.0.0.1:{port}", hosts
    # -a overrides what the inventory gives.
    proc, hosts = adhoc(inventory, "milvus_facts", cache, {"hosts": [f"127.0.0.1:{port}"]}, "dead")
    assert proc.returncode == 0 and hosts["dead"]["summary"].startswith(f"Milvus 2.3.5 via 127.0.0.1:{port}")
    # rebalance ad hoc in check mode, the connection from the inventory
    proc, hosts = adhoc(
        inventory,
        "milvus_rebalance",
        cache,
        {"tolerance": 0.1, "collections": [BALANCED]},
        "milvus_proxy[1]",
        "--check",
    )
    assert proc.returncode == 0 and hosts["alive"]["changed"] is False and hosts["alive"]["plan"] == [], hosts
    assert conn["password"] not in proc.stdout + proc.stderr


@pytest.mark.parametrize("password", [None, "unset"])
def test_no_password_fails_with_one_line_naming_the_variable(milvus_server, tmp_path, cache, password):
    port = int(milvus_server.uri.rsplit(":", 1)[1])
    group_vars: dict[str, Any] = {"milvus_ops_proxy_port": port}
    if password != "unset":
        group_vars["milvus_root_password"] = password
    inventory = _inventory(tmp_path, {"proxy1": {}}, **group_vars)
    for module in ("milvus_facts", "milvus_cluster_info"):
        proc, hosts = adhoc(inventory, module, cache)
        assert_one_line_failure(proc, hosts["proxy1"], "milvus_root_password is not defined")
    # A vault-style indirection to a variable that is not there: the same line.
    inventory = _inventory(
        tmp_path,
        {"proxy1": {}},
        milvus_ops_proxy_port=port,
        milvus_root_password="{{ vault_milvus_root_password }}",
    )
    proc, hosts = adhoc(inventory, "milvus_facts", cache)
    assert_one_line_failure(proc, hosts["proxy1"], "milvus_root_password is not defined")
