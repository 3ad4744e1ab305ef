"""default_args every epifeeds DAG shares: owner, retries and what happens when a task fails.

A task that fails for good (its retries used up) is reported to the alert channels by
`AlertFailureNotifier` (see docs/alerts.md): "DAG x task y failed for run z (try n)" with the log URL.
With no channel configured it only logs a warning, so it never fails a DAG.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from epifeeds.alerts.airflow_failures import failure_notifier


def default_args(retry_delay: timedelta = timedelta(minutes=2)) -> dict[str, Any]:
    return {
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": retry_delay,
        "on_failure_callback": [failure_notifier()],
    }
