"""default_args every epifeeds DAG shares: owner, retries, a time limit and what happens when a task fails.

Every task has an `execution_timeout` (EPIFEEDS_TASK_TIMEOUT_MINUTES, default 30): a task that hangs
(a server trickling its answer, a lock never granted) is killed by Airflow and retried, never left
running. The HTTP client's own overall deadline (5 minutes a day) is well inside it.

A task that fails for good (its retries used up) is reported to the alert channels by
`AlertFailureNotifier` (see docs/alerts.md): "DAG x task y failed for run z (try n)" with the log URL.
With no channel configured it only logs a warning, so it never fails a DAG.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from epifeeds.alerts.airflow_failures import failure_notifier
from epifeeds.settings import load_settings


def task_timeout() -> timedelta:
    return timedelta(minutes=load_settings().task_timeout_minutes)  # validated: a bad value fails at parse


def default_args(
    retry_delay: timedelta = timedelta(minutes=2), execution_timeout: timedelta | None = None
) -> dict[str, Any]:
    return {
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": retry_delay,
        "execution_timeout": execution_timeout or task_timeout(),
        "on_failure_callback": [failure_notifier()],
    }
