"""``groupsync emulator``: serve the Square emulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import signal
import sys
from pathlib import Path

import structlog
from aiohttp import web

from groupsync.emulator.app import create_app
from groupsync.emulator.generator import GenerationRequest, generate
from groupsync.emulator.settings import (
    DEFAULT_SELLER,
    DEFAULT_SQUARE_VERSION,
    PAGE_MODES,
    EmulatorSettings,
    make_up_token,
    parse_token_spec,
)
from groupsync.emulator.state import STATE_KEY
from groupsync.emulator.state_file import load_state
from groupsync.errors import InputError
from groupsync.logs import LEVELS, configure_logging

log = structlog.get_logger(__name__)

# Requests still in flight at shutdown get this long to finish; a test emulator should stop
# promptly, and a client that loses a response retries it.
SHUTDOWN_TIMEOUT_S = 0.5


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _optional_seconds(text: str) -> float | None:
    if text.lower() == "none":
        return None
    return _non_negative(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``; every option's help names its unit."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1). The admin API under /_emulator/ "
        "takes no token, so keep this on loopback",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8085,
        help="TCP port to listen on; 0 picks a free port (default: 8085)",
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN[:SELLER[:SCOPE,SCOPE]]",
        help="accept this bearer token, repeatable; the seller defaults to 'default' and the "
        "scopes to CUSTOMERS_READ,CUSTOMERS_WRITE. Without any --token a random one is made up",
    )
    parser.add_argument(
        "--log-level",
        choices=tuple(LEVELS),
        default="info",
        help="lowest level of log lines written to stderr (default: info)",
    )
    traffic = parser.add_argument_group("traffic shaping and faults")
    traffic.add_argument(
        "--latency-ms",
        metavar="MS",
        type=_non_negative,
        default=0.0,
        help="fixed latency added to every response, in milliseconds (default: 0)",
    )
    traffic.add_argument(
        "--jitter-ms",
        metavar="MS",
        type=_non_negative,
        default=0.0,
        help="random extra latency, uniform between 0 and this, in milliseconds (default: 0)",
    )
    traffic.add_argument(
        "--rate-limit-per-s",
        type=_non_negative,
        default=None,
        metavar="PER_S",
        help="requests per second per seller before 429 RATE_LIMITED (default: no limit)",
    )
    traffic.add_argument(
        "--rate-burst",
        type=int,
        default=10,
        metavar="REQUESTS",
        help="token-bucket size of the rate limit, in requests (default: 10)",
    )
    traffic.add_argument(
        "--retry-after-s",
        type=_optional_seconds,
        default=1.0,
        metavar="SECONDS|none",
        help="Retry-After header of 429 responses, in seconds; 'none' sends no header (default: 1)",
    )
    traffic.add_argument(
        "--error-rate",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of requests that get a 500 or 503 response with a Square error body, "
        "0 to 1 (default: 0)",
    )
    traffic.add_argument(
        "--html-error-rate",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of requests that get a 502 response with an HTML body, as from a proxy, "
        "0 to 1 (default: 0)",
    )
    traffic.add_argument(
        "--drop-rate",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of requests whose connection is closed without a response, 0 to 1 (default: 0)",
    )
    traffic.add_argument(
        "--hang-rate",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of requests that get no response until the client disconnects, 0 to 1 "
        "(default: 0)",
    )
    traffic.add_argument(
        "--burst-period-s",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="burst mode: length of one burst cycle, in seconds; 0 applies the fault rates "
        "all the time (default: 0)",
    )
    traffic.add_argument(
        "--burst-on-s",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="burst mode: the fault rates apply during the first this many seconds of each "
        "cycle (default: 0)",
    )

    behaviour = parser.add_argument_group("behaviour and data")
    behaviour.add_argument(
        "--consistency-lag-s",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="delay before ListCustomers and SearchCustomers see a write, in seconds; "
        "RetrieveCustomer sees it at once (default: 0)",
    )
    behaviour.add_argument(
        "--page-mode",
        choices=PAGE_MODES,
        default="exact",
        help="'exact' pages hold 'limit' items; 'uneven' pages vary in size, include empty "
        "pages with a cursor and a cursor after an exactly full last page (default: exact)",
    )
    behaviour.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for ids, faults and jitter, for reproducible runs (default: random)",
    )
    behaviour.add_argument(
        "--square-version-default",
        default=DEFAULT_SQUARE_VERSION,
        metavar="YYYY-MM-DD",
        help=f"Square-Version used when a request sends none (default: {DEFAULT_SQUARE_VERSION})",
    )
    behaviour.add_argument(
        "--state",
        type=Path,
        default=None,
        metavar="FILE",
        help="JSON file to load at start, shaped "
        '{"sellers": {"default": {"customers": [...], "groups": [...]}}}',
    )
    behaviour.add_argument(
        "--generate-customers",
        type=int,
        default=0,
        metavar="N",
        help="generate N customers for the default seller at start, a count (default: 0)",
    )
    behaviour.add_argument(
        "--generate-groups",
        type=int,
        default=0,
        metavar="G",
        help="generate G groups for the default seller at start, a count (default: 0)",
    )
    behaviour.add_argument(
        "--memberships-per-customer",
        type=_non_negative,
        default=1.0,
        metavar="MEAN",
        help="mean number of generated groups each generated customer joins, a count (default: 1)",
    )


def settings_from_args(args: argparse.Namespace) -> EmulatorSettings:
    try:
        tokens = [parse_token_spec(spec) for spec in args.token] or [make_up_token()]
    except ValueError as error:
        raise InputError(str(error)) from error
    return EmulatorSettings(
        tokens=tokens,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        rate_limit_per_s=args.rate_limit_per_s,
        rate_burst=args.rate_burst,
        retry_after_s=args.retry_after_s,
        error_rate=args.error_rate,
        html_error_rate=args.html_error_rate,
        drop_rate=args.drop_rate,
        hang_rate=args.hang_rate,
        consistency_lag_s=args.consistency_lag_s,
        page_mode=args.page_mode,
        burst_period_s=args.burst_period_s,
        burst_on_s=args.burst_on_s,
        seed=args.seed,
        square_version_default=args.square_version_default,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; return the exit code."""
    settings = settings_from_args(args)
    configure_logging(level=args.log_level, secrets=[grant.token for grant in settings.tokens])
    app = create_app(settings)
    _seed_state(app, args)
    asyncio.run(_serve(app, host=args.host, port=args.port))
    return 0


