"""S1: groupsync against the floor of calls and time a sync needs.

20,000 customers, 10 managed groups, 30,000 desired memberships; the sync needs 8,000
adds (1,000 of them for new customers), 4,000 removes and 1,000 creations. The floor is
the cheaper read strategy plus one call per change (creations at 100 per
BulkCreateCustomers call); floor time = floor calls / rate limit. Runs at emulated rate
limits of 50 and 200 requests/s that groupsync is told, and at 200 requests/s with
groupsync configured far above it (the limit unknown to it).

Run: .venv/bin/python bench/s1_floor.py [--scale 1.0] [--runs 50,200,unknown]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
from pathlib import Path
from typing import Any

from harness import (
    Bench,
    ScenarioSize,
    build_scenario,
    emulator_counts,
    format_steps,
    machine,
    prepare_database,
    run_groupsync_sync,
    start_emulator,
    write_config,
    write_results,
)

IN_FLIGHT = 32
UNKNOWN_CEILING_PER_S = 100_000.0
TIMEOUT_S = 900.0
# (emulated limit, limit configured in groupsync)
RUNS = ((50.0, 50.0), (200.0, 200.0), (200.0, UNKNOWN_CEILING_PER_S))


def scaled(scale: float) -> ScenarioSize:
    return ScenarioSize(
        customers=round(20_000 * scale),
        groups=10,
        memberships=round(30_000 * scale),
        adds=round(8_000 * scale),
        removes=round(4_000 * scale),
        creates=round(1_000 * scale),
    )


def floor_calls(size: ScenarioSize) -> dict[str, int]:
    """The fewest calls any tool needs: the cheaper read plus one call per change."""
    listing = math.ceil(size.customers / 100)
    # Per group: its members' pages, plus at least one exact search per desired person.
    members_per_group = (size.memberships - size.adds + size.removes) / size.groups
    per_group = size.groups * math.ceil(members_per_group / 100) + (size.memberships)
    read = min(listing, per_group)
    changes = size.adds + size.removes + math.ceil(size.creates / 100)
    return {"read": read, "listing": listing, "per_group": per_group, "total": read + changes}


async def run_once(
    bench: Bench, scenario: Any, *, emulated_per_s: float, configured_per_s: float
) -> dict[str, Any]:
    emulator = start_emulator(emulated_per_s, scenario)
    try:
        url = await bench.fresh_database()
        await prepare_database(url, scenario)
        config = write_config(
            Path(tempfile.mkdtemp()) / "groupsync.toml",
            rate_limit_per_s=configured_per_s,
            max_in_flight=IN_FLIGHT,
        )
        load = machine()["load_average"]
        run = await asyncio.to_thread(
            run_groupsync_sync,
            database_url=url,
            emulator=emulator,
            config=config,
            timeout_s=TIMEOUT_S,
        )
        counts = await emulator_counts(emulator)
    finally:
        await emulator.admin.close()
        emulator.stop()

    floor = floor_calls(scenario.size)
    floor_time_s = floor["total"] / emulated_per_s
    return {
        "emulated_limit_per_s": emulated_per_s,
        "configured_limit_per_s": configured_per_s,
        "exit_code": run.exit_code,
        "status": run.report.get("status"),
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
        "system_cpu_s": run.system_cpu_s,
        "cpu_ms_per_call": 1000 * run.cpu_s / max(1, counts["calls"]),
        "floor": floor,
        "floor_time_s": floor_time_s,
        "calls_vs_floor": counts["calls"] / floor["total"],
        "time_vs_floor": run.wall_s / floor_time_s,
        "rate_limited_share": counts["rate_limited"] / max(1, counts["calls"]),
        "achieved_share_of_limit": counts["calls"] / run.wall_s / emulated_per_s,
        "load_average": load,
        "step_durations_s": run.report.get("step_durations_s", {}),
        **counts,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="size of the scenario as a share of the full S1 (default: 1.0)",
    )
    parser.add_argument(
        "--runs",
        default="50,200,unknown",
        help="runs to measure, comma-separated: 50 and 200 (limits given to groupsync), unknown",
    )
    args = parser.parse_args()
    chosen = set(args.runs.split(","))
    scenario = build_scenario(scaled(args.scale))

    rows = []
    with Bench() as bench:
        for emulated, configured in RUNS:
            name = "unknown" if configured == UNKNOWN_CEILING_PER_S else f"{emulated:g}"
            if name not in chosen:
                continue
            rows.append(
                await run_once(
                    bench, scenario, emulated_per_s=emulated, configured_per_s=configured
                )
            )

    print(
        f"{'limit':>7} {'told':>7} {'calls':>6} {'floor':>6} {'x floor':>7} {'wall_s':>7} "
        f"{'floor_s':>7} {'x time':>6} {'429 %':>6} {'rate %':>6} {'cpu ms/call':>11}"
    )
    for row in rows:
        limit_given = "unknown" if row["configured_limit_per_s"] == UNKNOWN_CEILING_PER_S else "yes"
        print(
            f"{row['emulated_limit_per_s']:7g} {limit_given:>7} {row['calls']:6d} "
            f"{row['floor']['total']:6d} {row['calls_vs_floor']:7.3f} {row['wall_s']:7.1f} "
            f"{row['floor_time_s']:7.1f} {row['time_vs_floor']:6.3f} "
            f"{100 * row['rate_limited_share']:6.2f} {100 * row['achieved_share_of_limit']:6.1f} "
            f"{row['cpu_ms_per_call']:11.3f}"
        )
    for row in rows:
        limit = "unknown" if row["configured_limit_per_s"] == UNKNOWN_CEILING_PER_S else "known"
        steps = format_steps(row["step_durations_s"])
        print(f"steps at {row['emulated_limit_per_s']:g}/s (limit {limit}): {steps}")
    path = write_results(
        "s1_floor",
        {"scale": args.scale, "size": vars(scaled(args.scale)), "machine": machine(), "rows": rows},
    )
    print(f"results: {path}")


if __name__ == "__main__":
    asyncio.run(main())
