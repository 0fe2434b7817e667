"""The send path of a request to Square, in layers.

:meth:`Transport.send` runs the retry policy around one attempt; an attempt
takes a limiter slot, sends one HTTP request, reads and decodes the body, maps
failures to :mod:`groupsync.square.errors`, reports the outcome to the limiter
and counts the request in :class:`~groupsync.square.stats.RequestStats`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from groupsync import __version__
from groupsync.square.errors import (
    RateLimited,
    SquareError,
    error_for_exception,
    error_for_status,
    invalid_body_error,
)
from groupsync.square.limiter import RateLimiter
from groupsync.square.retry import RetryPolicy, call_with_retries
from groupsync.square.stats import NO_RESPONSE, RequestStats

USER_AGENT = f"groupsync/{__version__}"

# aiohttp raises these while connecting, sending or reading; anything else is a bug.
_CLIENT_FAILURES = (aiohttp.ClientError, TimeoutError, OSError)


class Transport:
    """Sends requests to one Square base URL with one access token.

    ``session`` is used, never closed, here; the owner closes it.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        square_version: str,
        request_timeout_s: float,
        retry_policy: RetryPolicy,
        limiter: RateLimiter,
        stats: RequestStats,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._square_version = square_version
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._retry_policy = retry_policy
        self._limiter = limiter
        self._stats = stats

    async def send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send a request, retrying temporary failures, and return the decoded JSON object.

        ``path`` starts with ``/v2/`` and has its ids already quoted. Raises a
        :class:`~groupsync.square.errors.SquareError` subclass on failure.
        """

        async def send_attempt(attempt: int) -> dict[str, Any]:
            if attempt > 1:
                self._stats.count_retry()
            return await self._attempt(
                method, path, operation=operation, params=params, json_body=json_body
            )

        return await call_with_retries(send_attempt, policy=self._retry_policy, operation=operation)

    async def _attempt(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None,
        json_body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        async with self._limiter.slot() as sent_at:
            try:
                status, body_text, retry_after = await self._exchange(
                    method, path, params=params, json_body=json_body
                )
            except _CLIENT_FAILURES as error:
                self._stats.count_request(operation, NO_RESPONSE)
                raise error_for_exception(error, operation=operation, secret=self._token) from error

        self._stats.count_request(operation, status)
        try:
            body = self._decode(operation, status, body_text, retry_after)
        except RateLimited as error:
            self._limiter.on_rate_limited(error.retry_after_s, sent_at=sent_at)
            raise

        self._limiter.on_success()
        return body

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None,
        json_body: Mapping[str, Any] | None,
    ) -> tuple[int, str, str | None]:
        # NOTE: aiohttp (seen in 3.14) resends a GET, PUT or DELETE once by itself when
        # the server closes the connection before responding; that resend is not counted
        # in RequestStats and logs no retry.
        data = None if json_body is None else json.dumps(json_body)
        async with self._session.request(
            method,
            self._base_url + path,
            params=dict(params) if params else None,
            data=data,
            headers=self._headers(),
            timeout=self._timeout,
            allow_redirects=False,
        ) as response:
            body_text = await response.text(errors="replace")
            return response.status, body_text, response.headers.get("Retry-After")

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._token}",
            "Square-Version": self._square_version,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def _decode(
        self, operation: str, status: int, body_text: str, retry_after: str | None
    ) -> dict[str, Any]:
        if not 200 <= status < 300:
            raise error_for_status(
                operation=operation,
                status=status,
                body_text=body_text,
                retry_after=retry_after,
                secret=self._token,
            )

        if status == 204:
            return {}
        try:
            body = json.loads(body_text)
        except ValueError as error:
            raise self._invalid_body(operation, status, body_text) from error
        if not isinstance(body, dict):
            raise self._invalid_body(operation, status, body_text)
        return body

    def _invalid_body(self, operation: str, status: int, body_text: str) -> SquareError:
        return invalid_body_error(
            operation=operation, status=status, body_text=body_text, secret=self._token
        )
