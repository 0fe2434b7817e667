"""S0: groupsync against baseline B1 (the plain SDK script), side by side.

2,000 customers, 5 managed groups, 3,000 desired memberships; the sync needs 800 adds
(100 of them for new customers), 400 removes and 100 creations. Each tool runs on a fresh
emulator process (40 ms + up to 10 ms latency per call) and, for groupsync, a fresh
database, at a rate limit of 100 requests/s and with none.

Run: .venv/bin/python bench/s0_baseline.py [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from baseline_b1 import run_b1
from harness import (
    Bench,
    ScenarioSize,
    build_scenario,
    emulator_counts,
    machine,
    prepare_database,
    run_groupsync_sync,
    start_emulator,
    write_config,
    write_results,
)

RATES = (100.0, None)
GROUPSYNC_IN_FLIGHT = 32
UNLIMITED_PER_S = 100_000.0
TIMEOUT_S = 900.0


def scaled(scale: float) -> ScenarioSize:
    return ScenarioSize(
        customers=round(2_000 * scale),
        groups=5,
        memberships=round(3_000 * scale),
        adds=round(800 * scale),
        removes=round(400 * scale),
        creates=round(100 * scale),
    )


async def run_tool(bench: Bench, tool: str, scenario: Any, rate: float | None) -> dict[str, Any]:
    emulator = start_emulator(rate, scenario)
    try:
        load = machine()["load_average"]
        if tool == "B1":
            started = time.perf_counter()
            await asyncio.to_thread(
                run_b1, base_url=emulator.base_url, token=emulator.token, desired=scenario.desired
            )
            result: dict[str, Any] = {"wall_s": time.perf_counter() - started}
        else:
            url = await bench.fresh_database()
            await prepare_database(url, scenario)
            config = write_config(
                Path(tempfile.mkdtemp()) / "groupsync.toml",
                rate_limit_per_s=rate or UNLIMITED_PER_S,
                max_in_flight=GROUPSYNC_IN_FLIGHT,
            )
            run = await asyncio.to_thread(
                run_groupsync_sync,
                database_url=url,
                emulator=emulator,
                config=config,
                timeout_s=TIMEOUT_S,
            )
            result = {"wall_s": run.wall_s, "exit_code": run.exit_code, "cpu_s": run.cpu_s}
        result.update(await emulator_counts(emulator))
        result["load_average"] = load
        return result
    finally:
        await emulator.admin.close()
        emulator.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    scenario = build_scenario(scaled(args.scale))

    rows = []
    with Bench() as bench:
        for rate in RATES:
            figures = {
                tool: await run_tool(bench, tool, scenario, rate) for tool in ("groupsync", "B1")
            }
            ratio = figures["B1"]["wall_s"] / figures["groupsync"]["wall_s"]
            rows.append({"rate_limit_per_s": rate, "ratio": ratio, **figures})

    print(f"{'limit':>8} {'tool':>10} {'wall_s':>8} {'calls':>7} {'429s':>6} {'ratio':>7}")
    for row in rows:
        for tool in ("B1", "groupsync"):
            figures = row[tool]
            limit = "none" if row["rate_limit_per_s"] is None else f"{row['rate_limit_per_s']:g}/s"
            ratio = f"{row['ratio']:.1f}x" if tool == "groupsync" else ""
            print(
                f"{limit:>8} {tool:>10} {figures['wall_s']:8.1f} {figures['calls']:7d} "
                f"{figures['rate_limited']:6d} {ratio:>7}"
            )
    path = write_results(
        "s0_baseline",
        {"scale": args.scale, "size": vars(scaled(args.scale)), "machine": machine(), "rows": rows},
    )
    print(f"results: {path}")


if __name__ == "__main__":
    asyncio.run(main())
