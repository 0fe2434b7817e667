"""Client CPU: what one membership change costs groupsync's Square client, next to bare aiohttp.

S1 and S2 report groupsync's CPU per API call for whole runs, which include process
start, staging and planning. This benchmark isolates the send path. It sends the same
number of AddGroupToCustomer and RemoveGroupFromCustomer requests, at the same pace, to
the same emulator process (40 ms + up to 10 ms latency). One measurement sends them
through ``SquareClient`` (rate limiter, retries, error mapping, request counts), the other
through a plain ``aiohttp.ClientSession`` paced by a sleep between sends. The two run in
turn, twice each, in one process, and each measures the process CPU time it used per
request.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import machine, write_results  # noqa: E402
from groupsync.square.client import SquareClient  # noqa: E402
from groupsync.square.limiter import RateLimiter  # noqa: E402
from groupsync.testing.emulator import EmulatorProcess  # noqa: E402

Send = Callable[[int], Awaitable[None]]


async def measure(send: Send, *, requests: int, max_in_flight: int) -> dict[str, float]:
    """Call ``send`` ``requests`` times from ``max_in_flight`` tasks; return its CPU cost."""
    numbers = iter(range(requests))

    async def worker() -> None:
        for number in numbers:
            await send(number)

    cpu_before_s = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max_in_flight)))
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_before_s
    return {
        "requests": requests,
        "wall_s": wall_s,
        "rate_per_s": requests / wall_s,
        "cpu_ms_per_request": 1000 * cpu_s / requests,
    }


def groupsync_sender(client: SquareClient, customer_ids: list[str], group_id: str) -> Send:
    """Add, then remove, each customer in turn through groupsync's client."""

    async def send(number: int) -> None:
        customer_id = customer_ids[(number // 2) % len(customer_ids)]
        if number % 2 == 0:
            await client.add_group_to_customer(customer_id, group_id)
        else:
            await client.remove_group_from_customer(customer_id, group_id)

    return send


def bare_sender(
    session: aiohttp.ClientSession,
    emulator: EmulatorProcess,
    customer_ids: list[str],
    group_id: str,
    *,
    rate_per_s: float,
) -> Send:
    """Send the same requests through a plain aiohttp session, each started no earlier
    than its turn at ``rate_per_s``. A non-2xx response fails the benchmark."""
    headers = {"Authorization": f"Bearer {emulator.token}", "Content-Type": "application/json"}
    started = time.monotonic()

    async def send(number: int) -> None:
        delay_s = started + number / rate_per_s - time.monotonic()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        customer_id = customer_ids[(number // 2) % len(customer_ids)]
        method = "PUT" if number % 2 == 0 else "DELETE"
        url = f"{emulator.base_url}/v2/customers/{customer_id}/groups/{group_id}"
        async with session.request(method, url, headers=headers) as response:
            body = await response.text()
            if not 200 <= response.status < 300:
                raise RuntimeError(f"{method} {url} returned {response.status}: {body[:200]}")
            json.loads(body)

    return send


async def run_pair(
    emulator: EmulatorProcess,
    customer_ids: list[str],
    group_id: str,
    *,
    requests: int,
    rate_per_s: float,
    max_in_flight: int,
) -> list[dict[str, Any]]:
    """Measure groupsync's client, then the bare session, on the same requests."""
    limiter = RateLimiter(rate_per_s=rate_per_s, max_in_flight=max_in_flight)
    async with SquareClient(
        base_url=emulator.base_url, token=emulator.token, limiter=limiter
    ) as client:
        ours = await measure(
            groupsync_sender(client, customer_ids, group_id),
            requests=requests,
            max_in_flight=max_in_flight,
        )
    connector = aiohttp.TCPConnector(limit=max_in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:
        bare = await measure(
            bare_sender(session, emulator, customer_ids, group_id, rate_per_s=rate_per_s),
            requests=requests,
            max_in_flight=max_in_flight,
        )
    return [{"client": "groupsync", **ours}, {"client": "bare aiohttp", **bare}]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4_000, help="requests per measurement")
    parser.add_argument("--rate-per-s", type=float, default=200.0, help="pace, requests/s")
    parser.add_argument("--max-in-flight", type=int, default=32, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each client")
    args = parser.parse_args()

    async with EmulatorProcess(["--latency-ms", "40", "--jitter-ms", "10"]) as emulator:
        generated = await emulator.admin.generate(
            customers=1_000, groups=1, memberships_per_customer=0.0, seed=1
        )
        group = await emulator.admin.create_group_by_hand("Client CPU")
        rows: list[dict[str, Any]] = []
        for round_number in range(1, args.rounds + 1):
            pair = await run_pair(
                emulator,
                generated["customer_ids"],
                group["id"],
                requests=args.requests,
                rate_per_s=args.rate_per_s,
                max_in_flight=args.max_in_flight,
            )
            rows.extend({"round": round_number, **row} for row in pair)

    print(f"{'round':>5} {'client':>13} {'requests':>8} {'rate/s':>7} {'cpu ms/request':>15}")
    for row in rows:
        print(
            f"{row['round']:>5} {row['client']:>13} {row['requests']:>8} "
            f"{row['rate_per_s']:>7.1f} {row['cpu_ms_per_request']:>15.3f}"
        )
    ratios = [
        ours["cpu_ms_per_request"] / bare["cpu_ms_per_request"]
        for ours, bare in itertools.pairwise(rows)
        if ours["client"] == "groupsync" and bare["client"] == "bare aiohttp"
    ]
    print("groupsync / bare aiohttp CPU per request: " + ", ".join(f"{r:.2f}x" for r in ratios))
    path = write_results("client_cpu", {"machine": machine(), "rows": rows, "ratios": ratios})
    print(f"results: {path}")


if __name__ == "__main__":
    asyncio.run(main())
