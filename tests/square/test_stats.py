"""RequestStats: counts by operation and status, retries and 429 responses."""

from __future__ import annotations

from groupsync.square.stats import NO_RESPONSE, RequestStats


def test_counts_by_operation_and_status() -> None:
    stats = RequestStats()

    stats.count_request("ListCustomers", 200)
    stats.count_request("ListCustomers", 200)
    stats.count_request("ListCustomers", 503)

    assert stats.requests == {("ListCustomers", 200): 2, ("ListCustomers", 503): 1}
    assert stats.total_requests == 3


def test_counts_rate_limited() -> None:
    stats = RequestStats()

    stats.count_request("SearchCustomers", 429)
    stats.count_request("SearchCustomers", 200)

    assert stats.rate_limited == 1


def test_counts_retries() -> None:
    stats = RequestStats()

    stats.count_retry()
    stats.count_retry()

    assert stats.retries == 2


def test_requests_is_a_copy() -> None:
    stats = RequestStats()
    stats.count_request("ListCustomers", 200)

    snapshot = stats.requests
    stats.count_request("ListCustomers", 200)

    assert snapshot == {("ListCustomers", 200): 1}


def test_as_dict() -> None:
    stats = RequestStats()
    stats.count_request("ListCustomers", 200)
    stats.count_request("ListCustomers", NO_RESPONSE)
    stats.count_retry()

    assert stats.as_dict() == {
        "total_requests": 2,
        "retries": 1,
        "rate_limited": 0,
        "requests": {"ListCustomers": {"200": 1, "error": 1}},
    }
