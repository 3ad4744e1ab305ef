"""dbt-project-evaluator's rules, checked on the parsed manifest (the package itself cannot be installed).

Each test is one of the evaluator's rules (its documentation, "Rules"), computed the way the
package's SQL computes it, with the project's own settings from `vars.dbt_project_evaluator` in
`dbt_project.yml` (marts prefixes, primary-key test macros). docs/architecture.md ("The dbt
project") says which rules hold and why the exceptions listed in EXCEPTIONS are kept.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from functools import cache
from pathlib import Path, PurePosixPath

import pytest
import yaml

from epifeeds.settings import DBT_PROJECT_DIR
from epifeeds.warehouse import run_dbt

pytestmark = pytest.mark.unit

PROJECT = "epifeeds"
EVALUATOR_VARS = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"][
    "dbt_project_evaluator"
]
PREFIXES = {
    "staging": ["stg_"],
    "intermediate": ["int_"],
    "marts": EVALUATOR_VARS.get("marts_prefixes", ["fct_", "dim_"]),
    "other": ["rpt_"],
}
FOLDERS = {"staging": "staging", "intermediate": "intermediate", "marts": "marts"}
FANOUT_THRESHOLD = EVALUATOR_VARS.get("models_fanout_threshold", 3)
TOO_MANY_JOINS_THRESHOLD = EVALUATOR_VARS.get("too_many_joins_threshold", 7)
CHAINED_VIEWS_THRESHOLD = EVALUATOR_VARS.get("chained_views_threshold", 4)
# Rule -> what it may report, each explained in docs/architecture.md ("dbt-project-evaluator's rules"):
# a published bulletin is a finite series imported when found, not a feed on a clock (no freshness SLA).
EXCEPTIONS: dict[str, set] = {"sources_without_freshness": {"bulletins.bulletin_measures"}}


@cache
def _manifest(tmp_dir: str) -> dict:
    run_dbt(["parse"], target_path=Path(tmp_dir), log_path=Path(tmp_dir) / "logs")
    return json.loads((Path(tmp_dir) / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _manifest(str(tmp_path_factory.mktemp("evaluator")))


def _ours(manifest: dict, resource_type: str) -> dict[str, dict]:
    nodes = manifest["sources"] if resource_type == "source" else manifest["nodes"]
    if resource_type == "exposure":
        nodes = manifest["exposures"]
    return {
        uid: node
        for uid, node in nodes.items()
        if node["resource_type"] == resource_type and node["package_name"] == PROJECT
    }


def _name(manifest: dict, uid: str) -> str:
    node = manifest["sources"].get(uid) or manifest["nodes"].get(uid) or manifest["exposures"].get(uid)
    if node["resource_type"] == "source":
        return f"{node['source_name']}.{node['name']}"
    return node["name"]


def _parents(manifest: dict) -> dict[str, list[str]]:
    """Direct parents of every model, snapshot and exposure (tests are not part of the DAG rules)."""
    return {
        uid: node["depends_on"]["nodes"]
        for kind in ("model", "snapshot", "exposure")
        for uid, node in _ours(manifest, kind).items()
    }


def _children(manifest: dict) -> dict[str, list[str]]:
    children = defaultdict(list)
    for child, parents in _parents(manifest).items():
        for parent in parents:
            children[parent].append(child)
    return children


def _model_type(node: dict) -> str:
    """By prefix first, then by the closest layer folder, else `other` (int_all_graph_resources)."""
    for model_type, prefixes in PREFIXES.items():
        if any(node["name"].startswith(prefix) for prefix in prefixes):
            return model_type
    return _folder_type(node) or "other"


def _folder_type(node: dict) -> str | None:
    for folder in reversed(PurePosixPath(node["original_file_path"]).parent.parts):
        for model_type, name in FOLDERS.items():
            if folder == name:
                return model_type
    return None


def _violations(rule: str, found: set) -> set:
    return found - EXCEPTIONS.get(rule, set())


# Modeling


def test_direct_join_to_source(manifest: dict) -> None:
    found = {
        _name(manifest, uid)
        for uid, parents in _parents(manifest).items()
        if uid.startswith("model.")
        and any(p.startswith("source.") for p in parents)
        and any(not p.startswith("source.") for p in parents)
    }
    assert _violations("direct_join_to_source", found) == set()


def test_marts_or_intermediate_dependent_on_source(manifest: dict) -> None:
    models = _ours(manifest, "model")
    found = {
        models[uid]["name"]
        for uid, parents in _parents(manifest).items()
        if uid in models
        and _model_type(models[uid]) in ("intermediate", "marts")
        and any(p.startswith("source.") for p in parents)
    }
    assert _violations("marts_or_intermediate_dependent_on_source", found) == set()


def test_duplicate_sources(manifest: dict) -> None:
    by_relation = defaultdict(list)
    for source in _ours(manifest, "source").values():
        by_relation[(source["database"], source["schema"], source["identifier"])].append(source["name"])
    assert {k: v for k, v in by_relation.items() if len(v) > 1} == {}


def test_hard_coded_references(manifest: dict) -> None:
    # a `from`/`join` followed by schema.table outside of ref()/source() (find_all_hard_coded_references)
    pattern = re.compile(r"\b(?:from|join)\s+(?!\{\{)[\"\w]+\.[\"\w]+", re.IGNORECASE)
    found = set()
    for node in _ours(manifest, "model").values():
        code = re.sub(r"--[^\n]*|\{#.*?#\}", "", node["raw_code"], flags=re.DOTALL)
        if pattern.search(code):
            found.add(node["name"])
    assert _violations("hard_coded_references", found) == set()


def test_model_fanout(manifest: dict) -> None:
    children = _children(manifest)
    models = _ours(manifest, "model")
    leaves = {uid for uid in models if not children.get(uid)}
    found = {
        _name(manifest, parent): sorted(models[c]["name"] for c in kids if c in leaves)
        for parent, kids in children.items()
        if sum(1 for c in kids if c in leaves) >= FANOUT_THRESHOLD
    }
    assert _violations("model_fanout", set(found)) == set(), found


def test_multiple_sources_joined(manifest: dict) -> None:
    found = {
        _name(manifest, uid)
        for uid, parents in _parents(manifest).items()
        if uid.startswith("model.") and sum(p.startswith("source.") for p in parents) > 1
    }
    assert _violations("multiple_sources_joined", found) == set()


def test_rejoining_of_upstream_concepts(manifest: dict) -> None:
    parents = {uid: ps for uid, ps in _parents(manifest).items() if not uid.startswith("exposure.")}
    children = defaultdict(set)
    for child, ps in parents.items():
        for parent in ps:
            children[parent].add(child)
    found = set()
    for child, direct in parents.items():
        for middle in direct:
            # middle is a child of a direct parent of `child` too, and has no other child
            for parent in parents.get(middle, []):
                if parent in direct and children[middle] == {child}:
                    found.add((_name(manifest, parent), _name(manifest, middle), _name(manifest, child)))
    assert _violations("rejoining_of_upstream_concepts", found) == set()


def test_root_models(manifest: dict) -> None:
    found = {
        _name(manifest, uid) for uid, ps in _parents(manifest).items() if uid.startswith("model.") and not ps
    }
    assert _violations("root_models", found) == set()


def test_source_fanout(manifest: dict) -> None:
    children = _children(manifest)
    found = {_name(manifest, uid): children.get(uid, []) for uid in _ours(manifest, "source")}
    assert {k: v for k, v in found.items() if len(v) > 1} == {}


def test_staging_depends_only_on_sources(manifest: dict) -> None:
    # staging_dependent_on_staging and staging_dependent_on_marts_or_intermediate
    models = _ours(manifest, "model")
    found = {
        (_name(manifest, parent), node["name"])
        for uid, node in models.items()
        if _model_type(node) == "staging"
        for parent in _parents(manifest)[uid]
        if parent in models
    }
    assert _violations("staging_dependent_on_models", found) == set()


def test_unused_sources(manifest: dict) -> None:
    children = _children(manifest)
    found = {_name(manifest, uid) for uid in _ours(manifest, "source") if not children.get(uid)}
    assert _violations("unused_sources", found) == set()


def test_too_many_joins(manifest: dict) -> None:
    found = {
        _name(manifest, uid): len(set(ps))
        for uid, ps in _parents(manifest).items()
        if uid.startswith("model.") and len(set(ps)) >= TOO_MANY_JOINS_THRESHOLD
    }
    assert found == {}


# Testing


def _tests_by_model(manifest: dict) -> dict[str, list[dict]]:
    tests = defaultdict(list)
    for test in _ours(manifest, "test").values():
        if test.get("attached_node"):
            tests[test["attached_node"]].append(test)
    return tests


def test_missing_primary_key_tests(manifest: dict) -> None:
    test_sets = EVALUATOR_VARS.get(
        "primary_key_test_macros",
        [["dbt.test_unique", "dbt.test_not_null"], ["dbt_utils.test_unique_combination_of_columns"]],
    )
    # the evaluator names a flag column after each macro's name: two macros of one name would collide
    names = [macro.split(".")[1] for test_set in test_sets for macro in test_set]
    assert len(names) == len(set(names)), f"primary_key_test_macros repeats a macro name: {names}"
    tests = _tests_by_model(manifest)
    found = set()
    for uid, model in _ours(manifest, "model").items():
        by_column = defaultdict(set)
        for test in tests.get(uid, []):
            by_column[test.get("column_name")].update(test["depends_on"]["macros"])
        tested = any(
            all(f"macro.{macro}" in macros for macro in test_set)
            for macros in by_column.values()
            for test_set in test_sets
        )
        if not tested:
            found.add(model["name"])
    assert _violations("missing_primary_key_tests", found) == set()


def test_sources_without_freshness(manifest: dict) -> None:
    found = {
        _name(manifest, uid)
        for uid, source in _ours(manifest, "source").items()
        if not (source.get("freshness") or {}).get("warn_after", {}).get("count")
        and not (source.get("freshness") or {}).get("error_after", {}).get("count")
    }
    assert _violations("sources_without_freshness", found) == set()


def test_test_coverage(manifest: dict) -> None:
    tests = _tests_by_model(manifest)
    found = {model["name"] for uid, model in _ours(manifest, "model").items() if not tests.get(uid)}
    assert found == set()


# Documentation


def test_every_model_and_source_is_documented(manifest: dict) -> None:
    found = {
        _name(manifest, uid) for uid, node in _ours(manifest, "model").items() if not node["description"]
    }
    found |= {
        _name(manifest, uid) for uid, node in _ours(manifest, "source").items() if not node["description"]
    }
    found |= {
        node["source_name"]
        for node in _ours(manifest, "source").values()
        if not node.get("source_description")
    }
    assert found == set()


# Structure


def test_model_naming_conventions(manifest: dict) -> None:
    found = {
        node["name"]
        for node in _ours(manifest, "model").values()
        if not any(node["name"].startswith(prefix) for prefix in PREFIXES[_folder_type(node) or "other"])
    }
    assert _violations("model_naming_conventions", found) == set()


def test_model_directories(manifest: dict) -> None:
    found = set()
    parents = _parents(manifest)
    for uid, node in _ours(manifest, "model").items():
        model_type = _model_type(node)
        folders = PurePosixPath(node["original_file_path"]).parent.parts
        if model_type == "staging":
            for parent in parents[uid]:
                if parent.startswith("source.") and manifest["sources"][parent]["source_name"] not in folders:
                    found.add(node["name"])
        if model_type != (_folder_type(node) or "other"):
            found.add(node["name"])
    assert _violations("model_directories", found) == set()


def test_source_directories(manifest: dict) -> None:
    found = {
        _name(manifest, uid)
        for uid, source in _ours(manifest, "source").items()
        if PurePosixPath(source["original_file_path"]).parent.parts[-2:] != ("staging", source["source_name"])
    }
    assert _violations("source_directories", found) == set()


def test_test_directories(manifest: dict) -> None:
    nodes = {**manifest["nodes"], **manifest["sources"]}
    found = set()
    for test in _ours(manifest, "test").values():
        attached = nodes.get(test.get("attached_node") or "")
        if (
            not attached
            or test["original_file_path"].startswith("tests/")
            or attached["resource_type"] != "model"
        ):
            continue
        if (
            PurePosixPath(test["original_file_path"]).parent
            != PurePosixPath(attached["original_file_path"]).parent
        ):
            found.add((test["name"], test["original_file_path"]))
    assert _violations("test_directories", found) == set()


# Performance


def test_chained_views_dependencies(manifest: dict) -> None:
    nodes = manifest["nodes"]
    parents = _parents(manifest)

    def longest_view_chain(uid: str) -> int:
        """Views (or ephemerals) in a row above `uid`, counting the first non-view too (the distance)."""
        best = 0
        for parent in parents.get(uid, []):
            node = nodes.get(parent)
            if (
                node
                and node["resource_type"] == "model"
                and node["config"]["materialized"] in ("view", "ephemeral")
            ):
                best = max(best, 1 + longest_view_chain(parent))
            else:
                best = max(best, 1)
        return best

    found = {
        node["name"]: longest_view_chain(uid)
        for uid, node in _ours(manifest, "model").items()
        if longest_view_chain(uid) > CHAINED_VIEWS_THRESHOLD
    }
    assert found == {}


def test_exposure_parents_are_tables(manifest: dict) -> None:
    nodes = manifest["nodes"]
    found = {
        (exposure["name"], parent)
        for exposure in _ours(manifest, "exposure").values()
        for parent in exposure["depends_on"]["nodes"]
        if parent not in nodes or nodes[parent]["config"]["materialized"] not in ("table", "incremental")
    }
    assert found == set()


# Governance


def test_exposures_read_public_contracted_documented_models(manifest: dict) -> None:
    nodes = manifest["nodes"]
    exposed = {
        p for exposure in _ours(manifest, "exposure").values() for p in exposure["depends_on"]["nodes"]
    }
    private = {nodes[p]["name"] for p in exposed if nodes[p].get("access") != "public"}
    public = [node for node in _ours(manifest, "model").values() if node.get("access") == "public"]
    without_contract = {node["name"] for node in public if not node["config"]["contract"]["enforced"]}
    undocumented = {
        node["name"]
        for node in public
        if not node["description"] or any(not column["description"] for column in node["columns"].values())
    }
    assert (private, without_contract, undocumented) == (set(), set(), set())
