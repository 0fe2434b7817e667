"""Named SQL queries, kept in ``queries.sql`` so that the SQL reads as SQL.

Each query in the file starts with a ``-- name: query_name`` line; the text up to the
next such line is the query. Access them as ``QUERIES["query_name"]``.
"""

from __future__ import annotations

import re
from importlib import resources
from types import MappingProxyType

NAME_LINE = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split ``text`` into queries by their ``-- name:`` lines."""
    parts = NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice in queries.sql")
        queries[name] = body.strip()
    return queries


QUERIES = MappingProxyType(
    parse_queries(resources.files("groupsync.db").joinpath("queries.sql").read_text())
)
