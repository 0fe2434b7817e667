"""``groupsync export``: a managed group's members as Square reports them, as CSV or JSON lines."""

from __future__ import annotations

import csv
import json
from typing import IO, Any

import asyncpg

from groupsync.db.queries import QUERIES
from groupsync.errors import InputError
from groupsync.square.client import SquareClient

EXPORT_COLUMNS = (
    "square_customer_id",
    "given_name",
    "family_name",
    "company_name",
    "email_address",
    "phone_number",
    "reference_id",
)


async def export_group(
    pool: asyncpg.Pool,
    client: SquareClient,
    *,
    account: str,
    group_name: str,
    output: IO[str],
    format: str = "csv",
) -> int:
    """Write the members of managed group ``group_name`` to ``output``; return how many."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES["managed_group"], account, group_name)
    if row is None:
        raise InputError(
            f"group {group_name!r} is not managed for account {account!r}; "
            "see groupsync.managed_groups"
        )
    if row["square_group_id"] is None:
        raise InputError(f"group {group_name!r} has no Square id yet; run `groupsync sync` first")

    writer = csv.writer(output) if format == "csv" else None
    if writer is not None:
        writer.writerow(EXPORT_COLUMNS)

    count = 0
    async for page in client.iter_group_members(row["square_group_id"]):
        for customer in page:
            _write(customer, writer=writer, output=output)
            count += 1
    return count


def _write(customer: dict[str, Any], *, writer: Any, output: IO[str]) -> None:
    values = {"square_customer_id": customer["id"]}
    values.update({column: customer.get(column) for column in EXPORT_COLUMNS[1:]})
    if writer is not None:
        writer.writerow([values[column] or "" for column in EXPORT_COLUMNS])
    else:
        output.write(json.dumps(values, ensure_ascii=False) + "\n")
