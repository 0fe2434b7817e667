"""The CSV import: one group's desired memberships from a UTF-8 CSV file.

The header names the columns, in any order. Allowed columns are the identity columns
``square_customer_id``, ``email_address``, ``phone_number`` and ``reference_id`` (at least one
of them is required) and ``given_name``, ``family_name`` and ``company_name``. Header names
are matched ignoring case, surrounding spaces, and spaces or hyphens in place of underscores,
so Square's export headers such as "Email Address" work. The aliases ``email``, ``phone``,
``first_name``, ``last_name`` and ``company`` are accepted too.

The delimiter is a comma, a semicolon or a tab, whichever the header line contains. Lines
whose fields are all empty are skipped. Rows are stored as written (trimmed, empty values as
NULL), because each run normalises them again.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import structlog

from groupsync.errors import InputError
from groupsync.identity import (
    IDENTITY_FIELDS,
    PERSON_FIELDS,
    InvalidIdentity,
    is_supported_region,
    normalize_person,
)

if TYPE_CHECKING:
    # csv.reader() returns this type, which the csv module does not export.
    from _csv import Reader as CsvReader

log = structlog.get_logger()

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
HEADER_ALIASES = {
    "email": "email_address",
    "phone": "phone_number",
    "first_name": "given_name",
    "last_name": "family_name",
    "company": "company_name",
}
COPY_COLUMNS = ("account", "group_name", *PERSON_FIELDS)

DELETE_GROUP_ROWS = """
DELETE FROM groupsync.desired_memberships WHERE account = $1 AND group_name = $2
"""
GROUP_IS_MANAGED = """
SELECT EXISTS (SELECT 1 FROM groupsync.managed_groups WHERE account = $1 AND name = $2)
"""


@dataclass(frozen=True)
class RejectedLine:
    """A CSV line that was not imported. ``reason`` is a stable snake_case code."""

    line: int
    reason: str
    detail: str


@dataclass
class ImportReport:
    """Outcome of an import: rows imported, lines rejected and lines skipped as duplicates."""

    imported: int = 0
    rejected: list[RejectedLine] = field(default_factory=list)
    # Line numbers of rows whose person key an earlier line of the file already had.
    duplicates: list[int] = field(default_factory=list)
    delimiter: str = ","
    # False when the group is not in managed_groups: runs reject its rows until it is added.
    group_managed: bool = True


class NothingToImport(InputError):
    """Every data row of the file was rejected, so the import changed nothing."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ParsedFile:
    """A CSV file read and checked: the rows to store and the report so far."""

    records: list[tuple[str | None, ...]]
    report: ImportReport


async def import_csv(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection,
    path: Path,
    *,
    account: str,
    group_name: str,
    replace: bool = True,
    default_region: str = "US",
) -> ImportReport:
    """Store the valid rows of ``path`` as desired memberships of ``group_name``.

    With ``replace`` the group's existing rows for ``account`` are deleted in the same
    transaction, so an error leaves them intact. Raises InputError, and changes nothing,
    when the file as a whole is unusable (unreadable, not UTF-8, bad header) and
    NothingToImport when it has data rows but none is valid. A header-only file is valid:
    with ``replace`` it empties the group.
    """
    _check_target(account, group_name, default_region)
    parsed = parse_csv(path, account=account, group_name=group_name, default_region=default_region)
    if parsed.report.rejected and not parsed.records:
        raise NothingToImport(_nothing_message(path, parsed.report), parsed.report)

    async with _connection(pool_or_conn) as conn:
        if not await conn.fetchval(GROUP_IS_MANAGED, account, group_name):
            parsed.report.group_managed = False
            log.warning("import_group_not_managed", account=account, group_name=group_name)
        await _store(conn, parsed.records, account=account, group_name=group_name, replace=replace)

    report = parsed.report
    report.imported = len(parsed.records)
    log.info(
        "csv_imported",
        path=str(path),
        account=account,
        group_name=group_name,
        replace=replace,
        imported=report.imported,
        rejected=len(report.rejected),
        duplicates=len(report.duplicates),
    )
    return report


