"""The ``sync_runs`` table: a row per run, from start to final status and counts."""

from __future__ import annotations

import os
import socket

import asyncpg
import structlog

from groupsync.db.queries import QUERIES
from groupsync.engine.report import RunReport

log = structlog.get_logger(__name__)


async def interrupt_stale_runs(conn: asyncpg.Connection, account: str) -> list[int]:
    """Mark runs left ``running`` by a dead process as interrupted, with their pending changes.

    Call this only while holding the account's lock: then no live process owns those runs.
    """
    async with conn.transaction():
        run_ids = [
            row["id"] for row in await conn.fetch(QUERIES["interrupt_running_runs"], account)
        ]
        if run_ids:
            await conn.execute(QUERIES["interrupt_pending_changes"], run_ids)
    for run_id in run_ids:
        log.warning("sync_run_interrupted", interrupted_run_id=run_id, account=account)
    return run_ids


async def start_run(
    conn: asyncpg.Connection,
    *,
    account: str,
    trigger: str,
    dry_run: bool,
    group_filter: list[str] | None,
) -> int:
    row = await conn.fetchrow(
        QUERIES["insert_run"],
        account,
        trigger,
        dry_run,
        group_filter,
        socket.gethostname(),
        os.getpid(),
    )
    assert row is not None
    return int(row["id"])


async def finish_run(conn: asyncpg.Connection, report: RunReport) -> None:
    counts = report.counts
    error = "; ".join(report.errors)[:4_000] or None
    async with conn.transaction():
        await conn.execute(
            QUERIES["finish_run"],
            report.run_id,
            report.status,
            counts.groups,
            counts.reads,
            counts.adds,
            counts.removes,
            counts.creates,
            counts.rejected,
            counts.failed,
            counts.held_groups,
            counts.api_calls,
            counts.retries,
            counts.rate_limited,
            error,
        )
        # Whatever status the run ends with, a change still pending was never sent by it.
        await conn.execute(QUERIES["interrupt_pending_changes"], [report.run_id])
