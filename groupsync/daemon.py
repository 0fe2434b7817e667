"""The daemon behind ``groupsync run``: accounts, leases, schedules, triggers, shutdown.

Several daemons (replicas) may serve one database. On every heartbeat a replica renews its
leases and takes free ones up to its fair share (see :mod:`groupsync.service.leases`), and
runs an :class:`~groupsync.service.worker.AccountWorker` for each account it holds. An
APScheduler job per account requests a full resync every ``full_sync_interval_s``, the
first at once. One LISTEN connection, reconnecting after a PostgreSQL restart, receives
``groupsync trigger`` (full resync) on ``sync.trigger_channel`` and the change triggers'
notifications on ``groupsync_changes`` (a run of just the changed groups, debounced).
With ``http.port`` set, the health, readiness and metrics endpoints are served, and the
Square webhook endpoint as well when it is configured. SIGTERM and SIGINT stop new work,
let the requests in flight finish, record the runs, release the leases and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from groupsync import metrics
from groupsync.accounts import Account, configured_account, load_accounts
from groupsync.config import Settings
from groupsync.db.errors import DatabaseUnavailable
from groupsync.db.pool import connect, create_pool
from groupsync.db.queries import QUERIES
from groupsync.engine.report import RunReport
from groupsync.errors import ConfigError, GroupsyncError
from groupsync.http.server import HttpServer, Readiness, check_readiness
from groupsync.logs import configure_logging
from groupsync.runtime import run_settings
from groupsync.service.changes import CHANGE_CHANNEL, parse_change
from groupsync.service.leases import LeaseTable, fair_share, new_replica_id
from groupsync.service.listener import NotificationListener
from groupsync.service.worker import AccountWorker
from groupsync.square.client import SquareClient
from groupsync.webhooks import WebhookReceiver

log = structlog.get_logger(__name__)

POOL_RETRY_MIN_S = 1.0
POOL_RETRY_MAX_S = 30.0
# Database connections per concurrent run: the lock's connection, plus reads and writes.
CONNECTIONS_PER_RUN = 4
# Connections beyond the runs': leases, webhooks and the readiness check.
SPARE_CONNECTIONS = 4
DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, GroupsyncError)


async def send_trigger(settings: Settings, *, account: str | None) -> None:
    """Ask the daemons for a full resync of ``account`` (None: every account), with a NOTIFY."""
    assert settings.database.url is not None
    conn = await connect(settings.database.url)
    try:
        await conn.execute(QUERIES["notify"], settings.sync.trigger_channel, account or "")
    finally:
        await conn.close()


class Daemon:
    """One replica: the accounts it holds leases on, their workers and its endpoints.

    ``account``, when given, restricts the replica to that one account; without account
    rows it also names the single account served (in place of ``sync.account``).
    """

    def __init__(self, settings: Settings, *, account: str | None = None) -> None:
        if account is not None:
            settings = dataclasses.replace(
                settings, sync=dataclasses.replace(settings.sync, account=account)
            )
        self.settings = settings
        self.only_account = account
        self.replica_id = new_replica_id()
        self.stop = asyncio.Event()
        self.workers: dict[str, AccountWorker] = {}
        self.runs_finished = 0
        self._run_settings = run_settings(settings)
        self._run_slots = asyncio.Semaphore(settings.sync.max_concurrent_runs)
        self._closing: set[asyncio.Task[None]] = set()
        self._secrets: set[str] = set()
        self._last_heartbeat = time.monotonic()
        self._leases_valid_until = time.monotonic()
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    async def serve(self) -> int:
        """Run until SIGTERM or SIGINT; return the process exit code."""
        pool = await self._open_pool()
        try:
            await self._check_configured_token(pool)
            return await self._serve(pool)
        finally:
            await pool.close()

    async def _serve(self, pool: asyncpg.Pool) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)

        leases = LeaseTable(pool, replica_id=self.replica_id, lease_s=self.settings.sync.lease_s)
        log.info(
            "daemon_started",
            replica_id=self.replica_id,
            account=self.only_account,
            lease_s=self.settings.sync.lease_s,
            trigger_channel=self.settings.sync.trigger_channel,
        )
        self._scheduler.start()
        http = await self._start_http(pool)
        listener = asyncio.create_task(self._listener().listen())
        try:
            await self._keep_leases(pool, leases)
        finally:
            await self._shut_down(leases, listener=listener, http=http)
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        log.info("daemon_stopped", replica_id=self.replica_id, runs=self.runs_finished)
        return 0

    async def _check_configured_token(self, pool: asyncpg.Pool) -> None:
        """Raise ConfigError when there are no account rows and no configured token either."""
        accounts = await load_accounts(pool, self.settings)
        if len(accounts) == 1 and accounts[0] == configured_account(self.settings):
            accounts[0].read_token()

    def _on_signal(self, signum: int) -> None:
        log.info("daemon_stopping", signal=signal.Signals(signum).name)
        self.stop.set()

    async def _open_pool(self) -> asyncpg.Pool:
        assert self.settings.database.url is not None
        max_size = self.settings.sync.max_concurrent_runs * CONNECTIONS_PER_RUN + SPARE_CONNECTIONS
        delay_s = POOL_RETRY_MIN_S
        while True:
            try:
                return await create_pool(self.settings.database.url, min_size=1, max_size=max_size)
            except DatabaseUnavailable as error:
                log.error("database_unavailable", error=str(error), retry_in_s=delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, POOL_RETRY_MAX_S)

    # Leases

    async def _keep_leases(self, pool: asyncpg.Pool, leases: LeaseTable) -> None:
        """Renew and rebalance the leases every ``lease_heartbeat_s`` until stopped."""
        heartbeat_s = self.settings.sync.lease_heartbeat_s
        while not self.stop.is_set():
            try:
                await self._heartbeat(pool, leases)
            except DATABASE_ERRORS as error:
                log.error("lease_heartbeat_failed", error=str(error), retry_in_s=heartbeat_s)
                if time.monotonic() > self._leases_valid_until:
                    # Other replicas may already serve these accounts: stop serving them.
                    for name in list(self.workers):
                        log.warning("lease_expired", account=name)
                        self._stop_worker(name)
            await self._pause(heartbeat_s)

    async def _heartbeat(self, pool: asyncpg.Pool, leases: LeaseTable) -> None:
        started = time.monotonic()
        accounts = {
            account.name: account
            for account in await load_accounts(pool, self.settings)
            if self.only_account is None or account.name == self.only_account
        }
        live_replicas = await leases.renew_replica()
        kept = set(await leases.renew(list(self.workers)))
        self._leases_valid_until = started + self.settings.sync.lease_s
        self._last_heartbeat = time.monotonic()

        for name in [name for name in self.workers if name not in kept]:
            log.warning("lease_lost", account=name, reason="another replica took the lease")
            self._stop_worker(name)
        for name in [name for name in self.workers if name not in accounts]:
            log.info("lease_released", account=name, reason="account removed or disabled")
            self._stop_worker(name, release=leases)
        for name, worker in self.workers.items():
            self._update_account(worker, accounts[name])

        share = fair_share(len(accounts), live_replicas)
        if len(self.workers) > share:
            self._shed(len(self.workers) - share, leases)
        elif len(self.workers) < share:
            candidates = [name for name in accounts if name not in self.workers]
            for name in await leases.take(candidates, limit=share - len(self.workers)):
                log.info("lease_taken", account=name, replicas=live_replicas, share=share)
                self._start_worker(accounts[name], pool)

    def _shed(self, count: int, leases: LeaseTable) -> None:
        """Release ``count`` idle accounts, so that replicas that joined can take them."""
        idle = [name for name, worker in self.workers.items() if worker.idle][:count]
        for name in idle:
            log.info("lease_released", account=name, reason="rebalance")
            self._stop_worker(name, release=leases)

    # Workers

    def _start_worker(self, account: Account, pool: asyncpg.Pool) -> None:
        worker = AccountWorker(
            account,
            settings=self.settings,
            run_settings=self._run_settings,
            pool=pool,
            run_slots=self._run_slots,
            on_client=self._on_client,
            on_report=self._on_report,
            on_crash=self._on_crash,
        )
        self.workers[account.name] = worker
        worker.start()
        self._scheduler.add_job(
            self._scheduled_run,
            IntervalTrigger(seconds=account.full_sync_interval_s, timezone=UTC),
            args=[account.name],
            id=_job_id(account.name),
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            replace_existing=True,
        )

    def _update_account(self, worker: AccountWorker, account: Account) -> None:
        if account.full_sync_interval_s != worker.account.full_sync_interval_s:
            self._scheduler.reschedule_job(
                _job_id(account.name),
                trigger=IntervalTrigger(seconds=account.full_sync_interval_s, timezone=UTC),
            )
        worker.replace_account(account)

    def _stop_worker(self, name: str, *, release: LeaseTable | None = None) -> None:
        """Stop the account's worker in the background; release its lease once it stopped."""
        worker = self.workers.pop(name)
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(_job_id(name))
        metrics.unregister_client(name)
        task = asyncio.create_task(self._close_worker(worker, release))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_worker(self, worker: AccountWorker, release: LeaseTable | None) -> None:
        await worker.close()
        if release is None:
            return
        try:
            await release.release([worker.account.name])
        except DATABASE_ERRORS as error:
            # The lease then expires after lease_s instead.
            log.error("lease_release_failed", account=worker.account.name, error=str(error))

    async def _scheduled_run(self, name: str) -> None:
        # A coroutine, so that APScheduler runs it on the event loop, not in a thread.
        worker = self.workers.get(name)
        if worker is not None:
            worker.request_full("schedule")

    def _on_client(self, name: str, client: SquareClient, token: str) -> None:
        metrics.register_client(name, client)
        if token not in self._secrets:
            self._secrets.add(token)
            self._redact_secrets()

    def _on_report(self, report: RunReport) -> None:
        self.runs_finished += 1
        metrics.record_run(report)

    def _on_crash(self, account: str, trigger: str) -> None:
        self.runs_finished += 1
        metrics.record_crashed_run(account=account, trigger=trigger)

    def _redact_secrets(self) -> None:
        """Redact every account's token from the logs, not only the configured one."""
        configured = self.settings.square.access_token
        configure_logging(
            level=self.settings.logging.level,
            format=self.settings.logging.format,
            secrets=sorted(self._secrets | ({configured} if configured else set())),
        )

    # Notifications

    def _listener(self) -> NotificationListener:
        assert self.settings.database.url is not None
        return NotificationListener(
            self.settings.database.url,
            handlers={
                self.settings.sync.trigger_channel: self._on_trigger,
                CHANGE_CHANNEL: self._on_change,
            },
            on_reconnect=self._on_listener_reconnect,
            stop=self.stop,
        )

    def _on_trigger(self, payload: str) -> None:
        for name, worker in self.workers.items():
            if not payload or payload == name:
                log.info("trigger_received", account=name)
                worker.request_full("notify")

    def _on_change(self, payload: str) -> None:
        notice = parse_change(payload)
        if notice is None:
            log.warning("change_notification_invalid", payload=payload[:200])
            return
        worker = self.workers.get(notice.account)
        if worker is None:
            return
        groups = None if notice.groups is None else sorted(notice.groups)
        log.info("change_received", account=notice.account, groups=groups)
        worker.request_groups(notice.groups)

    def _on_listener_reconnect(self) -> None:
        # Notifications sent while the listener was disconnected were lost, so catch up.
        for worker in self.workers.values():
            worker.request_full("notify")

    # Endpoints and shutdown

    async def _start_http(self, pool: asyncpg.Pool) -> HttpServer | None:
        webhooks = self.settings.webhooks
        if self.settings.http.port is None:
            if webhooks.notification_url is not None:
                log.warning("webhook_endpoint_disabled", reason="http.port is not set")
            return None

        routes = []
        if webhooks.notification_url is not None:
            routes.append(WebhookReceiver(pool, self.settings).route())

        async def readiness() -> Readiness:
            return await check_readiness(
                pool,
                accounts=sorted(self.workers),
                scheduler_running=self._scheduler.running,
                max_failed_age_s=self.settings.http.max_failed_age_s,
            )

        server = HttpServer(
            host=self.settings.http.host,
            port=self.settings.http.port,
            readiness=readiness,
            extra_routes=routes,
            heartbeat_age_s=lambda: time.monotonic() - self._last_heartbeat,
        )
        try:
            await server.start()
        except OSError as error:
            raise ConfigError(
                f"cannot listen on http.host:http.port = {self.settings.http.host}:"
                f"{self.settings.http.port}: {error.strerror}; set GROUPSYNC_HTTP_PORT (or "
                "http.port) to a free port"
            ) from error
        return server

    async def _shut_down(
        self, leases: LeaseTable, *, listener: asyncio.Task[Any], http: HttpServer | None
    ) -> None:
        self.stop.set()
        for name in list(self.workers):
            self._stop_worker(name, release=leases)
        await asyncio.gather(*self._closing, return_exceptions=True)
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        self._scheduler.shutdown(wait=False)
        if http is not None:
            await http.stop()
        try:
            await leases.leave()
        except DATABASE_ERRORS as error:
            log.error("replica_leave_failed", error=str(error))

    async def _pause(self, delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), delay_s)


def _job_id(account: str) -> str:
    return f"full_sync:{account}"