def parse_csv(
    path: Path, *, account: str, group_name: str, default_region: str = "US"
) -> ParsedFile:
    """Read and check ``path`` without touching the database.

    Each record has the columns of COPY_COLUMNS. Raises InputError when the file as a whole
    is unusable.
    """
    text = _read_text(path)
    delimiter = _detect_delimiter(path, text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    report = ImportReport(delimiter=delimiter)

    header = _read_header(path, reader)
    records: list[tuple[str | None, ...]] = []
    seen_keys: set[str] = set()
    last_line = reader.line_num
    for row in _rows(path, reader):
        line, last_line = last_line + 1, reader.line_num
        if not any(value.strip() for value in row):
            continue

        values = _row_values(row, header, line=line, report=report)
        if values is None:
            continue
        try:
            person = normalize_person(values, default_region=default_region)
        except InvalidIdentity as error:
            report.rejected.append(RejectedLine(line, error.reason, str(error)))
            continue

        if person.key in seen_keys:
            report.duplicates.append(line)
            continue
        seen_keys.add(person.key)
        records.append((account, group_name, *(values.get(name) for name in PERSON_FIELDS)))

    return ParsedFile(records=records, report=report)


def _check_target(account: str, group_name: str, default_region: str) -> None:
    if not account.strip():
        raise InputError("the account name is empty: name the account to import into")
    if not group_name.strip():
        raise InputError("the group name is empty: name the group to import into with --group")
    if not is_supported_region(default_region):
        raise InputError(
            f"unknown phone region {default_region!r}: use a two-letter region code "
            "such as US or GB"
        )


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from error

    offset = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[offset:].decode("utf-8")
    except UnicodeDecodeError as error:
        position = offset + error.start
        line = data.count(b"\n", 0, position) + 1
        raise InputError(
            f"{path}: line {line} is not valid UTF-8 (byte 0x{data[position]:02x} at byte "
            f"offset {position}): save the file as UTF-8 and import it again"
        ) from error


def _detect_delimiter(path: Path, text: str) -> str:
    """Return the one delimiter that the header line contains, or a comma if it has none.

    Column names never contain a delimiter, so the header line decides without guessing.
    """
    header_line = text.split("\n", 1)[0]
    found = [char for char in DELIMITERS if char in header_line]
    if len(found) > 1:
        names = " and ".join(DELIMITERS[char] for char in found)
        raise InputError(
            f"{path}: line 1 (the header) contains both {names} delimiters: separate the "
            "columns with one of comma, semicolon or tab"
        )
    return found[0] if found else ","


def _read_header(path: Path, reader: CsvReader) -> list[str]:
    allowed = ", ".join(PERSON_FIELDS)
    try:
        raw = next(reader)
    except StopIteration:
        raise InputError(
            f"{path} is empty: the first line must be a header naming columns from: {allowed}"
        ) from None
    except csv.Error as error:
        raise InputError(f"{path}: line 1 (the header) is not valid CSV: {error}") from error

    header = [_column_name(name) for name in raw]
    for position, name in enumerate(header, start=1):
        if not name:
            raise InputError(f"{path}: column {position} of the header has no name")
        if name not in PERSON_FIELDS:
            raise InputError(
                f"{path}: unknown column {raw[position - 1].strip()!r} in the header. "
                f"Allowed columns: {allowed} (aliases: {', '.join(HEADER_ALIASES)})"
            )
        if header.count(name) > 1:
            raise InputError(f"{path}: column {name} appears more than once in the header")

    if not set(header) & set(IDENTITY_FIELDS):
        raise InputError(
            f"{path}: the header names no identity column: add at least one of "
            f"{', '.join(IDENTITY_FIELDS)}"
        )
    return header


def _column_name(raw: str) -> str:
    name = raw.strip().lower().replace(" ", "_").replace("-", "_")
    return HEADER_ALIASES.get(name, name)


def _rows(path: Path, reader: CsvReader) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as error:
        raise InputError(
            f"{path}: line {reader.line_num} is not valid CSV: {error}. Nothing was imported"
        ) from error


def _row_values(
    row: Sequence[str], header: Sequence[str], *, line: int, report: ImportReport
) -> dict[str, str | None] | None:
    """Return the row's trimmed values by column, or None after recording a rejection."""
    if len(row) != len(header):
        report.rejected.append(
            RejectedLine(
                line,
                "wrong_field_count",
                f"the line has {len(row)} fields but the header has {len(header)}: check for "
                "a stray delimiter or a value that needs quotes",
            )
        )
        return None
    if any("\x00" in value for value in row):
        report.rejected.append(
            RejectedLine(
                line,
                "invalid_character",
                "the line contains a NUL character, which PostgreSQL cannot store: remove it",
            )
        )
        return None
    return {name: value.strip() or None for name, value in zip(header, row, strict=True)}


def _nothing_message(path: Path, report: ImportReport) -> str:
    first = report.rejected[0]
    return (
        f"{path}: none of its {len(report.rejected)} data rows is valid, so nothing was "
        f"imported. First: line {first.line}: {first.detail}"
    )


@asynccontextmanager
async def _connection(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection,
) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            yield conn
    else:
        yield pool_or_conn


async def _store(
    conn: asyncpg.Connection,
    records: list[tuple[str | None, ...]],
    *,
    account: str,
    group_name: str,
    replace: bool,
) -> None:
    async with conn.transaction():
        if replace:
            await conn.execute(DELETE_GROUP_ROWS, account, group_name)
        await conn.copy_records_to_table(
            "desired_memberships",
            schema_name="groupsync",
            columns=list(COPY_COLUMNS),
            records=records,
        )
