"""One account's runs inside the daemon: full resyncs, change runs and their errors.

A worker owns the account's Square client, so the account's requests share one rate
limiter. It starts a full resync when asked (schedule, ``groupsync trigger``, a new lease)
and a run of just the changed groups when a :class:`ChangeBatch` falls due. Every error of a
run is contained here and logged, so one account's failure never stops another's runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import asyncpg
import structlog

from groupsync.accounts import Account
from groupsync.config import Settings
from groupsync.db.queries import QUERIES
from groupsync.engine.lock import RunInProgress
from groupsync.engine.report import RunReport
from groupsync.engine.run import RunOptions, RunSettings, reconcile
from groupsync.errors import ConfigError, GroupsyncError
from groupsync.service.changes import ChangeBatch
from groupsync.square.client import SquareClient

log = structlog.get_logger(__name__)

# Wait before trying again a run skipped because another process held the account's lock,
# for example a replica still finishing a run after it lost the account's lease.
BUSY_RETRY_S = 2.0


class AccountWorker:
    """Runs one account's runs, one at a time, until :meth:`close`."""

    def __init__(
        self,
        account: Account,
        *,
        settings: Settings,
        run_settings: RunSettings,
        pool: asyncpg.Pool,
        run_slots: asyncio.Semaphore,
        on_client: Callable[[str, SquareClient, str], None] = lambda name, client, token: None,
        on_report: Callable[[RunReport], None] = lambda report: None,
        on_crash: Callable[[str, str], None] = lambda account, trigger: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self._settings = settings
        self._run_settings = run_settings
        self._pool = pool
        self._run_slots = run_slots
        self._on_client = on_client
        self._on_report = on_report
        self._on_crash = on_crash
        self._clock = clock
        # Set on close and passed to reconcile, which then sends no new request.
        self.stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._full_trigger: str | None = None
        self._changes = ChangeBatch(
            debounce_s=settings.sync.change_debounce_s,
            max_wait_s=settings.sync.change_debounce_max_s,
        )
        self._client: SquareClient | None = None
        # What the client was built with, to rebuild it when the settings or token change.
        self._client_key: tuple[Account, str] | None = None
        self._task: asyncio.Task[None] | None = None
        self.running = False

    @property
    def idle(self) -> bool:
        """True when no run is in progress or waiting to start."""
        return not self.running and self._full_trigger is None and not self._changes.pending

    def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name=f"account:{self.account.name}")

    async def close(self) -> None:
        """Stop: a run in progress finishes its requests in flight and is recorded."""
        self.stop.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None

    def request_full(self, trigger: str) -> None:
        """Ask for a full resync after the current run, if any; requests coalesce."""
        if self._full_trigger is None:
            self._full_trigger = trigger
        self._wake.set()

    def request_groups(self, groups: frozenset[str] | None) -> None:
        """Ask for a run of ``groups`` (None: all groups) once the changes have settled."""
        self._changes.add(groups, now=self._clock())
        self._wake.set()

    def replace_account(self, account: Account) -> None:
        """Use ``account``'s new settings from the next run on."""
        self.account = account

    async def _serve(self) -> None:
        while not self.stop.is_set():
            self._wake.clear()
            if self._full_trigger is not None:
                trigger, self._full_trigger = self._full_trigger, None
                # A full resync reads every group, so it covers the changes seen so far.
                self._changes.clear()
                await self._run(trigger=trigger, only_groups=None)
                continue

            due_at = self._changes.due_at()
            if due_at is not None and due_at <= self._clock():
                await self._run_changes(self._changes.take())
                continue

            timeout_s = None if due_at is None else max(due_at - self._clock(), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout_s)

    async def _run_changes(self, groups: frozenset[str] | None) -> None:
        if groups is not None:
            # Rows may name groups that are not managed, or no longer are; runs skip them.
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(QUERIES["managed_group_names"], self.account.name, groups)
            groups = frozenset(row["name"] for row in rows)
            if not groups:
                log.debug("change_ignored", account=self.account.name, reason="no managed group")
                return
        await self._run(trigger="change", only_groups=groups)

    async def _run(self, *, trigger: str, only_groups: frozenset[str] | None) -> None:
        async with self._run_slots:
            if self.stop.is_set():
                return
            client = await self._ensure_client()
            if client is None:
                return
            self.running = True
            try:
                await self._reconcile(client, trigger=trigger, only_groups=only_groups)
            finally:
                self.running = False

    async def _reconcile(
        self, client: SquareClient, *, trigger: str, only_groups: frozenset[str] | None
    ) -> None:
        options = RunOptions(
            account=self.account.name, trigger=trigger, only_groups=only_groups, stop=self.stop
        )
        try:
            report = await reconcile(
                pool=self._pool, client=client, settings=self._run_settings, options=options
            )
        except RunInProgress as error:
            log.info(
                "sync_run_skipped",
                account=self.account.name,
                reason=str(error),
                retry_in_s=BUSY_RETRY_S,
            )
            self._retry_later(trigger=trigger, only_groups=only_groups)
        except (GroupsyncError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
            # The run has logged and recorded what it could; the next run tries again.
            self._on_crash(self.account.name, trigger)
            log.error(
                "sync_run_crashed",
                account=self.account.name,
                error=f"{type(error).__name__}: {error}",
            )
        except Exception:
            # Any other error is a bug, but it must not end this account's runs for good, nor
            # reach the daemon and stop the other accounts.
            self._on_crash(self.account.name, trigger)
            log.exception("sync_run_crashed", account=self.account.name)
        else:
            self._on_report(report)

    def _retry_later(self, *, trigger: str, only_groups: frozenset[str] | None) -> None:
        loop = asyncio.get_running_loop()
        if trigger == "change":
            loop.call_later(BUSY_RETRY_S, self.request_groups, only_groups)
        else:
            loop.call_later(BUSY_RETRY_S, self.request_full, trigger)

    async def _ensure_client(self) -> SquareClient | None:
        """Return the account's client, rebuilt when its settings or token changed.

        The token is read before every run, so a rotated token file takes effect at the next
        run. Returns None, after logging why, when the token cannot be read.
        """
        try:
            token = self.account.read_token()
        except ConfigError as error:
            log.error("account_token_unavailable", account=self.account.name, error=str(error))
            return None
        key = (self.account, token)
        if self._client is not None and self._client_key == key:
            return self._client

        if self._client is not None:
            await self._client.close()
        self._client = await self.account.client(self._settings, token=token).__aenter__()
        self._client_key = key
        self._on_client(self.account.name, self._client, token)
        return self._client
