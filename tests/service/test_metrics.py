"""Prometheus metrics: run and change counters from run reports, API metrics from clients."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from groupsync import metrics
from groupsync.engine.report import GroupOutcome, RunReport
from groupsync.square.client import SquareClient
from groupsync.testing.emulator import EmulatorServer
from tests.engine import conftest as engine_fixtures


@pytest.fixture
def account() -> str:
    """An account label of this test alone, because the registry is shared by the process."""
    return f"test-{uuid.uuid4().hex[:8]}"


def sample(name: str, **labels: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(name, labels)


def report_of(account: str, *, status: str = "succeeded", dry_run: bool = False) -> RunReport:
    report = RunReport(run_id=1, account=account, trigger="schedule", dry_run=dry_run)
    report.status = status
    report.duration_s = 42.0
    return report


def test_record_run_counts_runs(account: str) -> None:
    metrics.record_run(report_of(account))
    metrics.record_run(report_of(account))
    metrics.record_run(report_of(account, status="failed"))

    runs = "groupsync_runs_total"
    assert sample(runs, account=account, trigger="schedule", status="succeeded") == 2
    assert sample(runs, account=account, trigger="schedule", status="failed") == 1


def test_record_run_counts_applied_changes(account: str) -> None:
    report = report_of(account)
    report.counts.adds = 5
    report.counts.removes = 2
    report.counts.creates = 1

    metrics.record_run(report)

    changes = "groupsync_changes_total"
    assert sample(changes, account=account, kind="add", outcome="applied") == 5
    assert sample(changes, account=account, kind="remove", outcome="applied") == 2
    assert sample(changes, account=account, kind="create_customer", outcome="applied") == 1


def test_record_run_counts_failed_changes(account: str) -> None:
    report = report_of(account, status="failed")
    report.groups["vip"] = GroupOutcome(name="vip", mode="mirror", failed=3)
    report.counts.failed = 4

    metrics.record_run(report)

    changes = "groupsync_changes_total"
    assert sample(changes, account=account, kind="add_or_remove", outcome="failed") == 3
    assert sample(changes, account=account, kind="other", outcome="failed") == 1


def test_record_run_sets_held_groups(account: str) -> None:
    held = report_of(account, status="held")
    held.counts.held_groups = 2

    metrics.record_run(held)
    after_held = sample("groupsync_held_groups", account=account)
    metrics.record_run(report_of(account))

    assert after_held == 2
    assert sample("groupsync_held_groups", account=account) == 0


def test_record_run_observes_duration(account: str) -> None:
    metrics.record_run(report_of(account))

    assert sample("groupsync_run_duration_seconds_count", account=account) == 1
    assert sample("groupsync_run_duration_seconds_sum", account=account) == 42.0
    assert sample("groupsync_run_duration_seconds_bucket", account=account, le="60.0") == 1


def test_last_success_set_by_success(account: str) -> None:
    metrics.record_run(report_of(account), finished_at_s=1_700_000_000.0)
    metrics.record_run(report_of(account, status="failed"), finished_at_s=1_700_000_600.0)

    assert sample("groupsync_last_success_timestamp_seconds", account=account) == 1_700_000_000.0


def test_last_success_seeded(account: str) -> None:
    metrics.set_last_success(account, 1_600_000_000.0)

    assert sample("groupsync_last_success_timestamp_seconds", account=account) == 1_600_000_000.0


def test_dry_run_counts_only_as_run(account: str) -> None:
    report = report_of(account, dry_run=True)
    report.counts.adds = 5
    report.counts.held_groups = 1

    metrics.record_run(report)

    assert sample("groupsync_runs_total", account=account, trigger="schedule", status="succeeded")
    assert sample("groupsync_changes_total", account=account, kind="add", outcome="applied") is None
    assert sample("groupsync_held_groups", account=account) is None
    assert sample("groupsync_run_duration_seconds_count", account=account) is None


def test_crashed_run_counts_as_failed(account: str) -> None:
    metrics.record_crashed_run(account=account, trigger="notify")

    assert sample("groupsync_runs_total", account=account, trigger="notify", status="failed") == 1


client = engine_fixtures.client


@pytest.fixture
def registered(client: SquareClient, account: str) -> Iterator[SquareClient]:
    """The emulator's client, reported under this test's account."""
    metrics.register_client(account, client)
    yield client
    metrics.unregister_client(account)


async def test_api_requests_by_operation_status(
    registered: SquareClient, emulator: EmulatorServer, account: str
) -> None:
    await emulator.admin.add_fault_rule(kind="status", status=503, times=1)

    await registered.list_groups()

    requests = "groupsync_api_requests_total"
    assert sample(requests, account=account, operation="ListCustomerGroups", status="503") == 1
    assert sample(requests, account=account, operation="ListCustomerGroups", status="200") == 1
    assert sample("groupsync_api_retries_total", account=account) == 1


async def test_api_rate_limited_counted(
    registered: SquareClient, emulator: EmulatorServer, account: str
) -> None:
    await emulator.admin.add_fault_rule(kind="status", status=429, times=2, retry_after_s=0)

    await registered.list_groups()

    assert sample("groupsync_api_rate_limited_total", account=account) == 2
    assert sample("groupsync_api_retries_total", account=account) == 2


async def test_limiter_rate_reported(registered: SquareClient, account: str) -> None:
    rate = sample("groupsync_limiter_rate_per_second", account=account)

    assert rate == registered.limiter.current_rate_per_s
    assert rate is not None and math.isinf(rate)


async def test_unregistered_client_not_reported(registered: SquareClient, account: str) -> None:
    metrics.unregister_client(account)

    assert sample("groupsync_limiter_rate_per_second", account=account) is None


async def test_exposition_names_are_stable(registered: SquareClient, account: str) -> None:
    metrics.record_run(report_of(account))
    await registered.list_groups()

    text = generate_latest(metrics.REGISTRY).decode()

    for name in (
        "groupsync_runs_total",
        "groupsync_changes_total",
        "groupsync_run_duration_seconds_bucket",
        "groupsync_last_success_timestamp_seconds",
        "groupsync_held_groups",
        "groupsync_api_requests_total",
        "groupsync_api_retries_total",
        "groupsync_api_rate_limited_total",
        "groupsync_limiter_rate_per_second",
        "groupsync_limiter_in_flight",
    ):
        assert f"\n{name}{{" in text, name
