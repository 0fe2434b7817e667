"""S2: memory, Postgres time and wall time as the desired state grows.

Each size is a number of memberships over a fifth as many customers in 50 groups. The
seller starts in sync with the desired rows, and groupsync runs three times. The first
run changes nothing in Square, but it links every person from the ListCustomers walk and
normalises every desired row. The second is the steady state of a daemon: nothing changed
since the last run. The third runs after 1% of the desired rows changed, half of them
removed and half new memberships.
The emulator has 40 ms + up to 10 ms latency and no rate limit. Reports groupsync's
peak RSS (its VmHWM, read while it runs) and CPU (from wait4), the Postgres backends' CPU
time, and wall time.

Run: .venv/bin/python bench/s2_scale.py [--sizes 100000,300000,1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
from harness import (
    Bench,
    ScenarioSize,
    build_scenario,
    emulator_counts,
    format_steps,
    machine,
    postgres_backend_cpu_s,
    prepare_database,
    run_groupsync_sync,
    start_emulator,
    write_config,
    write_results,
)

GROUPS = 50
MEMBERSHIPS_PER_CUSTOMER = 5
IN_FLIGHT = 32
UNLIMITED_PER_S = 100_000.0
TIMEOUT_S = 1_800.0
CHANGED_SHARE = 0.01


async def change_desired(url: str, scenario: Any, *, seed: int = 11) -> int:
    """Delete half of 1% of the desired rows and add as many new memberships."""
    rng = random.Random(seed)
    changes = round(len(scenario.desired) * CHANGED_SHARE / 2)
    desired = set(scenario.desired)
    emails = [customer["email_address"] for customer in scenario.customers]
    new_rows: set[tuple[str, str]] = set()
    while len(new_rows) < changes:
        row = (rng.choice(scenario.group_names), rng.choice(emails))
        if row not in desired:
            new_rows.add(row)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "DELETE FROM groupsync.desired_memberships WHERE id IN "
            "(SELECT id FROM groupsync.desired_memberships ORDER BY random() LIMIT $1)",
            changes,
        )
        await conn.copy_records_to_table(
            "desired_memberships",
            schema_name="groupsync",
            records=sorted(new_rows),
            columns=("group_name", "email_address"),
        )
    finally:
        await conn.close()
    return 2 * changes


async def measure(bench: Bench, memberships: int) -> list[dict[str, Any]]:
    size = ScenarioSize(
        customers=memberships // MEMBERSHIPS_PER_CUSTOMER,
        groups=GROUPS,
        memberships=memberships,
        adds=0,
        removes=0,
        creates=0,
    )
    scenario = build_scenario(size)
    emulator = start_emulator(None, scenario)
    rows = []
    try:
        url = await bench.fresh_database()
        await prepare_database(url, scenario)
        config = write_config(
            Path(tempfile.mkdtemp()) / "groupsync.toml",
            rate_limit_per_s=UNLIMITED_PER_S,
            max_in_flight=IN_FLIGHT,
        )
        for label in ("first run", "no-op", "1% changed"):
            changed = await change_desired(url, scenario) if label == "1% changed" else 0
            await emulator.admin.reset_stats()
            load = machine()["load_average"]
            postgres_before_s = postgres_backend_cpu_s(bench.postgres)
            run = await asyncio.to_thread(
                run_groupsync_sync,
                database_url=url,
                emulator=emulator,
                config=config,
                timeout_s=TIMEOUT_S,
            )
            counts = await emulator_counts(emulator)
            rows.append(
                {
                    "memberships": memberships,
                    "customers": size.customers,
                    "run": label,
                    "changed_rows": changed,
                    "exit_code": run.exit_code,
                    "status": run.report.get("status"),
                    "adds": run.report.get("counts", {}).get("adds"),
                    "removes": run.report.get("counts", {}).get("removes"),
                    "wall_s": run.wall_s,
                    "cpu_s": run.cpu_s,
                    "system_cpu_s": run.system_cpu_s,
                    "cpu_ms_per_call": 1000 * run.cpu_s / max(1, counts["calls"]),
                    "peak_rss_mb": run.peak_rss_mb,
                    "postgres_cpu_s": postgres_backend_cpu_s(bench.postgres) - postgres_before_s,
                    "step_durations_s": run.report.get("step_durations_s", {}),
                    "load_average": load,
                    **counts,
                }
            )
            print(_line(rows[-1]), flush=True)
            print(f"{'':>9} steps: {format_steps(rows[-1]['step_durations_s'])}", flush=True)
    finally:
        await emulator.admin.close()
        emulator.stop()
    return rows


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['memberships']:>9,} {row['run']:>11} {row['status']!s:>10} {row['calls']:>6} "
        f"{row['wall_s']:8.1f} {row['cpu_s']:7.1f} {row['cpu_ms_per_call']:9.2f} "
        f"{row['peak_rss_mb']:8.1f} {row['postgres_cpu_s']:8.1f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="100000,300000,1000000",
        help="memberships per measured size, comma-separated (default: %(default)s)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print(
        f"{'members':>9} {'run':>11} {'status':>10} {'calls':>6} {'wall_s':>8} {'cpu_s':>7} "
        f"{'ms/call':>9} {'rss_mb':>8} {'pg_cpu_s':>8}"
    )
    rows = []
    with Bench() as bench:
        for memberships in sizes:
            rows.extend(await measure(bench, memberships))
    path = write_results("s2_scale", {"machine": machine(), "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    asyncio.run(main())
