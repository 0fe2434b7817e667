"""Bad CSV files and configuration files, through the real ``groupsync`` command.

Each is rejected with exit code 2 (invalid input) and a message that names the value and
the fix. Nothing is written to the database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, fetch

EXIT_OK = 0
EXIT_INVALID = 2


async def import_file(cli: Cli, tmp_path: Path, content: bytes) -> tuple[int, str, str]:
    assert (await cli.run("migrate")).exit_code == EXIT_OK
    path = tmp_path / "people.csv"
    path.write_bytes(content)
    result = await cli.run("import", str(path), "--group", "VIP")
    return result.exit_code, result.stdout, result.stderr


async def desired_rows(database_url: str) -> int:
    [row] = await fetch(database_url, "SELECT count(*) AS n FROM groupsync.desired_memberships")
    return int(row["n"])


async def test_wrong_header_names_column_and_choices(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    exit_code, _, stderr = await import_file(
        cli, tmp_path, b"Email Address,Nickname\nada@example.com,Ada\n"
    )

    assert exit_code == EXIT_INVALID
    assert "unknown column 'Nickname'" in stderr
    assert "email_address" in stderr
    assert await desired_rows(database_url) == 0


async def test_pipe_delimiter_is_rejected(cli: Cli, database_url: str, tmp_path: Path) -> None:
    exit_code, _, stderr = await import_file(
        cli, tmp_path, b"email_address|given_name\nada@example.com|Ada\n"
    )

    assert exit_code == EXIT_INVALID
    assert "email_address|given_name" in stderr
    assert await desired_rows(database_url) == 0


async def test_bom_file_is_imported(cli: Cli, database_url: str, tmp_path: Path) -> None:
    exit_code, stdout, _ = await import_file(
        cli, tmp_path, b"\xef\xbb\xbfemail_address;given_name\r\nada@example.com;Ada\r\n"
    )

    assert exit_code == EXIT_OK
    assert "imported 1 people" in stdout
    assert await desired_rows(database_url) == 1


async def test_latin1_file_names_line_and_fix(cli: Cli, database_url: str, tmp_path: Path) -> None:
    content = "email_address,given_name\nrenee@example.com,Renée\n".encode("latin-1")

    exit_code, _, stderr = await import_file(cli, tmp_path, content)

    assert exit_code == EXIT_INVALID
    assert "line 2" in stderr
    assert "save the file as UTF-8" in stderr
    assert await desired_rows(database_url) == 0


async def test_utf16_file_is_rejected(cli: Cli, database_url: str, tmp_path: Path) -> None:
    content = "email_address\nada@example.com\n".encode("utf-16")

    exit_code, _, stderr = await import_file(cli, tmp_path, content)

    assert exit_code == EXIT_INVALID
    assert "UTF-8" in stderr
    assert await desired_rows(database_url) == 0


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "groupsync.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        pytest.param(
            "[guards]\nmax_removal = 5\n",
            ["guards.max_removal", "did you mean guards.max_removals?"],
            id="unknown-key",
        ),
        pytest.param(
            '[guards]\nmax_removals = "five"\n',
            ["guards.max_removals = 'five'", "expected an integer"],
            id="wrong-type",
        ),
        pytest.param(
            "[sync]\nfull_sync_interval_s = -60\n",
            ["sync.full_sync_interval_s = -60", "greater than 0"],
            id="negative-interval",
        ),
        pytest.param(
            "[square]\nrequest_timeout_s = -1.5\n",
            ["square.request_timeout_s = -1.5", "greater than 0"],
            id="negative-timeout",
        ),
    ],
)
async def test_bad_config_file_stops_sync(
    cli: Cli, tmp_path: Path, toml: str, fragments: list[str]
) -> None:
    path = write_config(tmp_path, toml)

    result = await cli.run("--config", str(path), "sync")

    assert result.exit_code == EXIT_INVALID
    assert str(path) in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


async def test_bad_config_file_sends_no_request(cli: Cli, tmp_path: Path, emulator) -> None:
    path = write_config(tmp_path, "[sync]\nfull_sync_interval_s = -60\n")

    await cli.run("--config", str(path), "sync")

    stats = await emulator.admin.stats()
    assert stats["requests"] == {}


async def test_config_with_token_key_is_rejected(cli: Cli, tmp_path: Path) -> None:
    path = write_config(tmp_path, '[square]\naccess_token = "EAAA-in-a-file"\n')

    result = await cli.run("--config", str(path), "sync", "--json")

    assert result.exit_code == EXIT_INVALID
    assert "SQUARE_ACCESS_TOKEN" in result.stderr
    assert "EAAA-in-a-file" not in result.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


async def test_sync_before_migrate_names_the_fix(cli: Cli) -> None:
    result = await cli.run("sync")

    assert result.exit_code == EXIT_INVALID
    assert "groupsync migrate" in result.stderr
    assert "Traceback" not in result.stderr
