"""default_args every epifeeds DAG shares: owner, retries and what happens when a task fails."""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def default_args(retry_delay: timedelta = timedelta(minutes=2)) -> dict[str, Any]:
    return {"owner": "data-platform", "retries": 2, "retry_delay": retry_delay}
