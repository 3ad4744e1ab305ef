"""One ingest run over many deliveries: each lands or is quarantined alone, and every fault leaves a trace.

An ingest task hands each delivery to `IngestRun.land`, on an autocommit connection so that each
delivery is its own transaction. A quarantined delivery becomes a finding (rule C3, kind `quarantined`,
with the ledger's message naming feed, reporter, file and what went wrong) and an alert through the
alerting pipeline; a later delivery of the same slice that lands resolves it. A delivery that could not
be loaded because of an error (not because of its sender's file), or a pull that failed, does not stop
the others: `finish` raises `DeliveriesFailed` with the list once all of them have been tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import psycopg

from epifeeds.feeds.contracts import FeedContract
from epifeeds.feeds.parsing import ParseResult
from epifeeds.landing.loader import LOAD_ERROR_PREFIX, Delivery, LandingOutcome, land_delivery

FINDINGS_LOCK = "epifeeds.dq.findings"


class DeliveriesFailed(RuntimeError):
    """Some deliveries of the run could not be pulled or loaded; the others are landed."""


@dataclass
class IngestRun:
    conn: psycopg.Connection
    archive_url: str
    as_of: datetime
    run_id: str | None = None
    landed: list[tuple[Delivery, LandingOutcome]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def land(
        self, contract: FeedContract, delivery: Delivery, parse: Callable[[bytes], ParseResult]
    ) -> LandingOutcome:
        outcome = land_delivery(self.conn, contract, self.archive_url, delivery, parse)
        # Kept for `finish` without its payload: a run of many large files would hold all of them till the end.
        self.landed.append((replace(delivery, payload=b""), outcome))
        if outcome.status == "quarantined" and outcome.message.startswith(LOAD_ERROR_PREFIX):
            self.failures.append(outcome.message)
        return outcome

    def failed(self, what: str) -> None:
        """A delivery that never reached the ledger (e.g. the API did not answer): listed at the end."""
        self.failures.append(what)

    def finish(self) -> None:
        """Findings and alerts for what was quarantined (resolved for what landed); then fail with the list."""
        report_quarantines(self.conn, self.landed, self.as_of, self.run_id)
        if self.failures:
            listed = "\n- ".join(self.failures)
            raise DeliveriesFailed(
                f"{len(self.failures)} of {len(self.landed) + len(self.failures) - _counted_twice(self)} "
                f"deliveries failed (the others are landed):\n- {listed}"
            )


def _counted_twice(run: IngestRun) -> int:
    """Load errors are both in `landed` (ledgered) and in `failures`."""
    return sum(
        1 for _, o in run.landed if o.status == "quarantined" and o.message.startswith(LOAD_ERROR_PREFIX)
    )


def _finding_key(delivery: Delivery) -> str:
    from epifeeds.quality.completeness import finding_key

    return finding_key("C3", "quarantined", delivery.feed, delivery.reporter, delivery.report_date)


def report_quarantines(
    conn: psycopg.Connection,
    outcomes: list[tuple[Delivery, LandingOutcome]],
    as_of: datetime,
    run_id: str | None = None,
) -> int:
    """A C3 finding per quarantined delivery (and its alert); landed ones resolve theirs. Returns how many
    deliveries are quarantined."""
    from epifeeds.quality.findings import Finding, record_findings
    from epifeeds.quality.results import CheckResult

    latest: dict[str, tuple[Delivery, LandingOutcome]] = {}
    for delivery, outcome in outcomes:  # the newest delivery of a slice decides (a resend that landed)
        key = _finding_key(delivery)
        if outcome.status in ("landed", "quarantined") and (
            key not in latest or outcome.batch_id > latest[key][1].batch_id
        ):
            latest[key] = (delivery, outcome)
    checked = []
    for delivery, outcome in latest.values():
        is_quarantined = outcome.status == "quarantined"
        result = CheckResult(
            "delivery_landed",
            "C3",
            delivery.feed,
            delivery.reporter,
            delivery.report_date,
            {"batch_id": outcome.batch_id, "status": outcome.status, "source_uri": delivery.source_uri},
            "landed",
            "error" if is_quarantined else "info",
            "fail" if is_quarantined else "pass",
        )
        finding = Finding(
            key=_finding_key(delivery),
            feed=delivery.feed,
            rule="C3",
            reporter=delivery.reporter,
            report_date=delivery.report_date,
            severity="error",
            summary=f"quarantined: {outcome.message}",
            details={"batch_id": outcome.batch_id, "source_uri": delivery.source_uri},
        )
        checked.append((result, finding))
    quarantined = sum(1 for result, _ in checked if result.status == "fail")
    if not checked:
        return 0
    # Runs of several ingests at once: the findings' known-exceptions sync (delete and re-insert) and the
    # alert grouping are not safe to run concurrently, so this run waits for the others' turn.
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (FINDINGS_LOCK,))
        record_findings(conn, checked, as_of)
    if quarantined:
        from epifeeds.alerts.notify import process_alerts

        conn.execute("select pg_advisory_lock(hashtext(%s))", (FINDINGS_LOCK,))
        try:
            process_alerts(conn, as_of, run_id=run_id)
        finally:
            conn.execute("select pg_advisory_unlock(hashtext(%s))", (FINDINGS_LOCK,))
    return quarantined
