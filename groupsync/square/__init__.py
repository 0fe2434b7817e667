"""groupsync's client for Square's Customers and Customer Groups APIs.

The public names are re-exported here; each lives in the module named after it.
"""

from groupsync.square.client import Group, SquareClient, resolve_base_url
from groupsync.square.errors import (
    AuthenticationFailed,
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidResponse,
    NotFound,
    PagingError,
    RateLimited,
    RequestTimedOut,
    ServerError,
    SquareError,
    Unauthorized,
)
from groupsync.square.limiter import RateLimiter
from groupsync.square.retry import RetryPolicy
from groupsync.square.stats import RequestStats

__all__ = [
    "AuthenticationFailed",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "Group",
    "InvalidResponse",
    "NotFound",
    "PagingError",
    "RateLimited",
    "RateLimiter",
    "RequestStats",
    "RequestTimedOut",
    "RetryPolicy",
    "ServerError",
    "SquareClient",
    "SquareError",
    "Unauthorized",
    "resolve_base_url",
]
