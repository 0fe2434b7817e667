"""Schema migrations: numbered SQL files in ``migrations/``, applied once each, in order.

Applied versions are recorded in ``groupsync.schema_migrations`` with a checksum, so an
edited file that was already applied is reported instead of silently ignored. An advisory
lock makes two processes that migrate at once run one after the other.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

from groupsync.db.errors import DatabaseSetupError

log = structlog.get_logger(__name__)

# Any constant works as long as every groupsync process uses the same one.
MIGRATION_LOCK_KEY = 0x6772_7073  # "grps"

FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

BOOTSTRAP_SQL = """
CREATE SCHEMA IF NOT EXISTS groupsync;
CREATE TABLE IF NOT EXISTS groupsync.schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def default_migrations_dir() -> Path:
    """Return ``GROUPSYNC_MIGRATIONS_DIR`` or the ``migrations/`` folder of the source tree."""
    configured = os.environ.get("GROUPSYNC_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "migrations"


def load_migrations(directory: Path) -> list[Migration]:
    """Read every ``NNNN_name.sql`` file of ``directory``, sorted by version."""
    if not directory.is_dir():
        raise DatabaseSetupError(
            f"migrations folder {directory} not found; set GROUPSYNC_MIGRATIONS_DIR to the "
            "folder holding groupsync's NNNN_name.sql files"
        )

    migrations = []
    for path in sorted(directory.iterdir()):
        match = FILE_PATTERN.match(path.name)
        if match is None:
            continue
        version, name = int(match.group(1)), match.group(2)
        migrations.append(Migration(version=version, name=name, sql=path.read_text()))

    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise DatabaseSetupError(f"two migration files in {directory} share a version number")
    return migrations


async def migrate(conn: asyncpg.Connection, directory: Path | None = None) -> list[Migration]:
    """Apply the migrations that ``conn``'s database lacks; return those applied."""
    migrations = load_migrations(directory or default_migrations_dir())

    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(BOOTSTRAP_SQL)
        applied = {
            row["version"]: row["checksum"]
            for row in await conn.fetch("SELECT version, checksum FROM groupsync.schema_migrations")
        }
        _check_applied_unchanged(migrations, applied)

        done = []
        for migration in migrations:
            if migration.version in applied:
                continue
            await _apply(conn, migration)
            done.append(migration)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


def _check_applied_unchanged(migrations: list[Migration], applied: dict[int, str]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise DatabaseSetupError(
                f"migration {migration.version:04d}_{migration.name}.sql changed after it was "
                "applied; restore the original file and add the change as a new migration"
            )


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    async with conn.transaction():
        await conn.execute(migration.sql)
        await conn.execute(
            "INSERT INTO groupsync.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            migration.version,
            migration.name,
            migration.checksum,
        )
    log.info("migration_applied", version=migration.version, name=migration.name)
