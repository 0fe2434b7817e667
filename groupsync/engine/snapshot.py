"""Reading the snapshot: the members Square reports for each managed group.

Groups are read concurrently, page by page, and each page is copied into the run's
``run_snapshot`` working set. A group whose read fails is marked incomplete: a failed
or partial read is never taken to mean "no members", so that group loses nobody this run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import structlog

from groupsync.engine.desired import ManagedGroup
from groupsync.engine.progress import Progress
from groupsync.square.client import SquareClient
from groupsync.square.errors import AuthenticationFailed, SquareError

log = structlog.get_logger(__name__)


@dataclass
class GroupRead:
    """The outcome of reading one group's members."""

    members: int = 0
    pages: int = 0
    complete: bool = False
    error: str | None = None


class SnapshotReader:
    """Reads the members of a run's managed groups into ``run_snapshot``."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: SquareClient,
        *,
        run_id: int,
        concurrency: int,
        max_pages_per_group: int,
        progress: Progress | None = None,
    ) -> None:
        self._progress = progress
        self._pool = pool
        self._client = client
        self._run_id = run_id
        self._semaphore = asyncio.Semaphore(concurrency)
        self._max_pages = max_pages_per_group

    async def read(self, groups: list[ManagedGroup]) -> dict[str, GroupRead]:
        """Read every group in ``groups``; return each group's outcome by name."""
        results = await asyncio.gather(*(self._read_group(group) for group in groups))
        return {group.name: result for group, result in zip(groups, results, strict=True)}

    async def _read_group(self, group: ManagedGroup) -> GroupRead:
        result = await self._read_members(group)
        if self._progress is not None:
            self._progress.advance()
        return result

    async def _read_members(self, group: ManagedGroup) -> GroupRead:
        assert group.square_group_id is not None
        result = GroupRead()
        async with self._semaphore:
            try:
                async for page in self._client.iter_group_members(
                    group.square_group_id, max_pages=self._max_pages
                ):
                    result.pages += 1
                    await self._copy(group.square_group_id, [customer["id"] for customer in page])
                    result.members += len(page)
            except AuthenticationFailed:
                raise
            except SquareError as error:
                result.error = str(error)
                log.error(
                    "snapshot_read_failed",
                    group_name=group.name,
                    group_id=group.square_group_id,
                    pages=result.pages,
                    error=str(error),
                )
                return result
        result.complete = True
        log.info(
            "snapshot_read",
            group_name=group.name,
            group_id=group.square_group_id,
            members=result.members,
            pages=result.pages,
        )
        return result

    async def _copy(self, group_id: str, customer_ids: list[str]) -> None:
        if not customer_ids:
            return
        async with self._pool.acquire() as conn:
            await conn.copy_records_to_table(
                "run_snapshot",
                schema_name="groupsync",
                records=[(self._run_id, group_id, customer_id) for customer_id in customer_ids],
                columns=("run_id", "square_group_id", "square_customer_id"),
            )
