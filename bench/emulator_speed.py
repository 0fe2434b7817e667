"""Measure how many requests per second the Square emulator serves on one core.

The emulator runs as a separate process (``groupsync emulator``) holding 100,000
generated customers. This process drives AddGroupToCustomer and
RemoveGroupFromCustomer (alternating, on distinct customers), then
SearchCustomers by group with pages of 100, each for a fixed time with
``--concurrency`` requests in flight, and prints requests per second for each
with the share of one core the emulator process used meanwhile (below 100%
means the client, not the emulator, set the pace).

Run: .venv/bin/python bench/emulator_speed.py [--customers N] [--duration-s S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor

import aiohttp

from groupsync.testing.emulator import EmulatorProcess

Request = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


async def drive(
    base_url: str, token: str, request: Request, *, duration_s: float, concurrency: int
) -> tuple[int, Counter[int]]:
    """Send ``request`` from ``concurrency`` tasks for ``duration_s``; return count and statuses."""
    statuses: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url, headers=headers, connector=connector) as session:
        deadline = time.perf_counter() + duration_s
        counter = iter(range(10**12))

        async def worker() -> None:
            while time.perf_counter() < deadline:
                statuses[await request(session, next(counter))] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sum(statuses.values()), statuses


def run_client(
    job: tuple[str, str, str, list[str], str, float, int],
) -> tuple[Counter[int], float]:
    """Run one client process's share of a measurement (a process pool job).

    Returns the response statuses and the CPU time the process used, in seconds.
    """
    kind, base_url, token, ids, group_id, duration_s, concurrency = job
    request = membership_request(ids, group_id) if kind == "membership" else search_request(ids)
    cpu_before_s = time.process_time()
    _, statuses = asyncio.run(
        drive(base_url, token, request, duration_s=duration_s, concurrency=concurrency)
    )
    return statuses, time.process_time() - cpu_before_s


def membership_request(customer_ids: list[str], group_id: str) -> Request:
    """Add, then remove, each customer in turn: every request is a real change."""

    async def send(session: aiohttp.ClientSession, number: int) -> int:
        customer_id = customer_ids[(number // 2) % len(customer_ids)]
        method = "PUT" if number % 2 == 0 else "DELETE"
        path = f"/v2/customers/{customer_id}/groups/{group_id}"
        async with session.request(method, path) as response:
            await response.read()
            return response.status

    return send


def search_request(group_ids: list[str]) -> Request:
    """Search one group's members, 100 per page, following cursors across requests."""
    cursors: dict[str, str | None] = {}

    async def send(session: aiohttp.ClientSession, number: int) -> int:
        group_id = group_ids[number % len(group_ids)]
        body: dict[str, object] = {
            "limit": 100,
            "query": {"filter": {"group_ids": {"any": [group_id]}}},
        }
        cursor = cursors.get(group_id)
        if cursor:
            body["cursor"] = cursor
        async with session.post("/v2/customers/search", json=body) as response:
            page = await response.json()
            cursors[group_id] = page.get("cursor")
            return response.status

    return send


def cpu_time_s(pid: int) -> float:
    """User plus system CPU time that process ``pid`` has used, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    user_ticks, system_ticks = int(fields[11]), int(fields[12])
    return (user_ticks + system_ticks) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--customers", type=int, default=100_000, help="customers to generate, a count"
    )
    parser.add_argument("--groups", type=int, default=20, help="groups to generate, a count")
    parser.add_argument(
        "--duration-s", type=float, default=10.0, help="time per measurement, in seconds"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="requests in flight per client process, a count"
    )
    parser.add_argument(
        "--client-processes", type=int, default=2, help="client processes sending requests, a count"
    )
    args = parser.parse_args()

    async with EmulatorProcess() as emulator:
        started = time.perf_counter()
        generated = await emulator.admin.generate(
            customers=args.customers, groups=args.groups, memberships_per_customer=1.0, seed=1
        )
        print(f"machine: {machine()}")
        print(
            f"state: {generated['customers']} customers, {generated['groups']} groups, "
            f"{generated['memberships']} memberships, generated in "
            f"{time.perf_counter() - started:.1f} s"
        )
        customer_ids = generated["customer_ids"]
        group_ids = generated["group_ids"]
        extra_group = await emulator.admin.create_group_by_hand("Benchmark group")

        assert emulator.process is not None
        pid = emulator.process.pid
        processes = args.client_processes
        measurements = [
            ("AddGroupToCustomer/RemoveGroupFromCustomer", "membership",
             [customer_ids[i::processes] for i in range(processes)], extra_group["id"]),
            ("SearchCustomers by group, pages of 100", "search",
             [group_ids for _ in range(processes)], ""),
        ]  # fmt: skip
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(processes) as pool:
            for name, kind, id_shares, group_id in measurements:
                jobs = [
                    (kind, emulator.base_url, emulator.token, ids, group_id, args.duration_s,
                     args.concurrency)
                    for ids in id_shares
                ]  # fmt: skip
                cpu_before_s = cpu_time_s(pid)
                started = time.perf_counter()
                results = await asyncio.gather(
                    *(loop.run_in_executor(pool, run_client, job) for job in jobs)
                )
                elapsed_s = time.perf_counter() - started
                busy = (cpu_time_s(pid) - cpu_before_s) / elapsed_s
                statuses = sum((result[0] for result in results), Counter())
                requests = sum(statuses.values())
                client_cpu_s = sum(result[1] for result in results)
                rate = requests / elapsed_s
                print(
                    f"{name}: {rate:,.0f} requests/s, emulator busy {busy:.0%} of one core, "
                    f"so about {rate / busy:,.0f} requests/s per fully used core "
                    f"(statuses: {dict(statuses)}); the aiohttp clients used "
                    f"{1000 * client_cpu_s / max(1, requests):.3f} ms of CPU per request"
                )


if __name__ == "__main__":
    asyncio.run(main())
