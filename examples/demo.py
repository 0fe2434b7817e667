"""Run groupsync on the Chinook demo: ``make demo``, or ``.venv/bin/python examples/demo.py``.

The demo uses the PostgreSQL server of ``GROUPSYNC_DATABASE_URL`` when it is set, and there
drops and recreates the database ``groupsync_demo``. Otherwise it starts a throwaway cluster
(the server binaries initdb and pg_ctl must be installed). It starts groupsync's Square
emulator, loads Square's starting state, Chinook and the demo's groups, and then runs the
groupsync command line as a newcomer would: migrate, import, sync, export and status. A
second sync must apply no change, else the demo exits with status 1. The emulator and the
throwaway cluster are stopped at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from contextlib import ExitStack
from typing import Any

import asyncpg

# Python puts this script's folder first on sys.path, so demo_data imports as a top-level module.
from demo_data import (
    CONFERENCE_CSV,
    CONFERENCE_GROUP,
    EXAMPLES_DIR,
    load_chinook,
    load_demo_groups,
    recreate_database,
    square_seed_state,
)

from groupsync.db.errors import redact_url
from groupsync.errors import GroupsyncError
from groupsync.testing.emulator import EmulatorAdmin, EmulatorProcess
from groupsync.testing.postgres import ThrowawayPostgres

DEMO_DATABASE = "groupsync_demo"
# The emulator accepts only this token, which has no meaning outside this demo.
DEMO_TOKEN = "demo-token"
# The emulator runs on this machine, so the demo lifts groupsync's default pace of 10
# requests per second, which is meant for the real Square.
DEMO_RATE_LIMIT_PER_S = "100"
REPO_DIR = EXAMPLES_DIR.parent

FIRST_SYNC_NOTES = """
What happened:
  - "Jazz Buyers" and "Classical Buyers" already existed in Square, so they were adopted.
    The other groups were created.
  - "Jazz Buyers" is a mirror group, so it lost the member who bought no jazz.
    "Classical Buyers" is add_only, so it kept the member who bought no classical music.
  - People already in Square were linked by email (in any letter case) or by phone number.
    Only the others were created, each once, even when several groups list them.
  - Chinook rows with an invalid phone number were rejected with their reason, and the run
    went ahead without them. `groupsync status` lists them."""


class DemoFailed(Exception):
    """A step of the demo did not do what the demo expects. The message names the step."""


def main() -> int:
    try:
        with ExitStack() as cleanup:
            run_demo(cleanup)
    except (DemoFailed, GroupsyncError) as error:
        print(f"\ndemo failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo interrupted. The processes that it started are stopped.", file=sys.stderr)
        return 130
    return 0


def run_demo(cleanup: ExitStack) -> None:
    server_url = os.environ.get("GROUPSYNC_DATABASE_URL")
    if server_url:
        heading(f"Recreating database {DEMO_DATABASE} on the server of GROUPSYNC_DATABASE_URL")
    else:
        heading("Starting a throwaway PostgreSQL cluster")
        cluster = ThrowawayPostgres()
        cleanup.callback(cluster.stop)
        server_url = cluster.start().url
        print(f"listening on 127.0.0.1:{cluster.port}")

    heading("Loading the Chinook sample database")
    database_url = asyncio.run(prepare_database(server_url))

    heading("Starting the Square emulator and loading its starting state")
    emulator = EmulatorProcess(["--log-level", "warning"], token=DEMO_TOKEN)
    cleanup.callback(emulator.stop)
    emulator.start()
    print(f"listening on {emulator.base_url}")
    asyncio.run(seed_square(emulator.base_url))

    env = cli_environment(database_url=database_url, square_url=emulator.base_url)
    run_cli(env, "migrate")

    heading("Defining the demo's groups (examples/demo.sql)")
    asyncio.run(define_groups(database_url))

    heading(f"Importing the attendees of {CONFERENCE_GROUP}")
    # Exit status 1 means that some lines were rejected. The valid lines are still imported.
    run_cli(
        env,
        "import",
        str(CONFERENCE_CSV.relative_to(REPO_DIR)),
        "--group",
        CONFERENCE_GROUP,
        ok_codes=(0, 1),
    )

    heading("First sync: bring Square in line with the database")
    run_cli(env, "sync")
    print(FIRST_SYNC_NOTES)

    heading(f"The members of {CONFERENCE_GROUP} in Square")
    run_cli(env, "export", "--group", CONFERENCE_GROUP)

    heading("groupsync status")
    run_cli(env, "status")

    heading("Second sync: nothing is left to change")
    check_nothing_changed(run_cli(env, "sync", "--json", capture=True))

    asyncio.run(print_square_summary(emulator.base_url))


def heading(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


async def prepare_database(server_url: str) -> str:
    try:
        database_url = await recreate_database(server_url, DEMO_DATABASE)
    except (OSError, asyncpg.PostgresError) as error:
        raise DemoFailed(
            f"cannot create database {DEMO_DATABASE} on {redact_url(server_url)}: {error}. "
            "Check that the server runs and that GROUPSYNC_DATABASE_URL names a role that "
            "may create databases, or unset it to use a throwaway cluster"
        ) from error
    conn = await asyncpg.connect(database_url)
    try:
        await load_chinook(conn)
        customers = await conn.fetchval("SELECT count(*) FROM chinook.customer")
    finally:
        await conn.close()
    print(f"Chinook: {customers} customers in schema chinook of database {DEMO_DATABASE}")
    return database_url


async def seed_square(base_url: str) -> None:
    admin = EmulatorAdmin(base_url)
    try:
        summary = await admin.load_state(square_seed_state())
    finally:
        await admin.close()
    counts = summary["sellers"]["default"]
    print(
        f"Square: {counts['customers']} customers and {counts['groups']} groups "
        "(examples/square-seed.json)"
    )


async def define_groups(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await load_demo_groups(conn)
        groups = await conn.fetch(
            "SELECT name, mode, coalesce(source, 'desired_memberships') AS source "
            "FROM groupsync.managed_groups ORDER BY name"
        )
    finally:
        await conn.close()
    for group in groups:
        print(f"  {group['name']:<24} {group['mode']:<9} reads {group['source']}")


def cli_environment(*, database_url: str, square_url: str) -> dict[str, str]:
    """Return the environment for the groupsync commands, with the demo's settings only."""
    # Settings left in the caller's environment, such as GROUPSYNC_CONFIG, would change
    # what the demo does, so every groupsync and Square variable is replaced.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GROUPSYNC_", "SQUARE_"))
    }
    env.update(
        GROUPSYNC_DATABASE_URL=database_url,
        SQUARE_BASE_URL=square_url,
        SQUARE_ACCESS_TOKEN=DEMO_TOKEN,
        GROUPSYNC_LOG_FORMAT="console",
        # A run logs a warning per rejected row, which `groupsync status` lists as well, so
        # the demo shows errors only and keeps its tables readable.
        GROUPSYNC_LOG_LEVEL="error",
        GROUPSYNC_LIMITS_RATE_LIMIT_PER_S=DEMO_RATE_LIMIT_PER_S,
    )
    return env


