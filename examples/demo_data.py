"""The demo's data: the Chinook sample database, the demo's groups and Square's starting state.

``examples/demo.py`` and ``tests/test_demo.py`` load the demo through these functions.
Chinook's tables go into schema ``chinook`` and the demo's views into schema ``demo``, so
the ``public`` schema stays empty. Loading needs asyncpg only, not psql.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

EXAMPLES_DIR = Path(__file__).resolve().parent
CHINOOK_SQL = EXAMPLES_DIR / "chinook" / "Chinook_PostgreSql.sql"
DEMO_SQL = EXAMPLES_DIR / "demo.sql"
CONFERENCE_CSV = EXAMPLES_DIR / "summer-conference-2022.csv"
SQUARE_SEED = EXAMPLES_DIR / "square-seed.json"

CONFERENCE_GROUP = "Summer Conference 2022"
CHINOOK_SCHEMA = "chinook"

# The Chinook script is written for psql: it drops and creates a database called chinook
# and switches to it with this meta-command. Everything after it is plain SQL.
PSQL_CONNECT = "\\c chinook;"


def with_database(url: str, database: str) -> str:
    """Return ``url`` with its database name replaced by ``database``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def recreate_database(server_url: str, database: str) -> str:
    """Drop ``database`` if it exists, create it empty and return its URL.

    ``server_url`` is any database URL on the server, whose role may create databases.
    """
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return with_database(server_url, database)


def chinook_statements() -> str:
    """Return the Chinook script without the psql part that creates and opens its database."""
    script = CHINOOK_SQL.read_text(encoding="utf-8")
    _, marker, statements = script.partition(PSQL_CONNECT)
    if not marker:
        raise ValueError(
            f"{CHINOOK_SQL} does not contain {PSQL_CONNECT!r}, so the part to skip is unknown. "
            "Restore the file from the Chinook 1.4.5 release"
        )
    return statements


async def load_chinook(conn: asyncpg.Connection) -> None:
    """Create schema ``chinook`` with Chinook's tables and rows, in one transaction."""
    async with conn.transaction():
        await conn.execute(f"CREATE SCHEMA {CHINOOK_SCHEMA}")
        # The script's table names are unqualified, so search_path decides their schema.
        await conn.execute(f"SET LOCAL search_path = {CHINOOK_SCHEMA}")
        await conn.execute(chinook_statements())


async def load_demo_groups(conn: asyncpg.Connection) -> None:
    """Create the demo's views and managed groups, after Chinook and groupsync's schema."""
    async with conn.transaction():
        await conn.execute(DEMO_SQL.read_text(encoding="utf-8"))


def square_seed_state() -> dict[str, Any]:
    """Return Square's starting state in the format of the emulator's admin API.

    Every Chinook customer with an even customer_id is already a Square customer, with two
    emails in other letter case than Chinook's. Two attendees of the conference are there
    too, one of them with only a phone number. The groups "Jazz Buyers" and "Classical
    Buyers" exist, each with one member who did not buy that genre.
    """
    with SQUARE_SEED.open(encoding="utf-8") as file:
        state: dict[str, Any] = json.load(file)
    return state
