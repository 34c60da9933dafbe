"""The version rule of upgrade.yml (plugins/filter/upgrade.py), case by case."""

from __future__ import annotations

import pytest
from ansible_collections.vectorops.milvus.plugins.filter.upgrade import milvus_upgrade_step


@pytest.mark.parametrize(("current", "target", "step"), [
    (["v2.3.4", "v2.3.4"], "2.3.5", "patch"),
    (["v2.3.0"], "v2.3.5", "patch"),
    (["v2.3.5", "v2.3.5"], "2.3.5", "none"),
    (["v2.3.4", "v2.3.5"], "2.3.5", "patch"),  # an interrupted upgrade resumes
    (["v2.2.3"], "2.3.5", "minor"),
    (["v2.3.5"], "2.4.17", "minor"),
    (["v2.4.9"], "2.5.0", "minor"),
    (["v2.3.5-dev"], "2.3.6", "patch"),
])
def test_supported_steps(current, target, step):
    out = milvus_upgrade_step(current, target)
    assert out["problem"] == "" and out["step"] == step, out


@pytest.mark.parametrize(("current", "target", "words"), [
    (["v2.3.5"], "2.3.4", "2.3.4 is older than 2.3.5, which a node runs: a downgrade is refused"),
    (["v2.3.4", "v2.3.5"], "2.3.4", "a downgrade is refused"),
    (["v2.3.5"], "2.5.0", "2.3.5 to 2.5.0 skips a minor release"),
    (["v3.0.1"], "4.0.0", "changes the major version"),
    (["v2.2.2"], "2.2.5", "older than 2.2.3, the first release Milvus upgrades by rolling restart"),
    (["v2.2.2"], "2.3.0", "older than 2.2.3"),
])
def test_refused_steps_say_why_in_one_line_and_how_to_force(current, target, words):
    out = milvus_upgrade_step(current, target)
    assert words in out["problem"] and "upgrade_allow_unsafe=true" in out["problem"], out
    assert "\n" not in out["problem"] and out["step"] == ""
    forced = milvus_upgrade_step(current, target, allow_unsafe=True)
    assert forced["step"] == "unsafe" and forced["problem"] == ""


@pytest.mark.parametrize(("current", "target"), [(["v2.5.16"], "2.6.0"), (["v2.3.5"], "2.6.3")])
def test_a_new_process_layout_is_refused_even_when_forced(current, target):
    for force in (False, True):
        out = milvus_upgrade_step(current, target, allow_unsafe=force)
        assert "not a rolling upgrade this playbook does: 2.6 replaces the" in out["problem"], out
        assert "upgrade_allow_unsafe" not in out["problem"]


@pytest.mark.parametrize(("current", "target", "words"), [
    (["v2.3.5"], "latest", "cannot read a Milvus version from 'latest'"),
    ([], "2.3.5", "no node reported its version"),
    (["", "v2.3.5"], "2.3.5", "a node reports version '', which is not X.Y.Z"),
])
def test_unreadable_input(current, target, words):
    assert words in milvus_upgrade_step(current, target)["problem"]


def test_reports_the_range():
    out = milvus_upgrade_step(["v2.3.4", "v2.3.5", "v2.3.4"], "2.3.5")
    assert (out["from"], out["highest"], out["to"]) == ("2.3.4", "2.3.5", "2.3.5")
