"""Accounts: rows of groupsync.accounts, their tokens, and one daemon serving several sellers."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from groupsync.accounts import Account, configured_account, load_accounts
from groupsync.config import load_settings
from groupsync.errors import ConfigError
from tests.service.conftest import Service, eventually

SETTINGS = load_settings(
    env={"SQUARE_ACCESS_TOKEN": "configured-token", "GROUPSYNC_LIMITS_RATE_LIMIT_PER_S": "7"},
    require_database=False,
)


async def test_no_rows_gives_configured_account(conn: asyncpg.Connection) -> None:
    accounts = await load_accounts(conn, SETTINGS)

    assert accounts == [configured_account(SETTINGS)]
    assert accounts[0].read_token() == "configured-token"


async def test_row_defaults_from_config(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO groupsync.accounts (name, token_env, max_in_flight) VALUES ('a', 'TOKEN_A', 2)"
    )

    [account] = await load_accounts(conn, SETTINGS)

    assert account.rate_limit_per_s == 7.0
    assert account.max_in_flight == 2
    assert account.base_url == "production"


async def test_disabled_account_skipped(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO groupsync.accounts (name, token_env, enabled) "
        "VALUES ('a', 'TOKEN_A', true), ('b', 'TOKEN_B', false)"
    )

    accounts = await load_accounts(conn, SETTINGS)

    assert [account.name for account in accounts] == ["a"]


async def test_two_token_sources_rejected(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO groupsync.accounts (name, token_env, token_file) "
            "VALUES ('a', 'TOKEN_A', '/run/token')"
        )


async def test_no_token_source_rejected(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("INSERT INTO groupsync.accounts (name) VALUES ('a')")


def account(**fields: object) -> Account:
    defaults: dict[str, object] = dict(
        name="a",
        base_url="production",
        square_version="2025-08-20",
        rate_limit_per_s=10.0,
        max_in_flight=8,
        full_sync_interval_s=3600,
    )
    return Account(**{**defaults, **fields})  # type: ignore[arg-type]


def test_token_from_env() -> None:
    assert account(token_env="TOKEN_A").read_token({"TOKEN_A": "secret"}) == "secret"


def test_token_from_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("secret\n")

    assert account(token_file=path).read_token({}) == "secret"


def test_missing_token_names_variable() -> None:
    with pytest.raises(ConfigError, match="TOKEN_A"):
        account(token_env="TOKEN_A").read_token({})


def test_unreadable_token_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing-file"):
        account(token_file=tmp_path / "missing-file").read_token({})


def test_repr_hides_configured_token() -> None:
    assert "configured-token" not in repr(configured_account(SETTINGS))


async def add_seller_data(service: Service, name: str, emails: list[str]) -> None:
    await service.execute(
        "INSERT INTO groupsync.managed_groups (account, name) VALUES ($1, 'VIP')", name
    )
    for email in emails:
        await service.execute(
            "INSERT INTO groupsync.desired_memberships (account, group_name, email_address) "
            "VALUES ($1, 'VIP', $2)",
            name,
            email,
        )


async def test_sellers_reconciled_separately(service: Service) -> None:
    await service.emulator.admin.add_token("token-b", seller="seller-b")
    await service.execute(
        "INSERT INTO groupsync.accounts (name, token_env) VALUES ('a', 'TOKEN_A'), ('b', 'TOKEN_B')"
    )
    await add_seller_data(service, "a", ["a1@example.com", "a2@example.com"])
    await add_seller_data(service, "b", ["b1@example.com"])

    await service.start_daemon(TOKEN_A=service.emulator.token, TOKEN_B="token-b")

    async def seller_b_converged() -> bool:
        return await service.members("VIP", seller="seller-b") == {"b1@example.com"}

    async def seller_a_converged() -> bool:
        return await service.members("VIP") == {"a1@example.com", "a2@example.com"}

    await eventually(seller_a_converged)
    await eventually(seller_b_converged)
    assert len(await service.runs("a")) >= 1
    assert len(await service.runs("b")) >= 1


async def test_bad_token_fails_only_its_account(service: Service) -> None:
    await service.execute(
        "INSERT INTO groupsync.accounts (name, token_env) VALUES ('a', 'TOKEN_A'), ('c', 'TOKEN_C')"
    )
    await add_seller_data(service, "a", ["a1@example.com"])
    await add_seller_data(service, "c", ["c1@example.com"])

    await service.start_daemon(TOKEN_A=service.emulator.token, TOKEN_C="not-a-valid-token")

    async def both_ran() -> bool:
        runs = [*await service.runs("a"), *await service.runs("c")]
        return len(runs) == 2 and all(run["status"] != "running" for run in runs)

    await eventually(both_ran)
    assert (await service.runs("a"))[0]["status"] == "succeeded"
    assert (await service.runs("c"))[0]["status"] == "failed"
    assert await service.members("VIP") == {"a1@example.com"}


async def test_missing_token_skips_only_its_account(service: Service) -> None:
    await service.execute(
        "INSERT INTO groupsync.accounts (name, token_env) VALUES ('a', 'TOKEN_A'), ('c', 'TOKEN_C')"
    )
    await add_seller_data(service, "a", ["a1@example.com"])
    daemon = await service.start_daemon(TOKEN_A=service.emulator.token)

    async def converged() -> bool:
        return await service.members("VIP") == {"a1@example.com"}

    await eventually(converged)
    unavailable = daemon.events("account_token_unavailable")
    assert unavailable[0]["account"] == "c"
    assert await service.runs("c") == []
