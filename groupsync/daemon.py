"""The daemon behind ``groupsync run``: scheduled full runs, triggers, clean shutdown.

An APScheduler job starts a full resync every ``sync.full_sync_interval_s`` (misfires
coalesced, never two at once). A dedicated connection LISTENs on ``sync.trigger_channel``,
so ``groupsync trigger`` (or a NOTIFY from SQL) starts a full resync within seconds; it
reconnects with backoff when PostgreSQL restarts. SIGTERM and SIGINT stop new work, let
the requests in flight finish, record the run as interrupted and exit.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime

import asyncpg
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from groupsync.config import Settings
from groupsync.db.errors import DatabaseUnavailable
from groupsync.db.pool import connect, create_pool
from groupsync.engine.lock import RunInProgress
from groupsync.engine.run import RunOptions, reconcile
from groupsync.errors import GroupsyncError
from groupsync.runtime import run_settings, square_client
from groupsync.square.client import SquareClient

log = structlog.get_logger(__name__)

LISTEN_RETRY_MIN_S = 1.0
LISTEN_RETRY_MAX_S = 30.0
# How often the listener checks that its connection is still alive.
LISTEN_HEALTH_CHECK_S = 5.0


async def send_trigger(settings: Settings, *, account: str) -> None:
    """Ask every daemon serving ``account`` for a full resync, with a NOTIFY."""
    assert settings.database.url is not None
    conn = await connect(settings.database.url)
    try:
        await conn.execute("SELECT pg_notify($1, $2)", settings.sync.trigger_channel, account)
    finally:
        await conn.close()


class Daemon:
    """One account's scheduler, trigger listener and run loop."""

    def __init__(self, settings: Settings, *, account: str) -> None:
        self.settings = settings
        self.account = account
        self.stop = asyncio.Event()
        # Set when a run is wanted; the run loop clears it when it starts a run, so requests
        # that arrive during a run are coalesced into one follow-up run.
        self.wanted = asyncio.Event()
        self._trigger_of_wanted = "schedule"
        self.runs_finished = 0

    async def serve(self) -> int:
        """Run until SIGTERM or SIGINT; return the process exit code."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)

        assert self.settings.database.url is not None
        pool = await self._open_pool()
        scheduler = self._scheduler()
        log.info(
            "daemon_started",
            account=self.account,
            full_sync_interval_s=self.settings.sync.full_sync_interval_s,
            trigger_channel=self.settings.sync.trigger_channel,
        )
        try:
            async with square_client(self.settings) as client:
                scheduler.start()
                listener = asyncio.create_task(self._listen())
                try:
                    await self._run_loop(pool, client)
                finally:
                    listener.cancel()
                    await asyncio.gather(listener, return_exceptions=True)
        finally:
            scheduler.shutdown(wait=False)
            await pool.close()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        log.info("daemon_stopped", account=self.account, runs=self.runs_finished)
        return 0

    def request_run(self, trigger: str) -> None:
        """Ask for a full resync as soon as the current run, if any, has finished."""
        if not self.wanted.is_set():
            self._trigger_of_wanted = trigger
        self.wanted.set()

    def _on_signal(self, signum: int) -> None:
        log.info("daemon_stopping", signal=signal.Signals(signum).name)
        self.stop.set()
        self.wanted.set()

    async def _open_pool(self) -> asyncpg.Pool:
        assert self.settings.database.url is not None
        delay_s = LISTEN_RETRY_MIN_S
        while True:
            try:
                return await create_pool(self.settings.database.url, min_size=1, max_size=10)
            except DatabaseUnavailable as error:
                log.error("database_unavailable", error=str(error), retry_in_s=delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, LISTEN_RETRY_MAX_S)

    def _scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self.request_run,
            IntervalTrigger(seconds=self.settings.sync.full_sync_interval_s, timezone=UTC),
            args=["schedule"],
            id="full_sync",
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        return scheduler

    async def _run_loop(self, pool: asyncpg.Pool, client: SquareClient) -> None:
        while not self.stop.is_set():
            await self.wanted.wait()
            if self.stop.is_set():
                return
            self.wanted.clear()
            await self._run_once(pool, client, trigger=self._trigger_of_wanted)

    async def _run_once(self, pool: asyncpg.Pool, client: SquareClient, *, trigger: str) -> None:
        options = RunOptions(account=self.account, trigger=trigger, stop=self.stop)
        try:
            await reconcile(
                pool=pool, client=client, settings=run_settings(self.settings), options=options
            )
        except RunInProgress as error:
            log.info("sync_run_skipped", reason=str(error))
        except (GroupsyncError, asyncpg.PostgresError, OSError) as error:
            # The run has logged and recorded what it could; the daemon lives on and the
            # next scheduled run or trigger tries again.
            log.error("sync_run_crashed", error=f"{type(error).__name__}: {error}")
        finally:
            self.runs_finished += 1

    async def _listen(self) -> None:
        """LISTEN for triggers, reconnecting with backoff whenever the connection drops."""
        assert self.settings.database.url is not None
        channel = self.settings.sync.trigger_channel
        delay_s = LISTEN_RETRY_MIN_S
        lost_once = False
        while not self.stop.is_set():
            try:
                conn = await connect(self.settings.database.url)
            except GroupsyncError as error:
                log.error("trigger_listener_disconnected", error=str(error), retry_in_s=delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, LISTEN_RETRY_MAX_S)
                continue
            try:
                await conn.add_listener(channel, self._on_notify)
                delay_s = LISTEN_RETRY_MIN_S
                if lost_once:
                    log.info("trigger_listener_reconnected", channel=channel)
                    # Triggers sent while disconnected were lost, so catch up with a full run.
                    self.request_run("notify")
                else:
                    log.info("trigger_listener_started", channel=channel)
                await self._watch(conn)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as error:
                log.error("trigger_listener_disconnected", error=str(error), retry_in_s=delay_s)
            finally:
                lost_once = True
                if not conn.is_closed():
                    conn.terminate()

    async def _watch(self, conn: asyncpg.Connection) -> None:
        while not self.stop.is_set() and not conn.is_closed():
            await asyncio.sleep(LISTEN_HEALTH_CHECK_S)
            await conn.execute("SELECT 1")

    def _on_notify(self, conn: object, pid: int, channel: str, payload: str) -> None:
        if payload and payload != self.account:
            return
        log.info("trigger_received", channel=channel, sender_pid=pid)
        self.request_run("notify")
