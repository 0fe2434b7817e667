"""Crash stress: SIGKILL ``groupsync sync`` at many random points, run it again, check the result.

Each round seeds a fresh database and emulator with the reliability tests' world and kills
a run at a random point: after the N-th log line of an event, while a create, add or remove
is in flight, or after a random delay. Then it runs ``sync`` again and checks that the final
state is exact, that nothing was created twice or applied twice, and that the killed run is
marked interrupted. Usage, from the repository root:

    .venv/bin/python tests/stress/crash_stress.py [--rounds 30] [--max-s 600] [--seed N]

It starts its own PostgreSQL cluster, prints a Markdown table of the rounds and writes the
rounds as JSON to ``--out``. The exit code is 1 when any round that reached its kill point
ended unsound. pytest does not collect this file, because its name does not start with test.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import random
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from groupsync.testing.emulator import EmulatorServer
from groupsync.testing.postgres import ThrowawayPostgres
from tests.reliability.crash_harness import (
    CrashCheck,
    KillPoint,
    crash_and_recover,
    prepare,
)
from tests.reliability.world import World, make_world

DEFAULT_OUT = Path(__file__).with_name("crash_stress_results.json")
EMULATOR_LATENCY_MS = 5
# Log events of a run, each with the most occurrences it has in the default world.
EVENT_OCCURRENCES = {
    ("sync_run_started", None): 1,
    ("group_created", None): 2,
    ("customer_created", None): 15,
    ("snapshot_read", None): 3,
    # Logged when the run reads memberships by listing every customer instead of per group.
    ("customer_walk_finished", None): 1,
    ("change_applied", "add"): 32,
    ("change_applied", "remove"): 3,
}
IN_FLIGHT = (
    ("create_group", "CreateCustomerGroup"),
    ("create_customer", "BulkCreateCustomers"),
    ("add", "AddGroupToCustomer"),
    ("remove", "RemoveGroupFromCustomer"),
)
READ_STRATEGIES = ("auto", "listing", "per_group")
# A run of the default world takes about a second on a 2-core machine.
MAX_DELAY_S = 1.0


def random_point(rng: random.Random) -> KillPoint:
    point = _random_trigger(rng)
    strategy = rng.choice(READ_STRATEGIES)
    env = {"GROUPSYNC_SYNC_READ_STRATEGY": strategy}
    return dataclasses.replace(point, name=f"{point.name} ({strategy})", env=env)


def _random_trigger(rng: random.Random) -> KillPoint:
    choice = rng.random()
    if choice < 0.6:
        (event, kind), most = rng.choice(sorted(EVENT_OCCURRENCES.items(), key=str))
        occurrence = rng.randint(1, most)
        fields = {"kind": kind} if kind else {}
        label = f"{event}{'_' + kind if kind else ''}#{occurrence}"
        return KillPoint(label, event=event, occurrence=occurrence, fields=fields)
    if choice < 0.8:
        kind, endpoint = rng.choice(IN_FLIGHT)
        return KillPoint(f"{kind}_in_flight", in_flight_kind=kind, in_flight_endpoint=endpoint)
    delay_s = round(rng.uniform(0.1, MAX_DELAY_S), 2)
    return KillPoint(f"after_{delay_s}s", after_s=delay_s)


async def fresh_database(server_url: str) -> str:
    name = f"groupsync_stress_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


async def drop_database(server_url: str, database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def one_round(point: KillPoint, *, world: World, server_url: str) -> CrashCheck:
    database_url = await fresh_database(server_url)
    try:
        async with EmulatorServer() as emulator:
            await prepare(database_url, emulator, world)
            await emulator.admin.set_faults(latency_ms=EMULATOR_LATENCY_MS)
            return await crash_and_recover(
                point, world=world, database_url=database_url, emulator=emulator
            )
    finally:
        await drop_database(server_url, database_url)


async def stress(*, rounds: int, max_s: float, seed: int) -> list[CrashCheck]:
    # The migrations' info lines would drown the round lines.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    rng = random.Random(seed)
    world = make_world()
    checks: list[CrashCheck] = []
    started = time.monotonic()
    with ThrowawayPostgres() as cluster:
        for number in range(1, rounds + 1):
            if time.monotonic() - started > max_s:
                print(f"stopping after {number - 1} rounds: --max-s {max_s} reached")
                break
            check = await one_round(random_point(rng), world=world, server_url=cluster.url)
            checks.append(check)
            verdict = "ok"
            if not check.killed:
                verdict = "not reached"
            elif not check.sound:
                verdict = "UNSOUND"
            print(f"round {number}: {check.point}: {verdict} ({check.duration_s} s)", flush=True)

    print_table(checks, seed=seed, elapsed_s=time.monotonic() - started)
    return checks


def print_table(checks: list[CrashCheck], *, seed: int, elapsed_s: float) -> None:
    killed = [check for check in checks if check.killed]
    print(
        f"\n{len(checks)} rounds (seed {seed}, {elapsed_s:.0f} s), {len(killed)} killed at "
        "their point; the others ended before it.\n"
    )
    print(
        "| kill point | killed | next exit | final state exact | duplicate customers "
        "| duplicate groups | applied twice | killed run marked |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for check in checks:
        print(
            f"| {check.point} | {'yes' if check.killed else 'no'} | {check.next_exit_code} "
            f"| {'yes' if not check.differences else 'NO'} | {check.duplicate_customers} "
            f"| {check.duplicate_groups} | {check.doubly_applied} "
            f"| {check.killed_run_status} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="number of kill rounds")
    parser.add_argument("--max-s", type=float, default=600.0, help="time budget in seconds")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill point choice")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args()
    checks = asyncio.run(stress(rounds=args.rounds, max_s=args.max_s, seed=args.seed))

    results = [dataclasses.asdict(check) for check in checks]
    args.out.write_text(json.dumps(results, indent=2, default=str))
    unsound = [check for check in checks if check.killed and not check.sound]
    return 1 if unsound else 0


if __name__ == "__main__":
    sys.exit(main())
