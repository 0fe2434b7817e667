"""Accounts: the Square sellers that the daemon serves, each with its own token and limits.

Accounts are rows of ``groupsync.accounts``. While that table is empty, the daemon serves the
single account named by ``sync.account`` with the configured token, as a single-seller setup
always has. Values an account row leaves NULL come from the configuration file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from groupsync.config import Settings
from groupsync.db.queries import QUERIES
from groupsync.errors import ConfigError
from groupsync.square.client import SquareClient
from groupsync.square.limiter import RateLimiter
from groupsync.square.retry import RetryPolicy


@dataclass(frozen=True)
class Account:
    """One Square seller and how to reach it. ``token_source`` names where the token is."""

    name: str
    base_url: str
    square_version: str
    rate_limit_per_s: float
    max_in_flight: int
    full_sync_interval_s: int
    merchant_id: str | None = None
    token_env: str | None = None
    token_file: Path | None = None
    # The configured token of the single-account setup; kept out of repr and comparisons.
    configured_token: str | None = field(default=None, repr=False, compare=False)

    @property
    def token_source(self) -> str:
        if self.token_env is not None:
            return f"environment variable {self.token_env}"
        if self.token_file is not None:
            return f"file {self.token_file}"
        return "SQUARE_ACCESS_TOKEN or SQUARE_ACCESS_TOKEN_FILE (groupsync.accounts is empty)"

    def read_token(self, env: Mapping[str, str] = os.environ) -> str:
        """Return the account's access token; raise ConfigError naming where it should be."""
        if self.token_env is not None:
            token = env.get(self.token_env, "").strip()
        elif self.token_file is not None:
            token = _read_token_file(self.token_file, account=self.name)
        else:
            token = self.configured_token or ""
        if not token or any(char.isspace() or not char.isprintable() for char in token):
            raise ConfigError(
                f"the access token of account {self.name!r} from {self.token_source} is "
                "missing, empty or contains spaces: set it to the seller's token alone"
            )
        return token

    def client(self, settings: Settings, *, token: str) -> SquareClient:
        """Return a client with the account's own rate limiter, so its rate budget is its own."""
        limits = settings.limits
        return SquareClient(
            base_url=self.base_url,
            token=token,
            square_version=self.square_version,
            request_timeout_s=settings.square.request_timeout_s,
            retry_policy=RetryPolicy(
                attempts=limits.retry_attempts,
                wait_initial_s=limits.retry_wait_initial_s,
                wait_max_s=limits.retry_wait_max_s,
            ),
            limiter=RateLimiter(rate_per_s=self.rate_limit_per_s, max_in_flight=self.max_in_flight),
        )


def configured_account(settings: Settings) -> Account:
    """Return the single account of a setup without account rows: ``sync.account``."""
    return Account(
        name=settings.sync.account,
        base_url=settings.square.base_url,
        square_version=settings.square.square_version,
        rate_limit_per_s=settings.limits.rate_limit_per_s,
        max_in_flight=settings.limits.max_in_flight,
        full_sync_interval_s=settings.sync.full_sync_interval_s,
        configured_token=settings.square.access_token,
    )


async def load_accounts(
    conn: asyncpg.Connection | asyncpg.Pool, settings: Settings
) -> list[Account]:
    """Return the enabled accounts, or the configured account when the table has no rows."""
    rows = await conn.fetch(QUERIES["accounts"])
    if not rows:
        return [configured_account(settings)]
    return [_from_row(row, settings) for row in rows if row["enabled"]]


async def account_for_merchant(
    conn: asyncpg.Connection | asyncpg.Pool, merchant_id: str | None, settings: Settings
) -> str:
    """Return the account whose ``merchant_id`` matches, else the configured account."""
    if merchant_id:
        name = await conn.fetchval(QUERIES["account_by_merchant"], merchant_id)
        if name is not None:
            return str(name)
    return settings.sync.account


def _from_row(row: asyncpg.Record, settings: Settings) -> Account:
    return Account(
        name=row["name"],
        base_url=row["base_url"] or settings.square.base_url,
        square_version=row["square_version"] or settings.square.square_version,
        rate_limit_per_s=row["rate_limit_per_s"] or settings.limits.rate_limit_per_s,
        max_in_flight=row["max_in_flight"] or settings.limits.max_in_flight,
        full_sync_interval_s=row["full_sync_interval_s"] or settings.sync.full_sync_interval_s,
        merchant_id=row["merchant_id"],
        token_env=row["token_env"],
        token_file=Path(row["token_file"]) if row["token_file"] else None,
    )


def _read_token_file(path: Path, *, account: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        problem = error.strerror if isinstance(error, OSError) else "it is not valid UTF-8"
        raise ConfigError(
            f"cannot read the access token of account {account!r} from {path}: {problem}"
        ) from error