def run_cli(
    env: dict[str, str], *args: str, ok_codes: tuple[int, ...] = (0,), capture: bool = False
) -> str:
    """Run ``groupsync ARGS`` and return its output when ``capture`` is set.

    Raises DemoFailed when the exit status is not in ``ok_codes``.
    """
    print(f"$ groupsync {' '.join(quote(arg) for arg in args)}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "groupsync", *args],
        cwd=REPO_DIR,
        env=env,
        stdout=subprocess.PIPE if capture else None,
        text=True,
        check=False,
    )
    if result.returncode not in ok_codes:
        raise DemoFailed(f"`groupsync {' '.join(args)}` exited with status {result.returncode}")
    return result.stdout or ""


def quote(arg: str) -> str:
    return f'"{arg}"' if " " in arg else arg


def check_nothing_changed(output: str) -> None:
    """Print the second run's counts and raise DemoFailed if it changed anything."""
    report: dict[str, Any] = json.loads(output)
    counts = report["counts"]
    changes = {kind: counts[kind] for kind in ("adds", "removes", "creates")}
    print(
        f"run {report['run_id']}: {report['status']}, adds {changes['adds']}, "
        f"removes {changes['removes']}, customers created {changes['creates']}, "
        f"rows rejected {counts['rejected']}"
    )
    if any(changes.values()) or report["status"] != "succeeded":
        raise DemoFailed(
            f"the second sync should apply no change, but it ended {report['status']} with "
            f"{changes}; run `groupsync sync --dry-run` to see the plan"
        )
    print("The second sync applied no change: Square matches the database.")


async def print_square_summary(base_url: str) -> None:
    admin = EmulatorAdmin(base_url)
    try:
        state = await admin.dump()
    finally:
        await admin.close()
    seller = state["sellers"]["default"]
    print(
        f"\nSquare now has {len(seller['customers'])} customers in {len(seller['groups'])} groups."
    )


if __name__ == "__main__":
    sys.exit(main())
