"""The ``groupsync`` command line: parsing, settings, logging and exit codes.

Exit codes: 0 success; 1 a run failed, was held or was interrupted; 2 invalid input or
settings; 3 another process is reconciling the same account; 4 the database or Square
could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import asyncpg
import structlog

from groupsync import __version__
from groupsync.config import Settings, load_settings
from groupsync.errors import GroupsyncError, InputError, PermanentError, TemporaryError
from groupsync.logs import configure_logging

EXIT_OK = 0
EXIT_RUN_NOT_CLEAN = 1
EXIT_INVALID = 2
EXIT_BUSY = 3
EXIT_UNAVAILABLE = 4

log = structlog.get_logger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="groupsync",
        description="Keep Square customer groups in line with desired memberships in PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"groupsync {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML configuration file (default: $GROUPSYNC_CONFIG, else built-in defaults)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("migrate", help="create or upgrade groupsync's schema in the database")

    sync = commands.add_parser("sync", help="run one full reconcile now and exit")
    _add_account(sync)
    sync.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    sync.add_argument(
        "--group",
        action="append",
        metavar="NAME",
        help="reconcile only this managed group (repeatable)",
    )
    sync.add_argument("--json", action="store_true", help="print the run report as JSON")
    sync.add_argument(
        "--allow-mass-removal",
        action="store_true",
        help=(
            "apply removals that the guards would hold: more than guards.max_removals, more "
            "than guards.max_removal_share of a group, or all of a group's members"
        ),
    )

    plan = commands.add_parser(
        "plan", help="make a dry run and save its plan to a file for `groupsync apply`"
    )
    _add_account(plan)
    plan.add_argument("--out", type=Path, required=True, metavar="FILE", help="plan file to write")
    plan.add_argument(
        "--group", action="append", metavar="NAME", help="plan only this managed group (repeatable)"
    )
    plan.add_argument("--json", action="store_true", help="print the run report as JSON")
    plan.add_argument(
        "--allow-mass-removal",
        action="store_true",
        help="keep removals that the guards would hold in the plan",
    )

    apply = commands.add_parser(
        "apply",
        help="apply a saved plan exactly; change nothing if Square or the desired state moved",
    )
    apply.add_argument("file", type=Path, metavar="FILE", help="plan file made by `groupsync plan`")
    apply.add_argument(
        "--account", help="the account the plan must be for (default: the plan's account)"
    )
    apply.add_argument("--json", action="store_true", help="print the run report as JSON")

    run = commands.add_parser("run", help="run the daemon: scheduled runs and triggers")
    run.add_argument(
        "--account",
        help="serve only this account (default: every account in groupsync.accounts, or "
        "sync.account of the configuration when that table is empty)",
    )

    trigger = commands.add_parser("trigger", help="ask running daemons for a full resync now")
    trigger.add_argument(
        "--account", help="resync only this account (default: every account the daemons serve)"
    )

    status = commands.add_parser("status", help="show recent runs, groups, failures and holds")
    _add_account(status)
    status.add_argument("--json", action="store_true", help="print as JSON")
    status.add_argument(
        "--runs", type=int, default=10, help="how many recent runs to show (default: 10)"
    )

    importer = commands.add_parser("import", help="load a CSV of people into a group")
    _add_account(importer)
    importer.add_argument("file", type=Path, metavar="FILE.csv")
    importer.add_argument("--group", required=True, metavar="NAME")
    importer.add_argument(
        "--append",
        action="store_true",
        help="add to the group's rows instead of replacing them",
    )

    export = commands.add_parser("export", help="list a group's members as Square reports them")
    _add_account(export)
    export.add_argument("--group", required=True, metavar="NAME")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--out", type=Path, help="write to this file instead of stdout")

    emulator = commands.add_parser(
        "emulator", help="serve groupsync's Square emulator for tests and trials"
    )
    from groupsync.emulator.command import add_arguments as add_emulator_arguments

    add_emulator_arguments(emulator)
    return parser


def _add_account(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--account",
        help="the account to work on (default: sync.account of the configuration)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.command == "emulator":
        return _run_emulator(args)

    try:
        settings = load_settings(
            args.config,
            # The daemon reads the tokens of account rows itself; without rows it needs this one.
            require_token=args.command in ("sync", "plan", "apply", "export"),
            require_database=True,
        )
    except GroupsyncError as error:
        print(f"groupsync: {error}", file=sys.stderr)
        return EXIT_INVALID

    secrets = [settings.square.access_token] if settings.square.access_token else []
    configure_logging(level=settings.logging.level, format=settings.logging.format, secrets=secrets)
    command = COMMANDS[args.command]
    try:
        return asyncio.run(command(settings, args))
    except KeyboardInterrupt:
        return EXIT_RUN_NOT_CLEAN
    except GroupsyncError as error:
        return _report_error(error)
    except asyncpg.UndefinedTableError as error:
        print(
            f"groupsync: {error}; the database lacks groupsync's schema: "
            "run `groupsync migrate` first",
            file=sys.stderr,
        )
        return EXIT_INVALID


def _run_emulator(args: argparse.Namespace) -> int:
    from groupsync.emulator.command import run as run_emulator

    try:
        return run_emulator(args)
    except GroupsyncError as error:
        print(f"groupsync emulator: {error}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as error:
        print(
            f"groupsync emulator: cannot listen on {args.host}:{args.port}: {error.strerror}; "
            "choose another --port, or --port 0 for a free one",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE


def _report_error(error: GroupsyncError) -> int:
    from groupsync.engine.lock import RunInProgress

    print(f"groupsync: {error}", file=sys.stderr)
    if isinstance(error, RunInProgress):
        return EXIT_BUSY
    if isinstance(error, TemporaryError):
        return EXIT_UNAVAILABLE
    if isinstance(error, PermanentError):
        return EXIT_INVALID
    return EXIT_RUN_NOT_CLEAN


def _account(settings: Settings, args: argparse.Namespace) -> str:
    return str(args.account or settings.sync.account)


async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from groupsync.db.migrator import migrate
    from groupsync.db.pool import connect

    assert settings.database.url is not None
    conn = await connect(settings.database.url)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    if applied:
        for migration in applied:
            print(f"applied {migration.version:04d}_{migration.name}")
    else:
        print("schema is up to date")
    return EXIT_OK


async def _sync(settings: Settings, args: argparse.Namespace) -> int:
    from groupsync.engine.run import RunOptions, reconcile
    from groupsync.progress_bar import ProgressBar
    from groupsync.report_view import print_run_report
    from groupsync.runtime import database_pool, run_settings, square_client

    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() and not args.json else None
    options = RunOptions(
        account=_account(settings, args),
        trigger="manual",
        dry_run=args.dry_run,
        only_groups=frozenset(args.group) if args.group else None,
        allow_mass_removal=args.allow_mass_removal,
        progress_listener=bar,
    )
    try:
        async with database_pool(settings) as pool, square_client(settings) as client:
            report = await reconcile(
                pool=pool,
                client=client,
                settings=run_settings(settings),
                options=options,
            )
    finally:
        if bar is not None:
            bar.close()
    print_run_report(report, as_json=args.json)
    if report.square_unreachable:
        return EXIT_UNAVAILABLE
    return EXIT_OK if report.status == "succeeded" else EXIT_RUN_NOT_CLEAN


async def _plan(settings: Settings, args: argparse.Namespace) -> int:
    from groupsync.engine.run import RunOptions
    from groupsync.report_view import print_run_report

    options = RunOptions(
        account=_account(settings, args),
        trigger="manual",
        dry_run=True,
        only_groups=frozenset(args.group) if args.group else None,
        allow_mass_removal=args.allow_mass_removal,
        save_plan=args.out,
    )
    report = await _reconcile_once(settings, options)
    print_run_report(report, as_json=args.json)
    if report.status == "failed":
        print(f"groupsync: the plan was not saved to {args.out}", file=sys.stderr)
        return EXIT_RUN_NOT_CLEAN
    print(
        f"saved the plan to {args.out}; apply it with `groupsync apply {args.out}`", file=sys.stderr
    )
    return EXIT_OK


async def _apply(settings: Settings, args: argparse.Namespace) -> int:
    from groupsync.engine.run import RunOptions
    from groupsync.errors import InputError
    from groupsync.planfile import read_plan
    from groupsync.report_view import print_run_report

    plan = read_plan(args.file)
    if args.account is not None and args.account != plan.account:
        raise InputError(
            f"plan file {args.file} is for account {plan.account!r}, not {args.account!r}"
        )
    options = RunOptions(
        account=plan.account,
        trigger="manual",
        only_groups=frozenset(plan.only_groups) if plan.only_groups is not None else None,
        allow_mass_removal=plan.allow_mass_removal,
        expected_plan=plan,
    )
    report = await _reconcile_once(settings, options)
    print_run_report(report, as_json=args.json)
    rejections = [error for error in report.errors if error.startswith("plan rejected: ")]
    if rejections:
        print(
            f"groupsync: the plan in {args.file} was not applied, because it moved since it "
            "was made; make a new plan with `groupsync plan`",
            file=sys.stderr,
        )
    return EXIT_OK if report.status == "succeeded" else EXIT_RUN_NOT_CLEAN


async def _reconcile_once(settings: Settings, options: Any) -> Any:
    from groupsync.engine.run import reconcile
    from groupsync.runtime import database_pool, run_settings, square_client

    async with database_pool(settings) as pool, square_client(settings) as client:
        return await reconcile(
            pool=pool, client=client, settings=run_settings(settings), options=options
        )


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from groupsync.daemon import Daemon

    return await Daemon(settings, account=args.account).serve()


async def _trigger(settings: Settings, args: argparse.Namespace) -> int:
    from groupsync.daemon import send_trigger

    await send_trigger(settings, account=args.account)
    if args.account is None:
        print("asked for a full resync of every account")
    else:
        print(f"asked for a full resync of account {args.account!r}")
    print(
        f"running `groupsync run` daemons listening on {settings.sync.trigger_channel!r} start "
        "it within seconds; the request is lost when none is running"
    )
    return EXIT_OK


async def _status(settings: Settings, args: argparse.Namespace) -> int:
    from groupsync.report_view import print_status
    from groupsync.runtime import database_pool
    from groupsync.status import fetch_status

    async with database_pool(settings, max_size=2) as pool:
        status = await fetch_status(pool, account=_account(settings, args), runs=args.runs)
    print_status(status, as_json=args.json)
    return EXIT_OK


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    from groupsync.csv_import import import_csv
    from groupsync.report_view import print_import_report
    from groupsync.runtime import database_pool

    async with database_pool(settings, max_size=2) as pool:
        report = await import_csv(
            pool,
            args.file,
            account=_account(settings, args),
            group_name=args.group,
            replace=not args.append,
            default_region=settings.sync.default_phone_region,
        )
    print_import_report(report, path=args.file, group_name=args.group)
    return EXIT_RUN_NOT_CLEAN if report.rejected else EXIT_OK


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from groupsync.export import export_group
    from groupsync.runtime import database_pool, square_client

    async with database_pool(settings, max_size=2) as pool, square_client(settings) as client:
        with _export_output(args.out) as output:
            count = await export_group(
                pool,
                client,
                account=_account(settings, args),
                group_name=args.group,
                output=output,
                format=args.format,
            )
    print(f"exported {count} members of {args.group!r}", file=sys.stderr)
    return EXIT_OK


@contextmanager
def _export_output(path: Path | None) -> Iterator[IO[str]]:
    """Yield stdout, or a temporary file next to ``path`` that replaces it only on success."""
    if path is None:
        yield sys.stdout
        return

    partial = path.with_name(path.name + ".partial")
    try:
        output = partial.open("w", encoding="utf-8", newline="")
    except OSError as error:
        raise InputError(
            f"cannot write {path}: {error.strerror}; check that its folder exists and is writable"
        ) from error
    try:
        with output:
            yield output
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Any]] = {
    "migrate": _migrate,
    "sync": _sync,
    "plan": _plan,
    "apply": _apply,
    "run": _run,
    "trigger": _trigger,
    "status": _status,
    "import": _import,
    "export": _export,
}
