"""The LISTEN connection of the daemon, which reconnects whenever PostgreSQL drops it.

One dedicated connection listens on every channel the daemon needs. When it comes back
after a loss, ``on_reconnect`` is called, because notifications sent while it was gone are
lost and the caller must catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

import asyncpg
import structlog

from groupsync.db.pool import connect
from groupsync.errors import GroupsyncError

log = structlog.get_logger(__name__)

RETRY_MIN_S = 1.0
RETRY_MAX_S = 30.0
# How often the listener checks that its connection is still alive.
HEALTH_CHECK_S = 5.0

# Called with the payload of each notification on the handler's channel.
Handler = Callable[[str], None]


class NotificationListener:
    """LISTENs on ``handlers``' channels until ``stop`` is set."""

    def __init__(
        self,
        database_url: str,
        *,
        handlers: Mapping[str, Handler],
        on_reconnect: Callable[[], None],
        stop: asyncio.Event,
    ) -> None:
        self._url = database_url
        self._handlers = dict(handlers)
        self._on_reconnect = on_reconnect
        self._stop = stop

    async def listen(self) -> None:
        """LISTEN, reconnecting with backoff whenever the connection drops."""
        delay_s = RETRY_MIN_S
        lost_once = False
        channels = sorted(self._handlers)
        while not self._stop.is_set():
            try:
                conn = await connect(self._url)
            except GroupsyncError as error:
                log.error("trigger_listener_disconnected", error=str(error), retry_in_s=delay_s)
                await self._pause(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)
                continue
            try:
                for channel in channels:
                    await conn.add_listener(channel, self._dispatch)
                delay_s = RETRY_MIN_S
                if lost_once:
                    log.info("trigger_listener_reconnected", channels=channels)
                    self._on_reconnect()
                else:
                    log.info("trigger_listener_started", channels=channels)
                await self._watch(conn)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as error:
                log.error("trigger_listener_disconnected", error=str(error), retry_in_s=delay_s)
                await self._pause(delay_s)
            finally:
                lost_once = True
                if not conn.is_closed():
                    conn.terminate()

    async def _watch(self, conn: asyncpg.Connection) -> None:
        while not self._stop.is_set() and not conn.is_closed():
            await self._pause(HEALTH_CHECK_S)
            await conn.execute("SELECT 1")

    async def _pause(self, delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay_s)

    def _dispatch(self, conn: object, pid: int, channel: str, payload: str) -> None:
        log.debug("notification_received", channel=channel, sender_pid=pid)
        self._handlers[channel](payload)
