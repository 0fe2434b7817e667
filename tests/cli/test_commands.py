"""The command line as a user runs it: migrate, sync, import, export, status, exit codes."""

from __future__ import annotations

import asyncio
import json

from groupsync.db.migrator import default_migrations_dir, load_migrations
from groupsync.testing.emulator import EmulatorServer
from tests.cli.conftest import Cli, execute, fetch


async def prepare(cli: Cli, database_url: str, *, people: int = 3) -> None:
    assert (await cli.run("migrate")).exit_code == 0
    await execute(database_url, "INSERT INTO groupsync.managed_groups (name) VALUES ('VIP')")
    for index in range(people):
        await execute(
            database_url,
            "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
            "VALUES ('VIP', $1)",
            f"p{index}@example.com",
        )


async def test_migrate_applies_once(cli: Cli) -> None:
    first = await cli.run("migrate")
    second = await cli.run("migrate")

    assert first.exit_code == 0
    assert "applied 0001_initial" in first.stdout
    assert second.exit_code == 0
    assert second.stdout.strip() == "schema is up to date"


async def test_concurrent_migrations_apply_once(cli: Cli, database_url: str) -> None:
    results = await asyncio.gather(*(cli.run("migrate") for _ in range(3)))

    assert [result.exit_code for result in results] == [0, 0, 0]
    rows = await fetch(database_url, "SELECT version FROM groupsync.schema_migrations")
    versions = sorted(migration.version for migration in load_migrations(default_migrations_dir()))
    assert sorted(row["version"] for row in rows) == versions


async def test_sync_json_reports_counts(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url)

    result = await cli.run("sync", "--json")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["status"] == "succeeded"
    assert report["counts"]["adds"] == 3
    assert report["counts"]["creates"] == 3


async def test_second_sync_applies_nothing(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url)
    await cli.run("sync")

    result = await cli.run("sync", "--json")

    counts = json.loads(result.stdout)["counts"]
    assert counts["adds"] == 0
    assert counts["removes"] == 0
    assert counts["creates"] == 0


async def test_sync_table_names_groups(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url)

    result = await cli.run("sync")

    assert "VIP" in result.stdout
    assert "adds 3" in result.stdout


async def test_held_sync_exits_non_zero(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url, people=10)
    await cli.run("sync")
    await execute(database_url, "DELETE FROM groupsync.desired_memberships")

    result = await cli.run("sync", "--json")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "held"
    assert "removal_held" in result.stderr


async def test_allow_mass_removal_flag_releases_hold(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url, people=10)
    await cli.run("sync")
    await execute(database_url, "DELETE FROM groupsync.desired_memberships")

    result = await cli.run("sync", "--json", "--allow-mass-removal", "--group", "VIP")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["counts"]["removes"] == 10


async def test_sync_while_another_run_holds_the_lock(cli: Cli, database_url: str) -> None:
    import asyncpg

    await prepare(cli, database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "SELECT pg_advisory_lock(hashtextextended('groupsync.account:' || $1, 0))", "default"
        )
        result = await cli.run("sync")
    finally:
        await conn.close()

    assert result.exit_code == 3
    assert "wait for it to finish" in result.stderr


async def test_dry_run_prints_plan(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url)

    result = await cli.run("sync", "--dry-run")

    assert result.exit_code == 0
    assert "customers to create: 3" in result.stdout
    assert "VIP" in result.stdout


async def test_import_reports_rejected_lines(cli: Cli, database_url: str, tmp_path) -> None:
    assert (await cli.run("migrate")).exit_code == 0
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("email_address,given_name\nok@example.com,Ok\nnot-an-email,Bad\n")

    result = await cli.run("import", str(csv_file), "--group", "VIP")

    assert result.exit_code == 1
    assert "imported 1 people" in result.stdout
    assert "line 3" in result.stdout


