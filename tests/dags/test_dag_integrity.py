"""Every DAG file imports cleanly and follows the house rules (tags, owner, retries, docs, schedule)."""

import time

import pytest

from epifeeds.settings import DAGS_DIR

pytestmark = pytest.mark.dags

EXPECTED_DAGS = {
    "ingest_registries",
    "ingest_district_reports",
    "ingest_testing_sites",
    "ingest_isolation_hotels",
    "ingest_bulletins",
    "build_warehouse",
    "feed_watchdog",
}


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(DAGS_DIR))
    bag.parse_seconds = time.perf_counter() - started
    return bag


def test_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}


def test_the_platform_dags_are_all_there(dag_bag):
    assert EXPECTED_DAGS <= set(dag_bag.dag_ids)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_house_rules(dag_bag, dag_id):
    dag = dag_bag.dags[dag_id]
    assert dag.tags and "epifeeds" in dag.tags, "every DAG is tagged 'epifeeds' plus its area"
    assert dag.doc_md and len(dag.doc_md.strip()) > 80, "every DAG explains itself in doc_md"
    assert dag.catchup is False
    assert dag.timetable is not None
    for task in dag.tasks:
        assert task.retries >= 2, f"{dag_id}.{task.task_id} has retries={task.retries}"
        assert task.owner == "data-platform", f"{dag_id}.{task.task_id} has owner {task.owner}"


def test_dag_files_stay_thin():
    for path in DAGS_DIR.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 80, f"{path.name} is over 80 lines"
