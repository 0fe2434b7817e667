"""The CSV import into groupsync.desired_memberships, against a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from groupsync.csv_import import ImportReport, NothingToImport, RejectedLine, import_csv
from groupsync.errors import InputError

MIGRATION = Path(__file__).parent.parent / "migrations" / "0001_initial.sql"

SELECT_GROUP = """
SELECT square_customer_id, email_address, phone_number, reference_id,
       given_name, family_name, company_name
FROM groupsync.desired_memberships
WHERE account = $1 AND group_name = $2
ORDER BY id
"""


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    await connection.execute(MIGRATION.read_text())
    yield connection
    await connection.close()


def write_csv(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "members.csv"
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(data)
    return path


async def run_import(
    conn: asyncpg.Connection, path: Path, *, group: str = "VIP", replace: bool = True
) -> ImportReport:
    return await import_csv(conn, path, account="default", group_name=group, replace=replace)


async def group_rows(conn: asyncpg.Connection, group: str = "VIP", account: str = "default"):
    return [dict(row) for row in await conn.fetch(SELECT_GROUP, account, group)]


async def emails(conn: asyncpg.Connection, group: str = "VIP", account: str = "default"):
    return [row["email_address"] for row in await group_rows(conn, group, account)]


async def seed(conn: asyncpg.Connection, *rows: tuple[str, str, str]) -> None:
    await conn.executemany(
        "INSERT INTO groupsync.desired_memberships (account, group_name, email_address) "
        "VALUES ($1, $2, $3)",
        rows,
    )


async def test_valid_file_imported(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "email_address,phone_number,given_name,family_name,company_name,reference_id\n"
        " Ada@Example.com ,(206) 222-3333,Ada,Lovelace,Engines Ltd,R-1\n"
        "grace@example.com,,Grace,,,\n",
    )

    report = await run_import(conn, path)

    assert report == ImportReport(
        imported=2, rejected=[], duplicates=[], delimiter=",", group_managed=False
    )
    assert await group_rows(conn) == [
        {
            "square_customer_id": None,
            "email_address": "Ada@Example.com",
            "phone_number": "(206) 222-3333",
            "reference_id": "R-1",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "company_name": "Engines Ltd",
        },
        {
            "square_customer_id": None,
            "email_address": "grace@example.com",
            "phone_number": None,
            "reference_id": None,
            "given_name": "Grace",
            "family_name": None,
            "company_name": None,
        },
    ]


async def test_unicode_values_kept(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "reference_id,given_name,family_name\nR1,Zoë,山田\n")

    await run_import(conn, path)

    (row,) = await group_rows(conn)
    assert row["given_name"] == "Zoë"
    assert row["family_name"] == "山田"


async def test_bom_stripped(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, b"\xef\xbb\xbfemail_address\r\nada@example.com\r\n")

    report = await run_import(conn, path)

    assert report.imported == 1
    assert await emails(conn) == ["ada@example.com"]


async def test_semicolon_delimiter(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email_address;given_name\nada@example.com;Ada, Countess\n")

    report = await run_import(conn, path)

    assert report.delimiter == ";"
    assert await group_rows(conn) == [
        {
            "square_customer_id": None,
            "email_address": "ada@example.com",
            "phone_number": None,
            "reference_id": None,
            "given_name": "Ada, Countess",
            "family_name": None,
            "company_name": None,
        }
    ]


async def test_tab_delimiter(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email_address\tgiven_name\nada@example.com\tAda\n")

    report = await run_import(conn, path)

    assert report.delimiter == "\t"
    assert report.imported == 1


# Files that are unusable as a whole, with the fragments their error message must contain.
INVALID_FILES = [
    pytest.param(
        b"email_address;given_name,family_name\na@example.com;A,L\n",
        ["line 1", "comma and semicolon"],
        id="mixed-delimiters",
    ),
    pytest.param(b"", ["is empty", "square_customer_id, email_address"], id="empty"),
    pytest.param(
        b"given_name,family_name\nAda,Lovelace\n",
        ["no identity column", "email_address"],
        id="no-identity-column",
    ),
    pytest.param(
        b"email_address,Nickname\nada@example.com,Ada\n",
        ["unknown column 'Nickname'", "square_customer_id, email_address, phone_number"],
        id="unknown-column",
    ),
    pytest.param(
        b"email_address,email\na@example.com,b@example.com\n",
        ["email_address appears more than once"],
        id="duplicate-column",
    ),
    pytest.param(
        b"email_address,given_name\na@example.com,Ren\xe9e\n",
        ["line 2", "not valid UTF-8"],
        id="bad-encoding",
    ),
]


@pytest.mark.parametrize(("content", "fragments"), INVALID_FILES)
async def test_invalid_file_message(
    conn: asyncpg.Connection, tmp_path: Path, content: bytes, fragments: list[str]
) -> None:
    path = write_csv(tmp_path, content)

    with pytest.raises(InputError) as caught:
        await run_import(conn, path)

    for fragment in fragments:
        assert fragment in str(caught.value)


async def test_bad_encoding_names_line_and_offset(conn: asyncpg.Connection, tmp_path: Path) -> None:
    data = "email_address,given_name\na@example.com,Ann\nb@example.com,Ren\xe9e\n".encode("latin-1")
    path = write_csv(tmp_path, data)

    with pytest.raises(InputError) as caught:
        await run_import(conn, path)

    assert "line 3" in str(caught.value)
    offset = data.index("é".encode("latin-1"))
    assert f"byte offset {offset}" in str(caught.value)
    assert "save the file as UTF-8" in str(caught.value)


async def test_bad_encoding_offset_counts_bom(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, b"\xef\xbb\xbfemail_address\n\xff@example.com\n")

    with pytest.raises(InputError) as caught:
        await run_import(conn, path)

    assert "line 2" in str(caught.value)
    assert "byte offset 17" in str(caught.value)


async def test_missing_file_rejected(conn: asyncpg.Connection, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        await run_import(conn, tmp_path / "absent.csv")

    assert "absent.csv" in str(caught.value)


async def test_header_aliases_accepted(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "Email,phone,First Name,last-name,Company,Reference ID,Square Customer ID\n"
        "ada@example.com,+12062223333,Ada,Lovelace,Engines,R1,C1\n",
    )

    await run_import(conn, path)

    assert await group_rows(conn) == [
        {
            "square_customer_id": "C1",
            "email_address": "ada@example.com",
            "phone_number": "+12062223333",
            "reference_id": "R1",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "company_name": "Engines",
        }
    ]


async def test_invalid_lines_reported(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "email_address,phone_number,given_name\n"
        "ada@example.com,,Ada\n"
        "not-an-email,,Bob\n"
        "\n"
        ",555-01,Cy\n"
        ",,Dee\n"
        "eve@example.com,,Eve\n",
    )

    report = await run_import(conn, path)

    assert [(line.line, line.reason) for line in report.rejected] == [
        (3, "invalid_email"),
        (5, "invalid_phone"),
        (6, "no_identity"),
    ]
    assert "not-an-email" in report.rejected[0].detail
    assert report.imported == 2
    assert await emails(conn) == ["ada@example.com", "eve@example.com"]


async def test_line_numbers_after_multiline_value(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        'email_address,company_name\na@example.com,"Two\nLines"\nbad@,X\n',
    )

    report = await run_import(conn, path)

    assert [line.line for line in report.rejected] == [4]


async def test_wrong_field_count_rejected(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "email_address,given_name\na@example.com,Ann\nb@example.com,Lovelace, Ada\n"
    )

    report = await run_import(conn, path)

    assert report.rejected[0].line == 3
    assert report.rejected[0].reason == "wrong_field_count"
    assert report.imported == 1


async def test_nul_character_rejected(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email_address,given_name\na@example.com,A\x00n\nb@example.com,B\n")

    report = await run_import(conn, path)

    assert report.rejected == [
        RejectedLine(
            2,
            "invalid_character",
            "the line contains a NUL character, which PostgreSQL cannot store: remove it",
        )
    ]
    assert await emails(conn) == ["b@example.com"]


async def test_duplicate_person_imported_once(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "email_address,phone_number\n"
        "ada@example.com,\n"
        ",(206) 222-3333\n"
        "ADA@example.com ,\n"
        ",+1 206 222 3333\n",
    )

    report = await run_import(conn, path)

    assert report.imported == 2
    assert report.duplicates == [4, 5]
    assert await emails(conn) == ["ada@example.com", None]


async def test_replace_deletes_group_rows(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await seed(conn, ("default", "VIP", "old@example.com"))
    path = write_csv(tmp_path, "email_address\nnew@example.com\n")

    await run_import(conn, path)

    assert await emails(conn) == ["new@example.com"]


async def test_replace_keeps_other_groups(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await seed(
        conn,
        ("default", "Staff", "staff@example.com"),
        ("other", "VIP", "other@example.com"),
    )
    path = write_csv(tmp_path, "email_address\nnew@example.com\n")

    await run_import(conn, path)

    assert await emails(conn, "Staff") == ["staff@example.com"]
    assert await emails(conn, "VIP", "other") == ["other@example.com"]


async def test_append_keeps_group_rows(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await seed(conn, ("default", "VIP", "old@example.com"))
    path = write_csv(tmp_path, "email_address\nnew@example.com\n")

    report = await run_import(conn, path, replace=False)

    assert report.imported == 1
    assert await emails(conn) == ["old@example.com", "new@example.com"]


@pytest.mark.parametrize(("content", "fragments"), INVALID_FILES)
async def test_invalid_file_keeps_old_rows(
    conn: asyncpg.Connection, tmp_path: Path, content: bytes, fragments: list[str]
) -> None:
    await seed(conn, ("default", "VIP", "old@example.com"))
    path = write_csv(tmp_path, content)

    with pytest.raises(InputError):
        await run_import(conn, path)

    assert await emails(conn) == ["old@example.com"]


async def test_all_rows_invalid_keeps_old_rows(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await seed(conn, ("default", "VIP", "old@example.com"))
    path = write_csv(tmp_path, "email_address\nbad@\nworse\n")

    with pytest.raises(NothingToImport) as caught:
        await run_import(conn, path)

    assert [line.line for line in caught.value.report.rejected] == [2, 3]
    assert await emails(conn) == ["old@example.com"]


async def test_database_error_keeps_old_rows(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await seed(conn, ("default", "VIP", "old@example.com"))
    await conn.execute(
        "ALTER TABLE groupsync.desired_memberships "
        "ADD CONSTRAINT test_no_boom CHECK (reference_id IS DISTINCT FROM 'boom')"
    )
    path = write_csv(tmp_path, "reference_id\nfine\nboom\n")

    with pytest.raises(asyncpg.CheckViolationError):
        await run_import(conn, path)

    assert await emails(conn) == ["old@example.com"]


async def test_header_only_empties_group(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await seed(conn, ("default", "VIP", "old@example.com"))
    path = write_csv(tmp_path, "email_address\n")

    report = await run_import(conn, path)

    assert report.imported == 0
    assert await group_rows(conn) == []


async def test_pool_accepted(database_url: str, conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email_address\nada@example.com\n")

    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as pool:
        report = await import_csv(pool, path, account="default", group_name="VIP")

    assert report.imported == 1
    assert await emails(conn) == ["ada@example.com"]


async def test_unmanaged_group_warns(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email_address\nada@example.com\n")

    with capture_logs() as logs:
        report = await run_import(conn, path)

    assert report.group_managed is False
    warnings = [entry for entry in logs if entry["event"] == "import_group_not_managed"]
    assert warnings == [
        {
            "event": "import_group_not_managed",
            "log_level": "warning",
            "account": "default",
            "group_name": "VIP",
        }
    ]


async def test_managed_group_no_warning(conn: asyncpg.Connection, tmp_path: Path) -> None:
    await conn.execute(
        "INSERT INTO groupsync.managed_groups (account, name) VALUES ('default', 'VIP')"
    )
    path = write_csv(tmp_path, "email_address\nada@example.com\n")

    with capture_logs() as logs:
        await run_import(conn, path)

    assert [entry["event"] for entry in logs] == ["csv_imported"]


async def test_unknown_region_rejected(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "phone_number\n206 222 3333\n")

    with pytest.raises(InputError) as caught:
        await import_csv(conn, path, account="default", group_name="VIP", default_region="XX")

    assert "'XX'" in str(caught.value)


async def test_empty_group_name_rejected(conn: asyncpg.Connection, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "email_address\nada@example.com\n")

    with pytest.raises(InputError) as caught:
        await run_import(conn, path, group=" ")

    assert "group name is empty" in str(caught.value)
