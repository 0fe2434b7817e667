"""Database errors as groupsync decides on them, mapped from asyncpg and OSError."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from groupsync.errors import PermanentError, TemporaryError


class DatabaseUnavailable(TemporaryError):
    """PostgreSQL could not be reached or dropped the connection; trying later may work."""


class DatabaseSetupError(PermanentError):
    """The database is reachable but not usable as configured (auth, missing schema, ...)."""


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced, safe to show in messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
