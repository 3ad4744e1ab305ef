"""Airflow task and DAG failures reach the same channels as data alerts, through an Airflow 3 notifier.

`default_args()` (epifeeds.dag_defaults) puts `AlertFailureNotifier()` in every task's
`on_failure_callback`; a DAG can also pass it as its own `on_failure_callback`. Failures are routed as
feed ``airflow`` with severity ``error``: the default channels plus any EPIFEEDS_ALERT_ROUTES entry for
``airflow`` or ``*``. With no channel configured the notifier logs a warning and returns: a missing
alert channel never fails a DAG. A delivery that fails after its retries is logged as an error in the
task log with the full message (Airflow re-runs nothing for a callback, so the log is its record).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier

from epifeeds.alerts.channels import Message, send_with_retries
from epifeeds.alerts.routing import AIRFLOW_FEED, AlertConfig, load_alert_config


def failure_message(context: dict[str, Any], airflow_url: str) -> Message:
    """'DAG x task y failed for run z (try n)', with the error, the log URL and the run URL."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", "?")
    run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None) or context.get("run_id") or "?"
    run_url = f"{airflow_url}/dags/{dag_id}/runs/{quote(str(run_id), safe='')}"
    error = context.get("exception") or context.get("reason")
    interval_end = context.get("data_interval_end")
    if ti is not None:
        task_id, try_number = ti.task_id, getattr(ti, "try_number", None)
        map_index = getattr(ti, "map_index", -1)
        task = task_id + (f"[{map_index}]" if isinstance(map_index, int) and map_index >= 0 else "")
        try:
            log_url = ti.log_url
        except Exception:  # the URL is a convenience; the message goes out without it
            log_url = f"{run_url}/tasks/{quote(task_id, safe='')}"
        what = f"DAG {dag_id} task {task} failed for run {run_id} (try {try_number})"
    else:
        task_id, try_number, log_url = None, None, run_url
        what = f"DAG {dag_id} failed for run {run_id}"
    lines = [what]
    if error:
        lines.append(
            f"Error: {type(error).__name__ + ': ' if isinstance(error, BaseException) else ''}{error}"
        )
    if interval_end:
        lines.append(f"Data interval end: {interval_end}")
    lines += [
        f"Log: {log_url}",
        f"Airflow run: {run_url}",
        "What to do: read the log; once the cause is fixed, clear the failed task to re-run it.",
    ]
    payload = {
        "kind": "failure",
        "rule": "airflow",
        "feed": AIRFLOW_FEED,
        "reporter": dag_id,
        "report_date": None,
        "severity": "error",
        "alert_id": None,
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": str(run_id),
        "try_number": try_number,
        "log_url": log_url,
        "error": str(error) if error else None,
    }
    return Message(title=f"[FAILED] {what}", body="\n".join(lines), payload=payload)


class AlertFailureNotifier(BaseNotifier):
    """Send Airflow failures to the alert channels (use as on_failure_callback); never raises."""

    def __init__(self, config: AlertConfig | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alert_config = config

    def notify(self, context: dict[str, Any]) -> None:
        try:
            config = self.alert_config or load_alert_config()
            message = failure_message(context, config.airflow_url)
            channels = config.channels_for(AIRFLOW_FEED, "error")
        except Exception:
            self.log.exception("Could not prepare the failure alert (check the EPIFEEDS_ALERT_* settings)")
            return
        if not channels:
            self.log.warning(
                "No alert channel configured (EPIFEEDS_ALERT_WEBHOOK_URL, EPIFEEDS_ALERT_EMAIL_TO or an "
                "EPIFEEDS_ALERT_ROUTES entry for 'airflow'); not sent: %s",
                message.title,
            )
            return
        for channel in channels:
            outcomes = send_with_retries(
                channel, message, config.delivery_attempts, config.retry_backoff_seconds
            )
            delivered, said = outcomes[-1]
            if delivered:
                self.log.info("Failure alert sent to %s (%s): %s", channel.channel_id, said, message.title)
            else:
                self.log.error(
                    "Failure alert NOT delivered to %s after %d attempts (%s). Message was:\n%s\n%s",
                    channel.channel_id,
                    len(outcomes),
                    said,
                    message.title,
                    message.body,
                )


def failure_notifier() -> AlertFailureNotifier:
    return AlertFailureNotifier()
