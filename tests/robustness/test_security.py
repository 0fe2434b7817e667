"""Security: where the token comes from and where it never goes, loopback binding, SQL.

The SQL scan reads every module of the package and flags SQL built from Python strings
(f-strings, ``%``, ``+`` or ``.format``), except the few cases listed with their reason.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import asyncpg
import pytest

from groupsync.cli import build_parser
from groupsync.config import load_settings
from groupsync.testing.emulator import EmulatorServer
from tests.cli.conftest import Cli, execute, fetch
from tests.engine.conftest import Desired

PACKAGE = Path(__file__).resolve().parents[2] / "groupsync"

# A token shaped like Square's, long enough that it cannot appear by chance.
SECRET_TOKEN = "EAAAl7QdYJq3xZrobustnessSecretToken0123456789abcdefXYZ"

# Words that would mark an option as carrying a secret.
SECRET_OPTION = re.compile(r"token|access|secret|password|credential", re.IGNORECASE)

# The emulator's --token sets the tokens the emulator accepts from its clients. It is the
# emulator's own test credential, never the seller's Square access token.
SECRET_OPTION_EXCEPTIONS = {("emulator", "--token")}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action.choices, dict):
            return dict(action.choices)
    raise AssertionError("groupsync has no subcommands")


def test_no_option_takes_a_token() -> None:
    offending = [
        (name, option)
        for name, command in {"": build_parser(), **subcommands()}.items()
        for action in command._actions
        for option in action.option_strings
        if SECRET_OPTION.search(option)
    ]

    assert set(offending) <= SECRET_OPTION_EXCEPTIONS


@pytest.mark.parametrize("command", [["sync"], ["run"], ["export", "--group", "VIP"]])
def test_token_option_is_rejected(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--token", SECRET_TOKEN])

    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.fixture
async def secret_cli(cli: Cli, database_url: str, emulator: EmulatorServer) -> Cli:
    """The CLI with a long token, debug logs, a migrated database and three desired people."""
    await emulator.admin.add_token(SECRET_TOKEN)
    cli.env.update(SQUARE_ACCESS_TOKEN=SECRET_TOKEN, GROUPSYNC_LOG_LEVEL="debug")
    assert (await cli.run("migrate")).exit_code == 0
    await execute(database_url, "INSERT INTO groupsync.managed_groups (name) VALUES ('VIP')")
    for index in range(3):
        await execute(
            database_url,
            "INSERT INTO groupsync.desired_memberships (group_name, email_address, phone_number) "
            "VALUES ('VIP', $1, $2)",
            f"p{index}@example.com",
            "12" if index == 2 else None,
        )
    return cli


async def faulty_runs(cli: Cli, emulator: EmulatorServer) -> str:
    """Run syncs through 5xx and 429 responses and then a 401, and return all their output."""
    await emulator.admin.add_fault_rule(kind="status", status=503, times=2)
    await emulator.admin.add_fault_rule(kind="status", status=429, times=2, retry_after_s=0)
    # More 500s than the retries of both adds, so that their changes fail.
    await emulator.admin.add_fault_rule(kind="status", endpoint="AddGroupToCustomer", times=12)
    first = await cli.run("sync", "--json")
    await emulator.admin.add_fault_rule(kind="status", status=401, times=5)
    second = await cli.run("sync", "--json")
    return first.stdout + first.stderr + second.stdout + second.stderr


async def test_token_absent_from_logs_of_faulty_runs(
    secret_cli: Cli, emulator: EmulatorServer
) -> None:
    output = await faulty_runs(secret_cli, emulator)

    assert "api_retry_scheduled" in output
    assert "change_failed" in output
    assert "sync_run_failed" in output
    assert SECRET_TOKEN not in output
    assert SECRET_TOKEN[:16] not in output


async def test_token_absent_from_database_after_faulty_runs(
    secret_cli: Cli, database_url: str, emulator: EmulatorServer
) -> None:
    await faulty_runs(secret_cli, emulator)

    runs = await fetch(database_url, "SELECT error FROM groupsync.sync_runs")
    changes = await fetch(database_url, "SELECT error FROM groupsync.changes")
    rejections = await fetch(
        database_url, "SELECT detail || identity::text AS text FROM groupsync.rejections"
    )
    assert any(row["error"] for row in runs)
    assert any(row["error"] for row in changes)
    assert rejections
    for text in [row["error"] for row in runs + changes] + [row["text"] for row in rejections]:
        assert SECRET_TOKEN not in (text or "")


async def test_token_file_is_used(cli: Cli, tmp_path: Path, emulator: EmulatorServer) -> None:
    await emulator.admin.add_token(SECRET_TOKEN)
    token_file = tmp_path / "square-token"
    token_file.write_text(SECRET_TOKEN + "\n")
    del cli.env["SQUARE_ACCESS_TOKEN"]
    cli.env["SQUARE_ACCESS_TOKEN_FILE"] = str(token_file)
    assert (await cli.run("migrate")).exit_code == 0

    result = await cli.run("sync", "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["status"] == "succeeded"


def test_http_server_binds_loopback_by_default() -> None:
    settings = load_settings(None, env={}, require_token=False, require_database=False)

    assert settings.http.host == "127.0.0.1"


async def test_emulator_command_binds_loopback_by_default() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "groupsync",
        "emulator",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        banner = await asyncio.wait_for(process.stdout.readline(), 30)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)

    assert re.fullmatch(r"base_url=http://127\.0\.0\.1:\d+\n", banner.decode())


async def test_daemon_http_server_binds_loopback(cli: Cli, database_url: str) -> None:
    assert (await cli.run("migrate")).exit_code == 0
    cli.env.update(GROUPSYNC_HTTP_PORT="0")
    process = await cli.start("run")
    try:
        started = await asyncio.wait_for(log_line(process, "http_server_started"), 30)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 30)

    assert started["host"] == "127.0.0.1"


async def log_line(process: asyncio.subprocess.Process, event: str) -> dict:
    assert process.stderr is not None
    while line := await process.stderr.readline():
        if line.startswith(b"{") and json.loads(line).get("event") == event:
            return dict(json.loads(line))
    raise AssertionError(f"the process ended without logging {event}")


# --- SQL -----------------------------------------------------------------------------------

SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE|LISTEN|NOTIFY|COPY|GRANT)\b"
)

# (module, enclosing function): why building that SQL from strings is safe.
SQL_BUILT_FROM_STRINGS = {
    ("engine/desired.py", "_stage_source_rows"): (
        "the relation name is PostgreSQL's own quoting of to_regclass(source), and the "
        "columns come from the constant PERSON_COLUMNS"
    ),
    ("engine/lock.py", "acquire"): "pastes the constant LOCK_KEY_SQL, which takes $1",
    ("engine/lock.py", "release"): "pastes the constant LOCK_KEY_SQL, which takes $1",
}


def _literal_text(node: ast.AST) -> str:
    """Return the constant text inside an f-string, a ``%`` or a ``.format`` expression."""
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value
            for part in node.values
            if isinstance(part, ast.Constant) and isinstance(part.value, str)
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return _literal_text(node.left) + _literal_text(node.right)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        return _literal_text(node.func.value)
    return ""


def _is_built(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return isinstance(node.left, ast.Constant | ast.JoinedStr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant))
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
    )


def sql_built_from_strings() -> set[tuple[str, str]]:
    """Return (module, function) of every SQL text built from Python strings in the package."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if _is_built(node) and SQL_WORDS.search(_literal_text(node)):
                    found.add((path.relative_to(PACKAGE).as_posix(), function.name))
    return found


