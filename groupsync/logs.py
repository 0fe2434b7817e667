"""Log setup: structlog for groupsync's own events, the same output for library loggers.

Every line carries ``timestamp`` (ISO 8601, UTC), ``level``, ``event`` and whatever the caller
bound with ``structlog.contextvars.bind_contextvars`` (such as ``run_id``). Secrets are
redacted from the rendered line, so nothing reaches the stream unredacted: not field values,
not nested containers, not exception tracebacks.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import stamina.instrumentation
import structlog
from structlog.typing import Processor, WrappedLogger

REDACTED = "[REDACTED]"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
FORMATS = ("auto", "json", "console")

# Libraries such as asyncpg, aiohttp and apscheduler log below WARNING about routine work.
MIN_LIBRARY_LEVEL = logging.WARNING

# Redacts a bearer token even when it is not one of the configured secrets, for example in a
# logged request header. The character set is RFC 6750's b64token.
BEARER_PATTERN = re.compile(r"(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)

# The handler this module installed on the root logger, replaced on each configure_logging.
_installed_handler: logging.Handler | None = None


class Redactor:
    """A processor that runs after the renderer and redacts secrets from the rendered line.

    Each secret is also matched in its JSON-escaped and repr-escaped forms, because the
    renderers escape strings that contain quotes, backslashes or non-ASCII characters.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms.update({secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]})
        # Longest first, so a secret that contains another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, logger: WrappedLogger, method_name: str, line: Any) -> Any:
        if not isinstance(line, str):
            raise TypeError("Redactor must come after the renderer in the processor chain")

        for form in self._forms:
            if form in line:
                line = line.replace(form, REDACTED)
        return BEARER_PATTERN.sub(rf"\g<1>{REDACTED}", line)


def configure_logging(
    *,
    level: str = "info",
    format: str = "auto",
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Configure structlog and the root stdlib logger to write to ``stream`` (else stderr).

    ``format`` is ``json`` (one JSON object per line), ``console`` (structlog's
    ConsoleRenderer) or ``auto``, which picks console when ``stream`` is a terminal.
    ``secrets`` are values, such as the access token, replaced by ``[REDACTED]`` wherever
    they appear. Library loggers are shown at WARNING and above, or at ``level`` if higher.
    Calling this again replaces the previous configuration.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    if format not in FORMATS:
        raise ValueError(f"unknown log format {format!r}: use one of {', '.join(FORMATS)}")

    output = stream if stream is not None else sys.stderr
    renderer = _renderer(format, output)
    redactor = Redactor(secrets)
    shared = _shared_processors()

    # groupsync logs each retry itself as api_retry_scheduled; stamina's own hooks would log
    # a second line for the same retry.
    stamina.instrumentation.set_on_retry_hooks([])

    structlog.configure(
        processors=[*shared, renderer, redactor],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(output),
        # Not cached, so that a later configure_logging (tests, the CLI after reading the
        # config) also reaches loggers that modules created at import time.
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(
        output,
        level=max(LEVELS[level], MIN_LIBRARY_LEVEL),
        formatter=structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
                redactor,
            ],
        ),
    )


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Tracebacks become plain text before rendering, so that the redactor can reach them.
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
    ]


def _renderer(format: str, stream: TextIO) -> Processor:
    if format == "auto":
        format = "console" if _is_terminal(stream) else "json"
    if format == "json":
        return structlog.processors.JSONRenderer()
    # Plain tracebacks, because the rich ones wrap long lines and could split a secret
    # across two lines, out of the redactor's reach.
    # Colour codes only help a terminal; in a file or a pipe they are noise.
    return structlog.dev.ConsoleRenderer(
        colors=_is_terminal(stream), exception_formatter=structlog.dev.plain_traceback
    )


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def _route_stdlib_logging(stream: TextIO, *, level: int, formatter: logging.Formatter) -> None:
    global _installed_handler

    root = logging.getLogger()
    if _installed_handler is not None:
        root.removeHandler(_installed_handler)

    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    _installed_handler = handler
