"""Source relations, the journal, and search lag."""

from __future__ import annotations

from groupsync.testing.emulator import EmulatorServer
from tests.engine.conftest import Desired, members_in_square

PERSON_COLUMNS_SQL = """
    NULL::text AS square_customer_id, email AS email_address, NULL::text AS phone_number,
    NULL::text AS reference_id, first_name AS given_name, NULL::text AS family_name,
    NULL::text AS company_name
"""


async def test_group_reads_members_from_its_source_view(
    desired: Desired, emulator: EmulatorServer
) -> None:
    async with desired.pool.acquire() as conn:
        await conn.execute("CREATE TABLE shop_customers (email text, first_name text, spent int)")
        await conn.execute(
            "INSERT INTO shop_customers VALUES ('a@example.com', 'A', 500), "
            "('b@example.com', 'B', 5), ('c@example.com', 'C', 900)"
        )
        await conn.execute(
            f"CREATE VIEW big_spenders AS SELECT {PERSON_COLUMNS_SQL} "
            "FROM shop_customers WHERE spent > 100"
        )
    await desired.manage("Big spenders", source="big_spenders")

    report = await desired.sync()

    assert report.status == "succeeded"
    assert report.counts.adds == 2
    assert len(await members_in_square(emulator, await desired.group_id("Big spenders"))) == 2


async def test_missing_source_fails_that_group_only(desired: Desired) -> None:
    await desired.manage("Ghost", source="no_such_view")
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "a@example.com"}])

    report = await desired.sync()

    assert report.status == "failed"
    assert "does not exist" in (report.groups["Ghost"].error or "")
    assert report.groups["VIP"].adds == 1


async def test_source_lacking_a_column_names_it(desired: Desired) -> None:
    async with desired.pool.acquire() as conn:
        await conn.execute("CREATE VIEW thin AS SELECT 'a@example.com'::text AS email_address")
    await desired.manage("Thin", source="thin")

    report = await desired.sync()

    error = report.groups["Thin"].error or ""
    assert "square_customer_id" in error
    assert "company_name" in error


async def test_every_change_is_in_the_journal(desired: Desired) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": f"p{index}@example.com"} for index in range(4)])

    report = await desired.sync()

    async with desired.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT kind, status FROM groupsync.changes WHERE run_id = $1 ORDER BY id",
            report.run_id,
        )
    kinds = [row["kind"] for row in rows]
    assert kinds.count("create_group") == 1
    assert kinds.count("create_customer") == 4
    assert kinds.count("add") == 4
    assert {row["status"] for row in rows} == {"applied"}


async def test_failed_change_is_recorded_and_retried_next_run(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "a@example.com"}])
    await emulator.admin.add_fault_rule(
        kind="status", endpoint="AddGroupToCustomer", status=503, times=10
    )

    first = await desired.sync()
    await emulator.admin.clear_fault_rules()
    second = await desired.sync()

    assert first.status == "failed"
    assert first.counts.failed == 1
    assert second.status == "succeeded"
    assert second.counts.adds == 1
    async with desired.pool.acquire() as conn:
        failed = await conn.fetchrow(
            "SELECT status, error FROM groupsync.changes WHERE run_id = $1 AND kind = 'add'",
            first.run_id,
        )
    assert failed["status"] == "failed"
    assert "503" in failed["error"]


async def test_recent_add_wins_over_lagging_search(
    desired: Desired, emulator: EmulatorServer
) -> None:
    await emulator.admin.set_faults(consistency_lag_s=60)
    desired.settings = desired.settings.__class__(applied_change_window_s=300)
    await desired.manage("VIP")
    await desired.add("VIP", [{"email_address": "a@example.com"}])
    await desired.sync()

    report = await desired.sync()

    assert report.counts.adds == 0
    assert report.status == "succeeded"
