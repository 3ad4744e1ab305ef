"""Every task has a time limit, and the simulated agency API refuses to run without a token."""

from __future__ import annotations

from datetime import timedelta

import pytest

from epifeeds.settings import DAGS_DIR

pytestmark = pytest.mark.dags


def test_every_task_of_every_dag_has_an_execution_timeout():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    without = [
        f"{dag.dag_id}.{task.task_id}"
        for dag in bag.dags.values()
        for task in dag.tasks
        if not task.execution_timeout
    ]
    assert bag.dags and not without, f"tasks without an execution_timeout: {without}"
    assert all(
        task.execution_timeout <= timedelta(hours=1) for dag in bag.dags.values() for task in dag.tasks
    )


@pytest.mark.parametrize("token", ["", "   "])
def test_the_simulator_refuses_an_empty_token(tmp_path, token):
    from epifeeds_sim.server import create_app

    with pytest.raises(ValueError, match="non-empty token"):
        create_app(tmp_path, token)