async def test_export_lists_members_as_csv(
    cli: Cli, database_url: str, emulator: EmulatorServer
) -> None:
    await prepare(cli, database_url)
    await cli.run("sync")

    result = await cli.run("export", "--group", "VIP")

    lines = result.stdout.strip().splitlines()
    assert result.exit_code == 0
    assert lines[0].startswith("square_customer_id,")
    assert sorted(line.split(",")[4] for line in lines[1:]) == [
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
    ]


async def test_export_jsonl(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url, people=2)
    await cli.run("sync")

    result = await cli.run("export", "--group", "VIP", "--format", "jsonl")

    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2
    assert all(record["square_customer_id"] for record in records)


async def test_status_shows_runs_and_groups(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url)
    await cli.run("sync")

    result = await cli.run("status")
    as_json = json.loads((await cli.run("status", "--json")).stdout)

    assert result.exit_code == 0
    assert "succeeded" in result.stdout
    assert "VIP" in result.stdout
    assert as_json["runs"][0]["status"] == "succeeded"
    assert as_json["groups"][0]["name"] == "VIP"


async def test_missing_database_url_names_the_variable(cli: Cli) -> None:
    del cli.env["GROUPSYNC_DATABASE_URL"]

    result = await cli.run("sync")

    assert result.exit_code == 2
    assert "GROUPSYNC_DATABASE_URL" in result.stderr


async def test_token_never_appears_in_output(
    cli: Cli, database_url: str, emulator: EmulatorServer
) -> None:
    await prepare(cli, database_url)
    await emulator.admin.add_fault_rule(kind="status", status=503, times=3)
    await emulator.admin.add_fault_rule(kind="status", status=429, times=2, retry_after_s=0)

    result = await cli.run("sync", "--json")

    assert "api_retry_scheduled" in result.stderr
    assert emulator.token not in result.stderr
    assert emulator.token not in result.stdout


async def test_logs_are_json_lines_with_run_id(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url)

    result = await cli.run("sync")

    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    finished = [line for line in lines if line["event"] == "sync_run_finished"]
    assert len(finished) == 1
    assert finished[0]["run_id"] == 1
    assert finished[0]["adds"] == 3
    assert "duration_s" in finished[0]


async def test_unreachable_square_exits_with_4(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url)
    cli.env["SQUARE_BASE_URL"] = "http://127.0.0.1:1"
    cli.env["GROUPSYNC_LIMITS_RETRY_ATTEMPTS"] = "2"

    result = await cli.run("sync")

    assert result.exit_code == 4
    assert "SQUARE_BASE_URL" in result.stdout


async def test_held_sync_prints_reason_and_fix(cli: Cli, database_url: str) -> None:
    await prepare(cli, database_url, people=10)
    await cli.run("sync")
    await execute(database_url, "DELETE FROM groupsync.desired_memberships")

    result = await cli.run("sync")

    assert "held: VIP: the plan would remove all 10 members" in result.stdout
    assert "--allow-mass-removal --group 'VIP'" in result.stdout


async def test_export_to_missing_folder_names_it(cli: Cli, database_url: str, tmp_path) -> None:
    await prepare(cli, database_url)
    await cli.run("sync")
    target = tmp_path / "missing" / "members.csv"

    result = await cli.run("export", "--group", "VIP", "--out", str(target))

    assert result.exit_code == 2
    assert str(target) in result.stderr
    assert "Traceback" not in result.stderr


async def test_emulator_on_a_busy_port_names_the_fix(cli: Cli, emulator: EmulatorServer) -> None:
    port = emulator.base_url.rsplit(":", 1)[1]

    result = await cli.run("emulator", "--port", port)

    assert result.exit_code == 4
    assert "--port 0" in result.stderr
    assert "Traceback" not in result.stderr


async def test_commands_before_migrate_say_to_migrate(cli: Cli) -> None:
    result = await cli.run("status")

    assert result.exit_code == 2
    assert "groupsync migrate" in result.stderr
    assert "Traceback" not in result.stderr