def test_sql_is_never_built_from_strings() -> None:
    assert sql_built_from_strings() <= set(SQL_BUILT_FROM_STRINGS)


def test_sql_scan_finds_an_fstring_query() -> None:
    source = 'async def f(conn, name):\n    await conn.execute(f"DELETE FROM {name}")\n'
    tree = ast.parse(source)

    flagged = [
        node for node in ast.walk(tree) if _is_built(node) and SQL_WORDS.search(_literal_text(node))
    ]

    assert len(flagged) == 1


async def test_source_with_sql_is_rejected(desired: Desired) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await desired.manage("Evil", source="x; DROP TABLE groupsync.links")


async def test_sequence_as_source_is_rejected(desired: Desired) -> None:
    await desired.manage("Odd", source="groupsync.sync_runs_id_seq")

    report = await desired.sync()

    assert "lacks the column(s)" in (report.groups["Odd"].error or "")


async def test_source_named_by_a_reserved_word_is_read(
    desired: Desired, emulator: EmulatorServer
) -> None:
    # Pasted as text, `FROM select` is a syntax error, but PostgreSQL's quoting reads it.
    async with desired.pool.acquire() as conn:
        await conn.execute(
            'CREATE VIEW "select" AS SELECT NULL::text AS square_customer_id, '
            "'a@example.com'::text AS email_address, NULL::text AS phone_number, "
            "NULL::text AS reference_id, NULL::text AS given_name, NULL::text AS family_name, "
            "NULL::text AS company_name"
        )
    await desired.manage("Reserved", source="select")

    report = await desired.sync()

    assert report.groups["Reserved"].error is None
    assert report.groups["Reserved"].adds == 1
