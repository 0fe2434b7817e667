"""Measure the time from an INSERT into desired_memberships to the member in Square, at idle.

The script starts a throwaway PostgreSQL cluster, the Square emulator as its own process and
one ``groupsync run`` daemon with the default settings (change_debounce_s 0.5). Once the
daemon's first full resync has finished, it inserts one desired row at a time for a new
person and polls the emulator every 10 ms until that customer is a member of the group. It
prints the median and 95th percentile and records them, with the machine and the command,
in the "Change trigger latency" section of docs/benchmarks.md (``--no-record`` skips that).

Run: .venv/bin/python bench/trigger_latency.py [--samples N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from groupsync import __version__
from groupsync.db.migrator import migrate
from groupsync.testing.emulator import EmulatorProcess
from groupsync.testing.postgres import ThrowawayPostgres

BENCHMARKS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION_TITLE = "## Change trigger latency"
GROUP_NAME = "VIP"
POLL_S = 0.01
SAMPLE_TIMEOUT_S = 30.0
# Time between samples, so that each insert meets an idle daemon.
PAUSE_S = 1.0
TARGET_S = 2.0


async def main(samples: int, *, record: bool) -> None:
    cluster = ThrowawayPostgres().start()
    try:
        async with EmulatorProcess() as emulator:
            latencies_s = await measure(cluster.url, emulator, samples=samples)
    finally:
        cluster.stop()

    median_s = statistics.median(latencies_s)
    p95_s = percentile(latencies_s, 0.95)
    print(
        f"samples={samples} median_s={median_s:.3f} p95_s={p95_s:.3f} max_s={max(latencies_s):.3f}"
    )
    if record:
        write_section(samples=samples, median_s=median_s, p95_s=p95_s, max_s=max(latencies_s))
        print(f"recorded in {BENCHMARKS_PAGE}")


async def measure(database_url: str, emulator: EmulatorProcess, *, samples: int) -> list[float]:
    conn = await asyncpg.connect(database_url)
    daemon = None
    try:
        await migrate(conn)
        await conn.execute("INSERT INTO groupsync.managed_groups (name) VALUES ($1)", GROUP_NAME)
        daemon = await start_daemon(database_url, emulator)
        await wait_for_first_run(conn)
        group_id = await conn.fetchval("SELECT square_group_id FROM groupsync.managed_groups")

        latencies_s = []
        for index in range(samples):
            await asyncio.sleep(PAUSE_S)
            latencies_s.append(await one_sample(conn, emulator, group_id=group_id, index=index))
        return latencies_s
    finally:
        if daemon is not None and daemon.returncode is None:
            daemon.terminate()
            await daemon.wait()
        await conn.close()


async def start_daemon(database_url: str, emulator: EmulatorProcess) -> asyncio.subprocess.Process:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GROUPSYNC_")}
    env.update(
        GROUPSYNC_DATABASE_URL=database_url,
        SQUARE_ACCESS_TOKEN=emulator.token,
        SQUARE_BASE_URL=emulator.base_url,
        GROUPSYNC_LOG_LEVEL="warning",
    )
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "groupsync", "run", env=env, stderr=asyncio.subprocess.DEVNULL
    )


async def wait_for_first_run(conn: asyncpg.Connection) -> None:
    deadline = time.monotonic() + SAMPLE_TIMEOUT_S
    while time.monotonic() < deadline:
        status = await conn.fetchval("SELECT status FROM groupsync.sync_runs ORDER BY id LIMIT 1")
        if status == "succeeded":
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the daemon's first run did not succeed in time")


async def one_sample(
    conn: asyncpg.Connection, emulator: EmulatorProcess, *, group_id: str, index: int
) -> float:
    """Insert one desired row; return the seconds until the emulator shows the membership."""
    email = f"person-{index}@example.com"
    started = time.perf_counter()
    await conn.execute(
        "INSERT INTO groupsync.desired_memberships (group_name, email_address) VALUES ($1, $2)",
        GROUP_NAME,
        email,
    )
    while time.perf_counter() - started < SAMPLE_TIMEOUT_S:
        state = await emulator.admin.dump()
        for customer in state["sellers"]["default"]["customers"]:
            if customer.get("email_address") == email and group_id in customer.get("group_ids", []):
                return time.perf_counter() - started
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"{email} did not reach the group within {SAMPLE_TIMEOUT_S} s")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def write_section(*, samples: int, median_s: float, p95_s: float, max_s: float) -> None:
    verdict = "met" if p95_s < TARGET_S else "NOT met"
    section = f"""{SECTION_TITLE}

Target: a change to `desired_memberships` reaches Square in under {TARGET_S:g} s while the
daemon is idle.

Command:

```
.venv/bin/python bench/trigger_latency.py --samples {samples}
```

The script starts a throwaway PostgreSQL cluster, `groupsync emulator` as its own process
and one `groupsync run` daemon with default settings (`sync.change_debounce_s` = 0.5). After
the daemon's first full resync it inserts one desired row at a time, for a person Square
does not know yet, and polls the emulator's state every 10 ms until the new customer is a
member of the group. Each sample therefore includes the trigger's NOTIFY, the debounce wait,
a run of that one group (lock, bind, stage, resolve by search, create the customer, read the
group, plan, add) and the polling interval.

Results of the run on {datetime.now(UTC):%Y-%m-%d} (groupsync {__version__}, Python
{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()}):

| Samples | Median | 95th percentile | Max | Target |
|---|---|---|---|---|
| {samples} | {median_s:.2f} s | {p95_s:.2f} s | {max_s:.2f} s | under {TARGET_S:g} s: {verdict} |

The debounce accounts for 0.5 s of the median; lowering `sync.change_debounce_s` shortens
the latency, at the price of more runs during bursts of changes.
"""
    text = BENCHMARKS_PAGE.read_text(encoding="utf-8")
    pattern = re.compile(rf"^{re.escape(SECTION_TITLE)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda match: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    BENCHMARKS_PAGE.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30, help="inserts to time (default 30)")
    parser.add_argument(
        "--no-record", action="store_true", help="print only; leave docs/benchmarks.md alone"
    )
    args = parser.parse_args()
    asyncio.run(main(args.samples, record=not args.no_record))
