"""Settings: defaults, overridden by a TOML file, overridden by environment variables.

Every key ``section.key`` of the file can also be set with ``GROUPSYNC_<SECTION>_<KEY>``
(for example ``GROUPSYNC_GUARDS_MAX_REMOVALS=50``). A few keys have shorter or conventional
names as well, listed in ``ENV_ALIASES``. An environment variable set to the empty string
counts as unset. The Square access token comes only from ``SQUARE_ACCESS_TOKEN`` or from a
file named by ``SQUARE_ACCESS_TOKEN_FILE`` or ``square.access_token_file``, never from the
config file's text, because config files tend to get committed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groupsync.db.errors import redact_url
from groupsync.errors import ConfigError
from groupsync.identity import is_supported_region

# A check returns None for a valid value, else a description of the values allowed.
Check = Callable[[Any], str | None]

SQUARE_BASE_URLS = {
    "production": "https://connect.squareup.com",
    "sandbox": "https://connect.squareupsandbox.com",
}
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("auto", "json", "console")

CONFIG_ENV = "GROUPSYNC_CONFIG"
TOKEN_ENV = "SQUARE_ACCESS_TOKEN"
TOKEN_FILE_ENV = "SQUARE_ACCESS_TOKEN_FILE"
WEBHOOK_KEY_ENV = "SQUARE_WEBHOOK_SIGNATURE_KEY"
WEBHOOK_KEY_FILE_ENV = "SQUARE_WEBHOOK_SIGNATURE_KEY_FILE"
ENV_PREFIX = "GROUPSYNC_"

# Environment variables that set a key under a name other than GROUPSYNC_<SECTION>_<KEY>.
ENV_ALIASES = {
    "GROUPSYNC_LOG_LEVEL": ("logging", "level"),
    "GROUPSYNC_LOG_FORMAT": ("logging", "format"),
    "SQUARE_BASE_URL": ("square", "base_url"),
    "SQUARE_VERSION": ("square", "square_version"),
    TOKEN_FILE_ENV: ("square", "access_token_file"),
    WEBHOOK_KEY_FILE_ENV: ("webhooks", "signature_key_file"),
}


def _positive(value: float) -> str | None:
    return None if value > 0 else "a number greater than 0"


def _non_negative(value: float) -> str | None:
    return None if value >= 0 else "0 or a positive number"


def _share(value: float) -> str | None:
    return None if 0 <= value <= 1 else "a share from 0 to 1, such as 0.1 for 10%"


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "a non-empty string"


def _one_of(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else "one of " + ", ".join(choices)

    return check


def _port(value: int | None) -> str | None:
    if value is None or 0 <= value <= 65535:
        return None
    return "a TCP port from 1 to 65535, or 0 to let the system pick one"


def _database_url(value: str | None) -> str | None:
    if value is None or re.match(r"postgres(ql)?://", value):
        return None
    return "a URL that starts with postgresql:// or postgres://"


def _base_url(value: str) -> str | None:
    if value in SQUARE_BASE_URLS or re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
        return None
    return "production, sandbox, or an http:// or https:// URL (such as the emulator's)"


def _square_version(value: str) -> str | None:
    return None if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else "a date such as 2025-08-20"


def _channel(value: str) -> str | None:
    # The channel name goes into LISTEN/NOTIFY, which take an identifier, not a parameter.
    if re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        return None
    return "a lower-case PostgreSQL identifier of at most 63 characters (a-z, 0-9, _)"


def _webhook_url(value: str | None) -> str | None:
    if value is None or re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
        return None
    return "the http:// or https:// URL of the webhook subscription"


def _url_path(value: str) -> str | None:
    return None if re.fullmatch(r"/[A-Za-z0-9._~/-]*", value) else "a URL path such as /webhooks"


def _region(value: str) -> str | None:
    return None if is_supported_region(value) else "a two-letter region code such as US or GB"


def _setting(default: Any, check: Check | None = None, normalize: Callable | None = None) -> Any:
    return field(default=default, metadata={"check": check, "normalize": normalize})


@dataclass(frozen=True, repr=False)
class DatabaseSettings:
    url: str | None = _setting(None, _database_url)

    def __repr__(self) -> str:
        url = None if self.url is None else redact_url(self.url)
        return f"DatabaseSettings(url={url!r})"


@dataclass(frozen=True, repr=False)
class SquareSettings:
    base_url: str = _setting("production", _base_url)
    # Set from SQUARE_ACCESS_TOKEN or read from access_token_file, never from the file's text.
    access_token: str | None = None
    access_token_file: Path | None = None
    square_version: str = _setting("2025-08-20", _square_version)
    request_timeout_s: float = _setting(30.0, _positive)

    @property
    def api_url(self) -> str:
        """URL that request paths are appended to, with ``production``/``sandbox`` resolved."""
        return SQUARE_BASE_URLS.get(self.base_url, self.base_url).rstrip("/")

    def __repr__(self) -> str:
        token = None if self.access_token is None else "[REDACTED]"
        return (
            f"SquareSettings(base_url={self.base_url!r}, access_token={token!r}, "
            f"access_token_file={self.access_token_file!r}, "
            f"square_version={self.square_version!r}, "
            f"request_timeout_s={self.request_timeout_s!r})"
        )


@dataclass(frozen=True)
class LimitSettings:
    rate_limit_per_s: float = _setting(10.0, _positive)
    # Requests in flight cap the rate at max_in_flight / latency: 16 at 40-50 ms a request
    # allows 320-400/s, so a limit of 200/s is reached with room for jitter. At 8 the cap
    # was about 180/s, below such a limit.
    max_in_flight: int = _setting(16, _positive)
    retry_attempts: int = _setting(6, _positive)
    retry_wait_initial_s: float = _setting(0.5, _positive)
    retry_wait_max_s: float = _setting(30.0, _positive)


@dataclass(frozen=True)
class SyncSettings:
    account: str = _setting("default", _non_empty)
    full_sync_interval_s: int = _setting(3600, _positive)
    trigger_channel: str = _setting("groupsync_trigger", _channel)
    applied_change_window_s: int = _setting(300, _non_negative)
    max_pages_per_group: int = _setting(10_000, _positive)
    read_concurrency: int = _setting(4, _positive)
    default_phone_region: str = _setting("US", _region, str.upper)
    read_strategy: str = _setting("auto", _one_of("auto", "listing", "per_group"), str.lower)
    lease_s: float = _setting(30.0, _positive)
    lease_heartbeat_s: float = _setting(10.0, _positive)
    change_debounce_s: float = _setting(0.5, _non_negative)
    change_debounce_max_s: float = _setting(5.0, _non_negative)
    max_concurrent_runs: int = _setting(4, _positive)


@dataclass(frozen=True)
class GuardSettings:
    max_removal_share: float = _setting(0.10, _share)
    max_removals: int = _setting(100, _non_negative)
    allow_mass_removal: bool = False


@dataclass(frozen=True)
class LoggingSettings:
    level: str = _setting("info", _one_of(*LOG_LEVELS), str.lower)
    format: str = _setting("auto", _one_of(*LOG_FORMATS), str.lower)


@dataclass(frozen=True)
class HttpSettings:
    host: str = _setting("127.0.0.1", _non_empty)
    port: int | None = _setting(None, _port)
    max_failed_age_s: float = _setting(3600.0, _positive)


@dataclass(frozen=True, repr=False)
class WebhookSettings:
    # The URL Square posts to, exactly as entered in the webhook subscription: Square signs
    # this URL followed by the body. The endpoint is off unless it is set.
    notification_url: str | None = _setting(None, _webhook_url)
    path: str = _setting("/webhooks/square", _url_path)
    # Set from SQUARE_WEBHOOK_SIGNATURE_KEY or read from signature_key_file, never from the
    # file's text.
    signature_key: str | None = None
    signature_key_file: Path | None = None

    def __repr__(self) -> str:
        key = None if self.signature_key is None else "[REDACTED]"
        return (
            f"WebhookSettings(notification_url={self.notification_url!r}, path={self.path!r}, "
            f"signature_key={key!r}, signature_key_file={self.signature_key_file!r})"
        )


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    square: SquareSettings = field(default_factory=SquareSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    guards: GuardSettings = field(default_factory=GuardSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)


SECTIONS: dict[str, type] = {
    item.name: typing.get_type_hints(Settings)[item.name] for item in dataclasses.fields(Settings)
}
# Keys that neither the file nor GROUPSYNC_<SECTION>_<KEY> may set.
SECRET_KEYS = {("square", "access_token"), ("webhooks", "signature_key")}
# Keys naming a file whose path is relative to the config file that sets them.
FILE_KEYS = {("square", "access_token_file"), ("webhooks", "signature_key_file")}


@dataclass
class _Value:
    value: Any
    origin: str


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    require_token: bool = True,
    require_database: bool = True,
) -> Settings:
    """Load settings from ``path`` (else the file named by GROUPSYNC_CONFIG) and ``env``.

    Without a file every key has its default. Raises ConfigError naming the key, its source
    and the values allowed, for any invalid input, and for a missing database URL or access
    token when ``require_database`` or ``require_token`` is set.
    """
    env = {name: value for name, value in env.items() if value != ""}
    values: dict[str, dict[str, _Value]] = {section: {} for section in SECTIONS}

    config_path = _config_path(path, env)
    if config_path is not None:
        _merge_file(values, config_path)
    _merge_env(values, env)

    token = _load_token(values, env)
    webhook_key = _load_webhook_key(values, env)
    settings = _build(values, token, webhook_key)
    _check_cross_fields(settings, values)
    _check_required(settings, require_token=require_token, require_database=require_database)
    return settings


def _config_path(path: Path | None, env: Mapping[str, str]) -> tuple[Path, str] | None:
    if path is not None:
        return path, "--config"
    if CONFIG_ENV in env:
        return Path(env[CONFIG_ENV]), f"environment variable {CONFIG_ENV}"
    return None


def _merge_file(values: dict[str, dict[str, _Value]], config_path: tuple[Path, str]) -> None:
    path, named_by = config_path
    tables = _read_toml(path, named_by)
    origin = f"config file {path}"

    for section, table in tables.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"unknown section [{section}] in {origin}{_suggest(section, list(SECTIONS))}. "
                f"Known sections: {', '.join(SECTIONS)}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{section} in {origin} must be a table ([{section}]), not {table!r}")

        for key, raw in table.items():
            if (section, key) == ("webhooks", "signature_key"):
                raise ConfigError(
                    f"{section}.{key} is not allowed in {origin}: secrets do not belong in "
                    f"config files. Set {WEBHOOK_KEY_ENV}, or name a file that contains the key "
                    f"with {WEBHOOK_KEY_FILE_ENV} or webhooks.signature_key_file"
                )
            if (section, key) in SECRET_KEYS:
                raise ConfigError(
                    f"{section}.{key} is not allowed in {origin}: tokens do not belong in "
                    f"config files. Set {TOKEN_ENV}, or name a file that contains the token "
                    f"with {TOKEN_FILE_ENV} or square.access_token_file"
                )
            kind = _key_type(section, key, origin)
            value = _from_toml(raw, kind, key=f"{section}.{key}", origin=origin)
            if (section, key) in FILE_KEYS:
                # A relative path means relative to the config file, not to the working directory.
                value = path.parent / value
            values[section][key] = _Value(value, origin)


def _read_toml(path: Path, named_by: str) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError as error:
        raise ConfigError(
            f"config file {path} (named by {named_by}) not found: check the path"
        ) from error
    except OSError as error:
        raise ConfigError(
            f"cannot read config file {path} (named by {named_by}): {error.strerror}"
        ) from error
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path} is not valid UTF-8 at byte {error.start}: save it as UTF-8"
        ) from error
    except tomllib.TOMLDecodeError as error:
        # tomllib's message ends with "(at line N, column M)".
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error


def _merge_env(values: dict[str, dict[str, _Value]], env: Mapping[str, str]) -> None:
    for name, text in env.items():
        target = _env_target(name)
        if target is None:
            continue
        section, key = target
        origin = f"environment variable {name}"

        kind = _key_type(section, key, origin)
        value = _from_env(text, kind, key=f"{section}.{key}", origin=origin)

        previous = values[section].get(key)
        if (
            previous is not None
            and previous.origin.startswith("environment")
            and previous.value != value
        ):
            raise ConfigError(
                f"{section}.{key} is set twice, by {previous.origin} and {origin}, "
                "with different values: set only one of them"
            )
        values[section][key] = _Value(value, origin)


def _env_target(name: str) -> tuple[str, str] | None:
    """Return the (section, key) that environment variable ``name`` sets, if any."""
    if name in ENV_ALIASES:
        return ENV_ALIASES[name]
    if not name.startswith(ENV_PREFIX):
        return None

    # Variables such as GROUPSYNC_CONFIG or GROUPSYNC_TEST_DATABASE_URL name no section
    # and are left to their own readers.
    section, _, key = name[len(ENV_PREFIX) :].lower().partition("_")
    if section not in SECTIONS or not key:
        return None
    if (section, key) == ("webhooks", "signature_key"):
        raise ConfigError(
            f"{name} is not read: set the webhook signature key with {WEBHOOK_KEY_ENV} or "
            f"{WEBHOOK_KEY_FILE_ENV}"
        )
    if (section, key) in SECRET_KEYS:
        raise ConfigError(
            f"{name} is not read: set the Square access token with {TOKEN_ENV} or {TOKEN_FILE_ENV}"
        )
    return section, key


def _key_type(section: str, key: str, origin: str) -> Any:
    known = {
        name: kind
        for name, kind in typing.get_type_hints(SECTIONS[section]).items()
        if (section, name) not in SECRET_KEYS
    }
    if key not in known:
        raise ConfigError(
            f"unknown setting {section}.{key} in {origin}"
            f"{_suggest(key, list(known), prefix=section + '.')}. "
            f"Known keys in [{section}]: {', '.join(known)}"
        )
    return known[key]


def _suggest(name: str, known: list[str], *, prefix: str = "") -> str:
    matches = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {prefix}{matches[0]}?)" if matches else ""


def _from_toml(raw: Any, kind: Any, *, key: str, origin: str) -> Any:
    base = _base_type(kind)
    if base is bool:
        valid = isinstance(raw, bool)
    elif base is int:
        valid = isinstance(raw, int) and not isinstance(raw, bool)
    elif base is float:
        valid = isinstance(raw, int | float) and not isinstance(raw, bool)
        raw = float(raw) if valid else raw
        valid = valid and math.isfinite(raw)
    else:
        valid = isinstance(raw, str)
        raw = base(raw) if valid else raw

    if not valid:
        raise _invalid(key, raw, origin=origin, allowed=_describe(base))
    return raw


def _from_env(text: str, kind: Any, *, key: str, origin: str) -> Any:
    base = _base_type(kind)
    try:
        if base is bool:
            return _parse_bool(text)
        if base is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
        return base(text)
    except ValueError as error:
        raise _invalid(key, text, origin=origin, allowed=_describe(base)) from error


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(text)


def _base_type(kind: Any) -> type:
    """Return ``int`` for ``int | None`` and the type itself for a plain type."""
    if isinstance(kind, types.UnionType):
        return next(arg for arg in typing.get_args(kind) if arg is not type(None))
    return typing.cast(type, kind)


def _describe(base: type) -> str:
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a file path",
    }[base]


def _load_token(values: dict[str, dict[str, _Value]], env: Mapping[str, str]) -> str | None:
    token_file = values["square"].get("access_token_file")
    if TOKEN_ENV in env:
        if token_file is not None and token_file.origin.startswith("environment"):
            raise ConfigError(
                f"environment variable {TOKEN_ENV} and {token_file.origin} are both set: "
                "set only one of them"
            )
        return _check_token(env[TOKEN_ENV], f"environment variable {TOKEN_ENV}")
    if token_file is None:
        return None

    path: Path = token_file.value
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem = error.strerror if isinstance(error, OSError) else "it is not valid UTF-8"
        raise ConfigError(
            f"cannot read the Square access token from {path} "
            f"(named by {token_file.origin}): {problem}"
        ) from error
    return _check_token(text.strip(), f"file {path} (named by {token_file.origin})")


def _load_webhook_key(values: dict[str, dict[str, _Value]], env: Mapping[str, str]) -> str | None:
    key_file = values["webhooks"].get("signature_key_file")
    if WEBHOOK_KEY_ENV in env:
        if key_file is not None and key_file.origin.startswith("environment"):
            raise ConfigError(
                f"environment variable {WEBHOOK_KEY_ENV} and {key_file.origin} are both set: "
                "set only one of them"
            )
        return env[WEBHOOK_KEY_ENV].strip()
    if key_file is None:
        return None

    path: Path = key_file.value
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        problem = error.strerror if isinstance(error, OSError) else "it is not valid UTF-8"
        raise ConfigError(
            f"cannot read the webhook signature key from {path} "
            f"(named by {key_file.origin}): {problem}"
        ) from error
    if not key:
        raise ConfigError(f"the webhook signature key file {path} is empty")
    return key


def _check_token(token: str, source: str) -> str:
    # The token goes into an HTTP header, so a stray line break would break the request.
    if not token or any(char.isspace() or not char.isprintable() for char in token):
        raise ConfigError(
            f"the Square access token from {source} is empty or contains spaces or control "
            "characters: it must be the token alone"
        )
    return token


def _build(
    values: dict[str, dict[str, _Value]], token: str | None, webhook_key: str | None
) -> Settings:
    sections = {}
    for section, cls in SECTIONS.items():
        kwargs = {}
        for item in dataclasses.fields(cls):
            setting = values[section].get(item.name)
            if setting is None:
                continue
            kwargs[item.name] = _checked(section, item, setting)
        if section == "square":
            kwargs["access_token"] = token
        if section == "webhooks":
            kwargs["signature_key"] = webhook_key
        sections[section] = cls(**kwargs)
    return Settings(**sections)


def _checked(section: str, item: dataclasses.Field, setting: _Value) -> Any:
    value = setting.value
    normalize = item.metadata.get("normalize")
    if normalize is not None:
        value = normalize(value)

    check = item.metadata.get("check")
    allowed = check(value) if check is not None else None
    if allowed is not None:
        if (section, item.name) == ("database", "url"):
            value = redact_url(value)
        raise _invalid(f"{section}.{item.name}", value, origin=setting.origin, allowed=allowed)
    return value


def _invalid(key: str, value: Any, *, origin: str, allowed: str) -> ConfigError:
    return ConfigError(f"invalid {key} = {value!r} (from {origin}): expected {allowed}")


def _check_cross_fields(settings: Settings, values: dict[str, dict[str, _Value]]) -> None:
    limits = settings.limits
    if limits.retry_wait_max_s < limits.retry_wait_initial_s:
        setting = values["limits"].get("retry_wait_max_s") or values["limits"].get(
            "retry_wait_initial_s"
        )
        origin = setting.origin if setting is not None else "defaults"
        raise ConfigError(
            f"invalid limits.retry_wait_max_s = {limits.retry_wait_max_s!r} (from {origin}): "
            f"expected at least limits.retry_wait_initial_s = {limits.retry_wait_initial_s!r}"
        )
    sync = settings.sync
    if sync.lease_heartbeat_s >= sync.lease_s:
        raise ConfigError(
            f"invalid sync.lease_heartbeat_s = {sync.lease_heartbeat_s!r}: expected less than "
            f"sync.lease_s = {sync.lease_s!r}, so that a replica renews its leases before they "
            "expire (a third of lease_s is typical)"
        )
    webhooks = settings.webhooks
    if (webhooks.notification_url is None) != (webhooks.signature_key is None):
        raise ConfigError(
            "the webhook endpoint needs both webhooks.notification_url and the signature key "
            f"({WEBHOOK_KEY_ENV} or webhooks.signature_key_file): set both, or neither"
        )


def _check_required(settings: Settings, *, require_token: bool, require_database: bool) -> None:
    if require_database and settings.database.url is None:
        raise ConfigError(
            "missing database URL: set GROUPSYNC_DATABASE_URL (or database.url in the config "
            "file) to a postgresql:// URL"
        )
    if require_token and settings.square.access_token is None:
        raise ConfigError(
            f"missing Square access token: set {TOKEN_ENV}, or set {TOKEN_FILE_ENV} (or "
            "square.access_token_file in the config file) to a file that contains it"
        )
