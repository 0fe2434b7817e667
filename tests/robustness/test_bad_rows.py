"""Bad input in desired rows and source views: each bad row is rejected, the rest proceed."""

from __future__ import annotations

import unicodedata

from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, customers_in_square, members_in_square

# A view over a table of raw rows, with every person column a source needs.
RAW_PEOPLE_TABLE = """
CREATE TABLE raw_people (email text, phone text, given text);
CREATE VIEW people_view AS
SELECT NULL::text AS square_customer_id, email AS email_address, phone AS phone_number,
       NULL::text AS reference_id, given AS given_name, NULL::text AS family_name,
       NULL::text AS company_name
FROM raw_people;
"""


async def rejection_reasons(desired: Desired) -> list[str]:
    async with desired.pool.acquire() as conn:
        rows = await conn.fetch("SELECT reason FROM groupsync.rejections ORDER BY id")
    return [row["reason"] for row in rows]


async def people_view(desired: Desired, rows: list[tuple[str | None, ...]]) -> None:
    async with desired.pool.acquire() as conn:
        await conn.execute(RAW_PEOPLE_TABLE)
        await conn.executemany("INSERT INTO raw_people VALUES ($1, $2, $3)", rows)


async def test_over_long_names_are_rejected(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add(
        "VIP",
        [
            {"email_address": "a@example.com", "given_name": "G" * 301},
            {"email_address": "b@example.com", "family_name": "F" * 301},
            {"email_address": "c@example.com", "company_name": "C" * 501},
            {"email_address": "ok@example.com", "given_name": "Ok"},
        ],
    )

    report = await desired.sync()

    assert await rejection_reasons(desired) == ["value_too_long"] * 3
    assert report.counts.adds == 1


async def test_names_at_the_limits_reach_square_whole(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add(
        "VIP",
        [{"email_address": "a@example.com", "given_name": "G" * 300, "company_name": "C" * 500}],
    )

    await desired.sync()

    [customer] = await customers_in_square(emulator)
    assert customer["given_name"] == "G" * 300
    assert customer["company_name"] == "C" * 500


async def test_unicode_names_reach_square_intact(
    desired: Desired, emulator: EmulatorServer
) -> None:
    names = ["Zoë", "Ŝtefan", "李", "Ørsted", "Þórður"]
    await desired.manage("VIP")
    await desired.add(
        "VIP",
        [
            {"reference_id": f"R{index}", "given_name": name, "family_name": name}
            for index, name in enumerate(names)
        ],
    )

    await desired.sync()

    stored = {
        customer["reference_id"]: customer for customer in await customers_in_square(emulator)
    }
    assert [stored[f"R{index}"]["given_name"] for index in range(len(names))] == names
    assert [stored[f"R{index}"]["family_name"] for index in range(len(names))] == names


async def test_decomposed_unicode_reaches_square_composed(
    desired: Desired, emulator: EmulatorServer
) -> None:
    decomposed = unicodedata.normalize("NFD", "Zoë")
    await desired.manage("VIP")
    await desired.add("VIP", [{"reference_id": "R1", "given_name": decomposed}])

    await desired.sync()

    [customer] = await customers_in_square(emulator)
    assert customer["given_name"] == "Zoë"


async def test_surrounding_spaces_are_trimmed_in_square(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add(
        "VIP",
        [{"email_address": "  Ada@Example.com\t", "given_name": "  Ada ", "family_name": " L "}],
    )

    await desired.sync()

    [customer] = await customers_in_square(emulator)
    assert customer["email_address"] == "ada@example.com"
    assert customer["given_name"] == "Ada"
    assert customer["family_name"] == "L"


async def test_same_phone_in_two_layouts_is_one_membership(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add(
        "VIP", [{"phone_number": "+1 206-222-3333"}, {"phone_number": "(206) 222 3333"}]
    )

    report = await desired.sync()

    assert report.counts.creates == 1
    assert report.counts.adds == 1
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 1


async def test_same_reference_id_in_two_cases_is_one_customer(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add(
        "VIP",
        [
            {"reference_id": "emp-42", "given_name": "Grace"},
            {"reference_id": "EMP-42 ", "given_name": "Grace"},
        ],
    )

    report = await desired.sync()

    assert report.counts.adds == 1
    assert len(await customers_in_square(emulator)) == 1


async def test_same_person_twice_in_a_source_is_one_membership(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await people_view(
        desired, [("ada@example.com", None, "Ada"), (" ADA@example.com ", None, "Ada")]
    )
    await desired.manage("VIP", source="people_view")

    report = await desired.sync()

    assert report.counts.adds == 1
    assert len(await customers_in_square(emulator)) == 1


async def test_bad_source_row_is_rejected_with_its_row_number(desired: Desired) -> None:
    await people_view(
        desired,
        [("a@example.com", None, "A"), ("not-an-email", None, "B"), (None, "12", "C")],
    )
    await desired.manage("VIP", source="people_view")

    report = await desired.sync()

    async with desired.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT source, row_ref, reason FROM groupsync.rejections ORDER BY row_ref"
        )
    assert [dict(row) for row in rows] == [
        {"source": "people_view", "row_ref": "2", "reason": "invalid_email"},
        {"source": "people_view", "row_ref": "3", "reason": "invalid_phone"},
    ]
    assert report.counts.adds == 1


async def test_rejected_rows_leave_the_run_succeeded(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "ok@example.com"}])
    await desired.add("Unmanaged", [{"email_address": "ok@example.com"}])
    await desired.add("VIP", [{"given_name": "Nobody"}])

    report = await desired.sync()

    # Rejections are reported and recorded, but they do not make the run fail.
    assert report.status == "succeeded"
    assert report.counts.rejected == 2
    assert report.groups["VIP"].adds == 1


async def test_source_lacking_a_column_leaves_other_groups_running(
    desired: Desired, emulator: EmulatorServer
) -> None:
    async with desired.pool.acquire() as conn:
        await conn.execute(
            "CREATE VIEW no_phone AS SELECT NULL::text AS square_customer_id, "
            "'a@example.com'::text AS email_address, NULL::text AS reference_id, "
            "NULL::text AS given_name, NULL::text AS family_name, NULL::text AS company_name"
        )
    await desired.manage("Thin", source="no_phone")
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "b@example.com"}])

    report = await desired.sync()

    assert report.status == "failed"
    assert "lacks the column(s) phone_number" in (report.groups["Thin"].error or "")
    assert report.groups["VIP"].adds == 1
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 1


async def test_source_error_keeps_the_groups_members(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await people_view(desired, [(f"p{index}@example.com", None, None) for index in range(3)])
    await desired.manage("VIP", source="people_view")
    await desired.sync()
    async with desired.pool.acquire() as conn:
        await conn.execute("DROP VIEW people_view")

    report = await desired.sync()

    # A missing source is an error, never an empty desired state.
    assert report.counts.removes == 0
    assert len(await members_in_square(emulator, await desired.group_id("VIP"))) == 3


async def test_reference_id_alone_cannot_create_a_customer(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"reference_id": "EMP-7"}, {"email_address": "ok@example.com"}])

    report = await desired.sync()

    # Square's CreateCustomer needs a name, email address or phone number besides it.
    async with desired.pool.acquire() as conn:
        rejection = await conn.fetchrow("SELECT reason, detail FROM groupsync.rejections")
    assert rejection["reason"] == "square_rejected"
    assert "given_name" in rejection["detail"]
    assert report.counts.adds == 1
