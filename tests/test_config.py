"""Loading settings from a TOML file and environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from groupsync.config import Settings, load_settings
from groupsync.errors import ConfigError

EXAMPLE = Path(__file__).parent.parent / "config" / "groupsync.example.toml"
DATABASE_URL = "postgresql://groupsync:hunter2@127.0.0.1:5432/groupsync"
TOKEN = "EAAAl-test-token_123"
REQUIRED_ENV = {"GROUPSYNC_DATABASE_URL": DATABASE_URL, "SQUARE_ACCESS_TOKEN": TOKEN}


def load(env: dict[str, str] | None = None, path: Path | None = None) -> Settings:
    """Load with only ``env`` as the environment and nothing required."""
    return load_settings(path, env=env or {}, require_token=False, require_database=False)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "groupsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(env: dict[str, str] | None = None, path: Path | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(env, path)
    return str(caught.value)


def test_no_file_gives_defaults() -> None:
    assert load() == Settings()


def test_defaults_values() -> None:
    settings = load()

    assert settings.square.base_url == "production"
    assert settings.square.square_version == "2025-08-20"
    assert settings.limits.rate_limit_per_s == 10.0
    assert settings.sync.full_sync_interval_s == 3600
    assert settings.guards.max_removal_share == 0.10
    assert settings.logging.format == "auto"
    assert settings.http.port is None
    assert settings.http.max_failed_age_s == 3600.0


def test_example_file_matches_defaults() -> None:
    assert load(path=EXAMPLE) == Settings()


def test_file_overrides_defaults(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        '[guards]\nmax_removals = 5\n[sync]\naccount = "shop-2"\n[http]\nport = 8080\n',
    )

    settings = load(path=path)

    assert settings.guards.max_removals == 5
    assert settings.sync.account == "shop-2"
    assert settings.http.port == 8080
    assert settings.limits == Settings().limits


def test_file_from_env_variable(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[limits]\nmax_in_flight = 3\n")

    settings = load({"GROUPSYNC_CONFIG": str(path)})

    assert settings.limits.max_in_flight == 3


def test_path_argument_beats_env_variable(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[limits]\nmax_in_flight = 3\n")

    settings = load({"GROUPSYNC_CONFIG": str(tmp_path / "missing.toml")}, path)

    assert settings.limits.max_in_flight == 3


def test_env_overrides_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[guards]\nmax_removals = 5\n")

    settings = load({"GROUPSYNC_GUARDS_MAX_REMOVALS": "50"}, path)

    assert settings.guards.max_removals == 50


@pytest.mark.parametrize(
    ("name", "text", "section", "key", "value"),
    [
        ("GROUPSYNC_GUARDS_MAX_REMOVAL_SHARE", "0.25", "guards", "max_removal_share", 0.25),
        ("GROUPSYNC_GUARDS_ALLOW_MASS_REMOVAL", "true", "guards", "allow_mass_removal", True),
        ("GROUPSYNC_GUARDS_ALLOW_MASS_REMOVAL", "0", "guards", "allow_mass_removal", False),
        ("GROUPSYNC_LIMITS_RATE_LIMIT_PER_S", "2", "limits", "rate_limit_per_s", 2.0),
        ("GROUPSYNC_SYNC_READ_CONCURRENCY", "16", "sync", "read_concurrency", 16),
        ("GROUPSYNC_SYNC_DEFAULT_PHONE_REGION", "gb", "sync", "default_phone_region", "GB"),
        ("GROUPSYNC_HTTP_HOST", "0.0.0.0", "http", "host", "0.0.0.0"),
        ("GROUPSYNC_HTTP_PORT", "9100", "http", "port", 9100),
        ("GROUPSYNC_HTTP_MAX_FAILED_AGE_S", "600", "http", "max_failed_age_s", 600.0),
        ("GROUPSYNC_LOG_LEVEL", "DEBUG", "logging", "level", "debug"),
        ("GROUPSYNC_LOG_FORMAT", "json", "logging", "format", "json"),
        ("GROUPSYNC_LOGGING_LEVEL", "warning", "logging", "level", "warning"),
        ("SQUARE_BASE_URL", "http://127.0.0.1:8081", "square", "base_url", "http://127.0.0.1:8081"),
        ("SQUARE_VERSION", "2024-01-18", "square", "square_version", "2024-01-18"),
        ("GROUPSYNC_DATABASE_URL", DATABASE_URL, "database", "url", DATABASE_URL),
    ],
)
def test_env_variable_sets_key(name: str, text: str, section: str, key: str, value: object) -> None:
    settings = load({name: text})

    assert getattr(getattr(settings, section), key) == value


def test_empty_env_variable_is_unset(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[http]\nport = 8080\n")

    settings = load({"GROUPSYNC_HTTP_PORT": ""}, path)

    assert settings.http.port == 8080


def test_unrelated_groupsync_variables_ignored() -> None:
    settings = load({"GROUPSYNC_TEST_DATABASE_URL": "postgresql://x", "GROUPSYNC_CONFIG": ""})

    assert settings == Settings()


def test_alias_and_generic_conflict() -> None:
    message = config_error({"GROUPSYNC_LOG_LEVEL": "debug", "GROUPSYNC_LOGGING_LEVEL": "error"})

    assert "GROUPSYNC_LOG_LEVEL" in message
    assert "GROUPSYNC_LOGGING_LEVEL" in message


def test_api_url_resolves_names() -> None:
    assert load().square.api_url == "https://connect.squareup.com"
    assert load({"SQUARE_BASE_URL": "sandbox"}).square.api_url == (
        "https://connect.squareupsandbox.com"
    )
    assert load({"SQUARE_BASE_URL": "http://127.0.0.1:9/"}).square.api_url == ("http://127.0.0.1:9")


def test_token_from_env() -> None:
    assert load({"SQUARE_ACCESS_TOKEN": TOKEN}).square.access_token == TOKEN


def test_token_from_file_env(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")

    settings = load({"SQUARE_ACCESS_TOKEN_FILE": str(token_file)})

    assert settings.square.access_token == TOKEN
    assert settings.square.access_token_file == token_file


def test_token_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(TOKEN)
    path = write_config(tmp_path, '[square]\naccess_token_file = "secret"\n')

    settings = load(path=path)

    assert settings.square.access_token == TOKEN


def test_token_env_beats_token_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[square]\naccess_token_file = "missing"\n')

    settings = load({"SQUARE_ACCESS_TOKEN": TOKEN}, path)

    assert settings.square.access_token == TOKEN


def test_token_and_token_file_env_conflict(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)

    message = config_error(
        {"SQUARE_ACCESS_TOKEN": TOKEN, "SQUARE_ACCESS_TOKEN_FILE": str(token_file)}
    )

    assert "SQUARE_ACCESS_TOKEN_FILE" in message


def test_token_file_missing(tmp_path: Path) -> None:
    message = config_error({"SQUARE_ACCESS_TOKEN_FILE": str(tmp_path / "nope")})

    assert str(tmp_path / "nope") in message
    assert "SQUARE_ACCESS_TOKEN_FILE" in message


def test_token_file_empty(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("\n")

    message = config_error({"SQUARE_ACCESS_TOKEN_FILE": str(token_file)})

    assert "empty" in message


def test_token_with_line_break_rejected(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\nsecond\n")

    message = config_error({"SQUARE_ACCESS_TOKEN_FILE": str(token_file)})

    assert "the token alone" in message
    assert "second" not in message


def test_token_in_config_file_rejected(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'[square]\naccess_token = "{TOKEN}"\n')

    message = config_error(path=path)

    assert "square.access_token" in message
    assert "SQUARE_ACCESS_TOKEN" in message
    assert TOKEN not in message


def test_token_generic_env_rejected() -> None:
    message = config_error({"GROUPSYNC_SQUARE_ACCESS_TOKEN": TOKEN})

    assert "SQUARE_ACCESS_TOKEN or SQUARE_ACCESS_TOKEN_FILE" in message
    assert TOKEN not in message


def test_repr_hides_token_and_password() -> None:
    settings = load_settings(env=REQUIRED_ENV)

    assert TOKEN not in repr(settings)
    assert "hunter2" not in repr(settings)
    assert "[REDACTED]" in repr(settings.square)


def test_required_values_present() -> None:
    settings = load_settings(env=REQUIRED_ENV)

    assert settings.database.url == DATABASE_URL
    assert settings.square.access_token == TOKEN


def test_missing_database_url() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"SQUARE_ACCESS_TOKEN": TOKEN})

    assert "GROUPSYNC_DATABASE_URL" in str(caught.value)


def test_missing_token() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"GROUPSYNC_DATABASE_URL": DATABASE_URL})

    assert "SQUARE_ACCESS_TOKEN" in str(caught.value)
    assert "SQUARE_ACCESS_TOKEN_FILE" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    message = config_error({"GROUPSYNC_CONFIG": str(tmp_path / "absent.toml")})

    assert "absent.toml" in message
    assert "GROUPSYNC_CONFIG" in message
    assert "not found" in message


def test_unparseable_toml_names_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[guards]\nmax_removals = 5\nmax_removal_share = \n")

    message = config_error(path=path)

    assert str(path) in message
    assert "line 3" in message


def test_unknown_section_suggests(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[guard]\nmax_removals = 5\n")

    message = config_error(path=path)

    assert "[guard]" in message
    assert "did you mean guards" in message


def test_unknown_key_suggests(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[guards]\nmax_removal = 5\n")

    message = config_error(path=path)

    assert "guards.max_removal " in message
    assert "did you mean guards.max_removals?" in message


def test_unknown_key_from_env_suggests() -> None:
    message = config_error({"GROUPSYNC_LIMITS_MAX_INFLIGHT": "3"})

    assert "limits.max_inflight" in message
    assert "GROUPSYNC_LIMITS_MAX_INFLIGHT" in message
    assert "did you mean limits.max_in_flight?" in message


def test_section_not_a_table(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'guards = "strict"\n')

    message = config_error(path=path)

    assert "guards" in message
    assert "table" in message


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('[guards]\nmax_removals = "5"\n', "= '5' (from config file"),
        ("[guards]\nmax_removals = 5.5\n", "= 5.5 (from config file"),
        ("[guards]\nmax_removals = true\n", "expected an integer"),
        ('[guards]\nallow_mass_removal = "yes"\n', "expected true or false"),
        ('[limits]\nrate_limit_per_s = "fast"\n', "expected a number"),
        ("[limits]\nrate_limit_per_s = nan\n", "= nan (from config file"),
        ("[sync]\naccount = 7\n", "expected a string"),
    ],
)
def test_file_wrong_type(tmp_path: Path, toml: str, fragment: str) -> None:
    path = write_config(tmp_path, toml)

    message = config_error(path=path)

    assert fragment in message
    assert str(path) in message


def test_file_integer_accepted_as_float(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[limits]\nrate_limit_per_s = 5\n")

    settings = load(path=path)

    assert settings.limits.rate_limit_per_s == 5.0
    assert isinstance(settings.limits.rate_limit_per_s, float)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("GROUPSYNC_GUARDS_MAX_REMOVALS", "many"),
        ("GROUPSYNC_GUARDS_ALLOW_MASS_REMOVAL", "maybe"),
        ("GROUPSYNC_LIMITS_RETRY_WAIT_MAX_S", "inf"),
        ("GROUPSYNC_HTTP_PORT", "80a"),
    ],
)
def test_env_wrong_type(name: str, text: str) -> None:
    message = config_error({name: text})

    assert name in message
    assert repr(text) in message


@pytest.mark.parametrize(
    ("name", "text", "key", "allowed"),
    [
        ("GROUPSYNC_LIMITS_RATE_LIMIT_PER_S", "0", "limits.rate_limit_per_s", "greater than 0"),
        ("GROUPSYNC_LIMITS_MAX_IN_FLIGHT", "-1", "limits.max_in_flight", "greater than 0"),
        ("GROUPSYNC_LIMITS_RETRY_ATTEMPTS", "0", "limits.retry_attempts", "greater than 0"),
        ("GROUPSYNC_SQUARE_REQUEST_TIMEOUT_S", "0", "square.request_timeout_s", "greater than 0"),
        ("GROUPSYNC_SYNC_FULL_SYNC_INTERVAL_S", "0", "sync.full_sync_interval_s", "greater than 0"),
        ("GROUPSYNC_SYNC_READ_CONCURRENCY", "-4", "sync.read_concurrency", "greater than 0"),
        ("GROUPSYNC_GUARDS_MAX_REMOVALS", "-1", "guards.max_removals", "0 or a positive"),
        ("GROUPSYNC_GUARDS_MAX_REMOVAL_SHARE", "1.5", "guards.max_removal_share", "0 to 1"),
        ("GROUPSYNC_GUARDS_MAX_REMOVAL_SHARE", "-0.1", "guards.max_removal_share", "0 to 1"),
        ("GROUPSYNC_LOG_LEVEL", "verbose", "logging.level", "debug, info, warning"),
        ("GROUPSYNC_LOG_FORMAT", "xml", "logging.format", "auto, json, console"),
        ("GROUPSYNC_HTTP_PORT", "70000", "http.port", "1 to 65535"),
        ("GROUPSYNC_HTTP_MAX_FAILED_AGE_S", "0", "http.max_failed_age_s", "greater than 0"),
        ("GROUPSYNC_SYNC_ACCOUNT", " ", "sync.account", "non-empty"),
        ("GROUPSYNC_SYNC_TRIGGER_CHANNEL", "sync-now", "sync.trigger_channel", "identifier"),
        ("GROUPSYNC_SYNC_DEFAULT_PHONE_REGION", "XX", "sync.default_phone_region", "region"),
        ("SQUARE_BASE_URL", "connect.squareup.com", "square.base_url", "production, sandbox"),
        ("SQUARE_VERSION", "latest", "square.square_version", "2025-08-20"),
        ("GROUPSYNC_DATABASE_URL", "mysql://x", "database.url", "postgresql://"),
    ],
)
def test_env_value_out_of_range(name: str, text: str, key: str, allowed: str) -> None:
    message = config_error({name: text})

    assert f"invalid {key} = " in message
    assert name in message
    assert allowed in message


def test_file_value_out_of_range(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[guards]\nmax_removal_share = 2.0\n")

    message = config_error(path=path)

    assert "invalid guards.max_removal_share = 2.0" in message
    assert str(path) in message


def test_bad_database_url_hides_password() -> None:
    message = config_error({"GROUPSYNC_DATABASE_URL": "mysql://u:hunter2@db/x"})

    assert "hunter2" not in message


def test_retry_wait_max_below_initial() -> None:
    message = config_error(
        {"GROUPSYNC_LIMITS_RETRY_WAIT_INITIAL_S": "10", "GROUPSYNC_LIMITS_RETRY_WAIT_MAX_S": "5"}
    )

    assert "limits.retry_wait_max_s" in message
    assert "limits.retry_wait_initial_s" in message


def test_webhook_key_from_env() -> None:
    settings = load_settings(
        env={
            "GROUPSYNC_WEBHOOKS_NOTIFICATION_URL": "https://example.com/hook",
            "SQUARE_WEBHOOK_SIGNATURE_KEY": "s3cret-value",
        },
        require_token=False,
        require_database=False,
    )

    assert settings.webhooks.signature_key == "s3cret-value"
    assert "s3cret-value" not in repr(settings)


def test_webhook_key_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "hook.key").write_text("key\n")
    config = tmp_path / "groupsync.toml"
    config.write_text(
        '[webhooks]\nnotification_url = "https://example.com/hook"\n'
        'signature_key_file = "hook.key"\n'
    )

    settings = load_settings(config, env={}, require_token=False, require_database=False)

    assert settings.webhooks.signature_key == "key"


def test_webhook_key_in_config_file_rejected(tmp_path: Path) -> None:
    config = tmp_path / "groupsync.toml"
    config.write_text('[webhooks]\nsignature_key = "key"\n')

    with pytest.raises(ConfigError, match="SQUARE_WEBHOOK_SIGNATURE_KEY"):
        load_settings(config, env={}, require_token=False, require_database=False)


def test_webhook_url_without_key_rejected() -> None:
    with pytest.raises(ConfigError, match="set both, or neither"):
        load_settings(
            env={"GROUPSYNC_WEBHOOKS_NOTIFICATION_URL": "https://example.com/hook"},
            require_token=False,
            require_database=False,
        )


def test_heartbeat_not_below_lease_rejected() -> None:
    with pytest.raises(ConfigError, match=r"sync\.lease_heartbeat_s"):
        load_settings(
            env={"GROUPSYNC_SYNC_LEASE_S": "10", "GROUPSYNC_SYNC_LEASE_HEARTBEAT_S": "10"},
            require_token=False,
            require_database=False,
        )
