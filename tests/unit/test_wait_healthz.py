"""roles/milvus/files/wait_healthz.py's reading of a /healthz answer (the JSON form, as a 2.3
mixcoord gives it: its text form names only the last component that is not healthy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "roles" / "milvus" / "files" / "wait_healthz.py"
_SPEC = importlib.util.spec_from_file_location("wait_healthz", _PATH)
assert _SPEC and _SPEC.loader
wait_healthz = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(wait_healthz)


def test_a_healthy_answer_is_its_state():
    # a 2.3.5 mixcoord's answer with Content-Type: application/json
    body = ('{"state":"OK","detail":[{"name":"rootcoord","code":1},{"name":"datacoord","code":1},'
            '{"name":"querycoord","code":1}]}')
    assert wait_healthz.answer(body) == "OK"


def test_an_unhealthy_answer_names_every_components_state():
    body = ('{"state":"component querycoord state is Abnormal","detail":[{"name":"rootcoord","code":1},'
            '{"name":"datacoord","code":0},{"name":"querycoord","code":2}]}')
    assert wait_healthz.answer(body) == (
        "component querycoord state is Abnormal"
        " (rootcoord Healthy, datacoord Initializing, querycoord Abnormal)")


def test_a_text_answer_is_kept():
    # an older server, or a proxy, answers text whatever was asked
    text = "component querycoord state is Abnormal"
    assert wait_healthz.answer(text) == text
    assert wait_healthz.answer('["not", "a", "health", "answer"]') == '["not", "a", "health", "answer"]'