def _seed_state(app: web.Application, args: argparse.Namespace) -> None:
    state = app[STATE_KEY]
    if args.state is not None:
        try:
            load_state(state, json.loads(args.state.read_text()))
        except (OSError, ValueError) as error:
            raise InputError(f"cannot load emulator state from {args.state}: {error}") from error
    if args.generate_customers or args.generate_groups:
        request = GenerationRequest(
            customers=args.generate_customers,
            groups=args.generate_groups,
            memberships_per_customer=args.memberships_per_customer,
            seed=args.seed,
        )
        generate(state.seller(DEFAULT_SELLER), request)


async def _serve(app: web.Application, *, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)

    bound_host, bound_port = runner.addresses[0][:2]
    _print_banner(app, host=bound_host, port=bound_port)
    log.info("emulator_started", host=bound_host, port=bound_port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("emulator_stopped")


def _print_banner(app: web.Application, *, host: str, port: int) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        print(
            f"warning: listening on {host}; the admin API under /_emulator/ takes no token",
            file=sys.stderr,
        )
    url_host = f"[{host}]" if ":" in host else host
    lines = [f"base_url=http://{url_host}:{port}"]
    for grant in app[STATE_KEY].settings.tokens:
        scopes = ",".join(sorted(grant.scopes))
        lines.append(f"token={grant.token} seller={grant.seller} scopes={scopes}")
    print("\n".join(lines), flush=True)
