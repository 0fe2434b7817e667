"""Prometheus metrics of the service: runs, changes, Square API traffic and the rate limiter.

Every metric lives in :data:`REGISTRY`, which ``/metrics`` serves. Run metrics are updated
by :func:`record_run` after each run. API metrics are read at scrape time from the Square
clients passed to :func:`register_client`, so they cost nothing between scrapes. Every
metric carries an ``account`` label. docs/deployment.md lists the names and label values,
which dashboards and alerts depend on: change them only with a note in the changelog.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from groupsync.engine.report import RunReport
from groupsync.square.client import SquareClient

REGISTRY = CollectorRegistry()

# Run durations range from seconds (a small account with nothing to change) to hours (a
# first sync of a large account at Square's rate limit).
RUN_DURATION_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1_800, 3_600, 7_200, 14_400)

RUNS = Counter(
    "groupsync_runs",
    "Finished runs by trigger and final status (succeeded, held, failed, interrupted).",
    ["account", "trigger", "status"],
    registry=REGISTRY,
)
CHANGES = Counter(
    "groupsync_changes",
    "Changes sent to Square by kind and outcome (applied or failed).",
    ["account", "kind", "outcome"],
    registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "groupsync_run_duration_seconds",
    "Wall-clock duration of finished runs, dry runs excluded.",
    ["account"],
    buckets=RUN_DURATION_BUCKETS_S,
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "groupsync_last_success_timestamp_seconds",
    "Unix time at which the account's last succeeded run finished.",
    ["account"],
    registry=REGISTRY,
)
HELD_GROUPS = Gauge(
    "groupsync_held_groups",
    "Groups whose removals the guards held in the account's last run.",
    ["account"],
    registry=REGISTRY,
)


def record_run(report: RunReport, *, finished_at_s: float | None = None) -> None:
    """Count a finished run in the run, change and duration metrics.

    Dry runs count in ``groupsync_runs_total`` only, because they change nothing and say
    nothing about the account's state. ``finished_at_s`` (Unix time) defaults to now.
    """
    account = report.account
    RUNS.labels(account, report.trigger, report.status).inc()
    if report.dry_run:
        return

    RUN_DURATION.labels(account).observe(report.duration_s)
    HELD_GROUPS.labels(account).set(report.counts.held_groups)
    for kind, outcome, count in _changes(report):
        if count:
            CHANGES.labels(account, kind, outcome).inc(count)
    if report.status == "succeeded":
        if finished_at_s is None:
            LAST_SUCCESS.labels(account).set_to_current_time()
        else:
            LAST_SUCCESS.labels(account).set(finished_at_s)


def record_crashed_run(*, account: str, trigger: str) -> None:
    """Count a run that raised instead of returning a report, as ``status="failed"``."""
    RUNS.labels(account, trigger, "failed").inc()


def set_last_success(account: str, finished_at_s: float) -> None:
    """Set the account's last success time, for example from the database at startup."""
    LAST_SUCCESS.labels(account).set(finished_at_s)


def _changes(report: RunReport) -> list[tuple[str, str, int]]:
    counts = report.counts
    membership_failures = sum(group.failed for group in report.groups.values())
    # The report counts failures per group, not per kind: a failed add and a failed remove
    # both land in add_or_remove. Failed customer creations, group creations and renames,
    # and people that could not be resolved land in other.
    return [
        ("add", "applied", counts.adds),
        ("remove", "applied", counts.removes),
        ("create_customer", "applied", counts.creates),
        ("add_or_remove", "failed", membership_failures),
        ("other", "failed", max(counts.failed - membership_failures, 0)),
    ]


class _ClientCollector(Collector):
    """Reads the registered clients' request counters and limiter rate at scrape time."""

    def __init__(self) -> None:
        self._clients: dict[str, SquareClient] = {}
        self._lock = threading.Lock()

    def register(self, account: str, client: SquareClient) -> None:
        with self._lock:
            self._clients[account] = client

    def unregister(self, account: str) -> None:
        with self._lock:
            self._clients.pop(account, None)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            clients = dict(self._clients)

        requests = CounterMetricFamily(
            "groupsync_api_requests",
            "Attempts sent to Square by operation and HTTP status (error: no response).",
            labels=["account", "operation", "status"],
        )
        retries = CounterMetricFamily(
            "groupsync_api_retries", "Retries scheduled after a failed attempt.", labels=["account"]
        )
        rate_limited = CounterMetricFamily(
            "groupsync_api_rate_limited",
            "Responses with status 429 (rate limited).",
            labels=["account"],
        )
        rate = GaugeMetricFamily(
            "groupsync_limiter_rate_per_second",
            "Requests per second that the adaptive rate limiter allows now.",
            labels=["account"],
        )
        in_flight = GaugeMetricFamily(
            "groupsync_limiter_in_flight",
            "Requests to Square in flight now.",
            labels=["account"],
        )

        for account, client in sorted(clients.items()):
            stats = client.stats
            for (operation, status), count in sorted(
                stats.requests.items(), key=lambda item: (item[0][0], str(item[0][1]))
            ):
                requests.add_metric([account, operation, str(status)], count)
            retries.add_metric([account], stats.retries)
            rate_limited.add_metric([account], stats.rate_limited)
            rate.add_metric([account], client.limiter.current_rate_per_s)
            in_flight.add_metric([account], client.limiter.in_flight)

        yield from (requests, retries, rate_limited, rate, in_flight)


_CLIENTS = _ClientCollector()
REGISTRY.register(_CLIENTS)


def register_client(account: str, client: SquareClient) -> None:
    """Report ``client``'s requests and limiter under ``account``, replacing an earlier one.

    The counters restart from the new client's totals, which Prometheus reads as a counter
    reset, so keep one client per account for the life of the process where possible.
    """
    _CLIENTS.register(account, client)


def unregister_client(account: str) -> None:
    """Stop reporting the API metrics of ``account``."""
    _CLIENTS.unregister(account)
