"""Log output format, bound context and redaction of secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from groupsync.logs import configure_logging

TOKEN = "EAAAEXAMPLE-token_0123456789"


class TerminalStream(io.StringIO):
    """An in-memory stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_fields() -> None:
    stream = io.StringIO()
    configure_logging(format="json", stream=stream)

    structlog.get_logger().info("run_started", group_id="G1")

    (line,) = json_lines(stream)
    assert line["event"] == "run_started"
    assert line["level"] == "info"
    assert line["group_id"] == "G1"
    assert line["timestamp"].endswith("Z")


def test_json_carries_bound_run_id() -> None:
    stream = io.StringIO()
    configure_logging(format="json", stream=stream)

    structlog.contextvars.bind_contextvars(run_id=42)
    structlog.get_logger().info("plan_built")

    (line,) = json_lines(stream)
    assert line["run_id"] == 42


def test_auto_picks_json_off_terminal() -> None:
    stream = io.StringIO()
    configure_logging(format="auto", stream=stream)

    structlog.get_logger().info("run_started")

    assert json_lines(stream)[0]["event"] == "run_started"


def test_auto_picks_console_on_terminal() -> None:
    stream = TerminalStream()
    configure_logging(format="auto", stream=stream)

    structlog.get_logger().info("run_started", run_id=3)

    output = stream.getvalue()
    assert not output.startswith("{")
    assert "run_started" in output
    assert "run_id" in output


def test_level_filters_debug() -> None:
    stream = io.StringIO()
    configure_logging(level="info", format="json", stream=stream)

    structlog.get_logger().debug("request_sent")

    assert stream.getvalue() == ""


def test_library_warning_rendered_as_json() -> None:
    stream = io.StringIO()
    configure_logging(format="json", stream=stream)

    logging.getLogger("asyncpg.pool").warning("connection %s lost", 3)

    (line,) = json_lines(stream)
    assert line["event"] == "connection 3 lost"
    assert line["level"] == "warning"
    assert line["logger"] == "asyncpg.pool"
    assert "timestamp" in line


def test_library_info_dropped() -> None:
    stream = io.StringIO()
    configure_logging(level="debug", format="json", stream=stream)

    logging.getLogger("apscheduler.scheduler").info("job added")

    assert stream.getvalue() == ""


def test_reconfigure_replaces_stream() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(format="json", stream=first)
    configure_logging(format="json", stream=second)

    structlog.get_logger().info("run_started")
    logging.getLogger("aiohttp").error("boom")

    assert first.getvalue() == ""
    assert len(json_lines(second)) == 2


@pytest.mark.parametrize("format", ["json", "console"])
def test_token_in_field_redacted(format: str) -> None:
    stream = io.StringIO()
    configure_logging(format=format, stream=stream, secrets=[TOKEN])

    structlog.get_logger().info("request_sent", token=TOKEN, headers={"X-Token": [TOKEN]})

    assert TOKEN not in stream.getvalue()
    assert "[REDACTED]" in stream.getvalue()


@pytest.mark.parametrize("format", ["json", "console"])
def test_token_in_message_redacted(format: str) -> None:
    stream = io.StringIO()
    configure_logging(format=format, stream=stream, secrets=[TOKEN])

    structlog.get_logger().warning(f"token {TOKEN} rejected")

    assert TOKEN not in stream.getvalue()


@pytest.mark.parametrize("format", ["json", "console"])
def test_token_in_traceback_redacted(format: str) -> None:
    stream = io.StringIO()
    configure_logging(format=format, stream=stream, secrets=[TOKEN])

    try:
        raise RuntimeError(f"request with {TOKEN} failed")
    except RuntimeError:
        structlog.get_logger().exception("request_failed")

    assert "RuntimeError" in stream.getvalue()
    assert TOKEN not in stream.getvalue()


def test_token_in_library_log_redacted() -> None:
    stream = io.StringIO()
    configure_logging(format="json", stream=stream, secrets=[TOKEN])

    logging.getLogger("aiohttp.client").warning("sent %s", {"Authorization": TOKEN})

    assert TOKEN not in stream.getvalue()


def test_token_with_quote_redacted_in_json() -> None:
    secret = 'abc"def\\ghi'
    stream = io.StringIO()
    configure_logging(format="json", stream=stream, secrets=[secret])

    structlog.get_logger().info("request_sent", value=f"x{secret}y")

    assert json_lines(stream)[0]["value"] == "x[REDACTED]y"


def test_bearer_header_redacted_without_secret() -> None:
    stream = io.StringIO()
    configure_logging(format="json", stream=stream)

    structlog.get_logger().info("request_sent", header="Authorization: Bearer abc.DEF-123")

    assert json_lines(stream)[0]["header"] == "Authorization: Bearer [REDACTED]"


def test_unknown_format_rejected() -> None:
    with pytest.raises(ValueError, match="xml"):
        configure_logging(format="xml", stream=io.StringIO())
