"""milvus_root_path_plan: a new cluster's random etcd root path, and the root an existing cluster
keeps (what the milvus role and preflight decide from what etcd holds)."""

from __future__ import annotations

import pytest
from ansible_collections.vectorops.milvus.plugins.filter.milvus import milvus_root_path_plan


def test_a_new_cluster_takes_the_generated_root_and_records_it():
    assert milvus_root_path_plan("", generated="vo-k2x9q") == {
        "root_path": "vo-k2x9q", "record": True, "problem": ""}
    # a name the inventory sets is used and recorded instead
    assert milvus_root_path_plan("", wanted="prod-a", generated="vo-k2x9q")["root_path"] == "prod-a"


def test_a_recorded_root_is_kept_and_not_written_again():
    # etcdctl's answer ends with a newline
    kept = milvus_root_path_plan("vo-k2x9q\n", generated="vo-other")
    assert kept == {"root_path": "vo-k2x9q", "record": False, "problem": ""}
    assert milvus_root_path_plan("vo-k2x9q", wanted="vo-k2x9q")["problem"] == ""


def test_a_cluster_from_before_the_record_keeps_the_old_default():
    got = milvus_root_path_plan("", legacy_found=True, generated="vo-k2x9q")
    assert got == {"root_path": "by-dev", "record": True, "problem": ""}


@pytest.mark.parametrize(("recorded", "legacy_found", "current"),
                         [("vo-k2x9q", False, "vo-k2x9q"), ("", True, "by-dev")])
def test_another_root_for_an_existing_cluster_is_refused_in_one_line(recorded, legacy_found, current):
    got = milvus_root_path_plan(recorded, wanted="prod-b", legacy_found=legacy_found, generated="vo-x")
    assert got["root_path"] == "" and got["record"] is False
    assert got["problem"] == (f"milvus_etcd_root_path is 'prod-b', but this cluster's Milvus metadata is "
                              f"under '{current}' in etcd: another root path would orphan every collection; "
                              f"remove the setting, or set it to '{current}'")


@pytest.mark.parametrize("bad", ["a/b", "-x", "x y", "a" * 65, "by dev"])
def test_a_root_that_is_not_a_plain_name_is_refused(bad):
    got = milvus_root_path_plan("", wanted=bad, generated="vo-x")
    assert "must be 1 to 64 letters, digits" in got["problem"]


def test_nothing_usable_is_a_problem_not_an_empty_root():
    got = milvus_root_path_plan("", generated="")
    assert got["problem"].startswith("milvus_root_path_plan: no usable root")
