"""One run: lock, bind groups, stage the desired state, resolve people, read the snapshot,
plan, guard, journal, apply and record.

:func:`reconcile` is the only entry point; the CLI and the daemon both call it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from groupsync import planfile
from groupsync.db.queries import QUERIES
from groupsync.engine import runs
from groupsync.engine.apply import Applier, ApplySummary
from groupsync.engine.desired import DesiredReader, ManagedGroup
from groupsync.engine.groups import GroupBinder
from groupsync.engine.guard import GuardLimits, hold_reason
from groupsync.engine.journal import Journal
from groupsync.engine.lock import AccountLock
from groupsync.engine.plan import GroupPlan, Planner
from groupsync.engine.progress import ProgressListener
from groupsync.engine.report import GroupOutcome, RunReport
from groupsync.engine.resolver import Resolver
from groupsync.engine.strategy import SnapshotSource
from groupsync.errors import InputError
from groupsync.square.client import SquareClient
from groupsync.square.errors import (
    READ_OPERATIONS,
    AuthenticationFailed,
    ConnectionFailed,
    RequestTimedOut,
    SquareError,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RunSettings:
    """The engine's knobs, taken from the configuration file's sync and guards sections."""

    applied_change_window_s: float = 300.0
    max_pages_per_group: int = 10_000
    read_concurrency: int = 4
    resolve_concurrency: int = 8
    apply_concurrency: int = 8
    default_phone_region: str = "US"
    max_removal_share: float = 0.10
    max_removals: int = 100
    allow_mass_removal: bool = False
    dry_run_plan_limit: int = 1_000
    # "auto", "listing" or "per_group"; see groupsync.engine.strategy.
    read_strategy: str = "auto"


@dataclass
class RunOptions:
    """The options of one run: account, trigger, dry run, group filter, stop event."""

    account: str = "default"
    trigger: str = "manual"
    dry_run: bool = False
    only_groups: frozenset[str] | None = None
    allow_mass_removal: bool = False
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    # A dry run writes its plan here (groupsync plan).
    save_plan: Path | None = None
    # A run that sends exactly this plan, or nothing when it moved (groupsync apply).
    expected_plan: planfile.SavedPlan | None = None
    # Told of every step of progress; the CLI draws a progress bar with it on a terminal.
    progress_listener: ProgressListener | None = None


async def reconcile(
    *,
    pool: asyncpg.Pool,
    client: SquareClient,
    settings: RunSettings,
    options: RunOptions,
) -> RunReport:
    """Run one reconcile pass over an account and return its report.

    Raises :class:`groupsync.engine.lock.RunInProgress` when another process holds the
    account's lock, and :class:`InputError` when ``options`` name a group that is not managed.
    """
    async with pool.acquire() as lock_conn:
        lock = AccountLock(lock_conn, options.account)
        await lock.acquire()
        try:
            await runs.interrupt_stale_runs(lock_conn, options.account)
            groups = await _managed_groups(lock_conn, options)
            run_id = await runs.start_run(
                lock_conn,
                account=options.account,
                trigger=options.trigger,
                dry_run=options.dry_run,
                group_filter=sorted(options.only_groups) if options.only_groups else None,
            )
            with structlog.contextvars.bound_contextvars(run_id=run_id, account=options.account):
                return await _Run(
                    pool=pool,
                    lock_conn=lock_conn,
                    client=client,
                    settings=settings,
                    options=options,
                    run_id=run_id,
                    groups=groups,
                ).execute()
        finally:
            await lock.release()


async def _managed_groups(conn: asyncpg.Connection, options: RunOptions) -> list[ManagedGroup]:
    groups = [
        ManagedGroup(
            name=row["name"],
            mode=row["mode"],
            source=row["source"],
            square_group_id=row["square_group_id"],
        )
        for row in await conn.fetch(QUERIES["managed_groups"], options.account)
    ]
    if options.only_groups is None:
        return groups

    unknown = sorted(options.only_groups - {group.name for group in groups})
    if unknown:
        raise InputError(
            f"group(s) {', '.join(map(repr, unknown))} are not managed for account "
            f"{options.account!r}; add them to groupsync.managed_groups or fix --group"
        )
    return [group for group in groups if group.name in options.only_groups]


class _Run:
    """The state of one run while it executes."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        lock_conn: asyncpg.Connection,
        client: SquareClient,
        settings: RunSettings,
        options: RunOptions,
        run_id: int,
        groups: list[ManagedGroup],
    ) -> None:
        self.pool = pool
        self.lock_conn = lock_conn
        self.client = client
        self.settings = settings
        self.options = options
        self.groups = groups
        self.report = RunReport(
            run_id=run_id,
            account=options.account,
            trigger=options.trigger,
            dry_run=options.dry_run,
        )
        self.report.counts.groups = len(groups)
        for group in groups:
            self.report.groups[group.name] = GroupOutcome(
                name=group.name, mode=group.mode, square_group_id=group.square_group_id
            )
        self.journal = Journal(
            pool, run_id=run_id, account=options.account, counts=self.report.counts
        )
        self.stats_at_start = _stats_totals(client)
        self.started = time.monotonic()
        # Groups that must not lose members this run: incomplete read or desired state.
        self.no_removals: set[str] = set()
        self.snapshot_source = SnapshotSource(
            pool,
            client,
            run_id=run_id,
            account=options.account,
            strategy=settings.read_strategy,
            read_concurrency=settings.read_concurrency,
            max_pages=settings.max_pages_per_group,
            default_region=settings.default_phone_region,
            progress_listener=options.progress_listener,
        )

    async def execute(self) -> RunReport:
        log.info(
            "sync_run_started",
            trigger=self.options.trigger,
            dry_run=self.options.dry_run,
            groups=len(self.groups),
        )
        try:
            await self._steps()
        except AuthenticationFailed as error:
            self._fail(str(error))
        except (ConnectionFailed, RequestTimedOut) as error:
            self.report.square_unreachable = True
            self._fail(
                f"Square could not be reached at {self.client.base_url}: {error}. Check "
                "SQUARE_BASE_URL and the network; the next run tries again"
            )
        except SquareError as error:
            self._fail(f"the run stopped on a Square error: {error}")
        except BaseException as error:
            self._fail(f"the run stopped on an unexpected error: {type(error).__name__}: {error}")
            await self._finish()
            raise
        await self._finish()
        return self.report

    async def _steps(self) -> None:
        with self._step("bind_groups"):
            bound = await self._bind_groups()
        if self._stopping():
            return
        with self._step("stage_desired"):
            staged = await self._stage_desired(bound)
        if self._stopping():
            return
        # This step chooses the read strategy. With the ListCustomers walk, it also walks and
        # matches people locally.
        with self._step("prepare_reads"):
            await self.snapshot_source.prepare(staged)
        if self._stopping():
            return
        with self._step("resolve_people"):
            await self._resolve_people()
        if self._stopping():
            return
        with self._step("read_snapshot"):
            read_complete = await self._read_snapshot(staged)
        if self._stopping():
            return
        with self._step("plan_and_apply"):
            await self._plan_and_apply(staged, read_complete)

    @contextmanager
    def _step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name`` of the run's ``step_durations_s``."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.report.step_durations_s[name] = round(time.monotonic() - started, 3)

    async def _count_adds_after_creations(self) -> None:
        """Count, per group, the adds a dry run cannot list: people without a customer yet,
        and everyone desired in a group that does not exist yet."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                QUERIES["dry_run_pending_adds"], self.report.run_id, self.options.account
            )
        for row in rows:
            outcome = self.report.groups.get(row["group_name"])
            if outcome is None:
                continue
            if outcome.would_create_group:
                outcome.planned_adds += row["people"]
            else:
                outcome.planned_adds += row["unlinked_people"]

    def _stopping(self) -> bool:
        """Return True, and mark the run interrupted, when a shutdown asked the run to stop."""
        if not self.options.stop.is_set():
            return False
        self.report.status = "interrupted"
        log.warning("sync_run_stopping", reason="shutdown requested; no further step starts")
        return True

    async def _bind_groups(self) -> list[ManagedGroup]:
        # A saved plan names its groups' Square ids, so applying it creates and renames none.
        if self.options.dry_run or self.options.expected_plan is not None:
            binder_errors = await self._bind_groups_dry()
        else:
            binder = GroupBinder(self.client, self.journal, account=self.options.account)
            binder_errors = await binder.bind(self.groups)
        for name, message in binder_errors.items():
            self._group_error(name, message)

        bound = [
            group
            for group in self.groups
            if group.square_group_id and group.name not in binder_errors
        ]
        for group in bound:
            self.report.groups[group.name].square_group_id = group.square_group_id
        return bound

    async def _bind_groups_dry(self) -> dict[str, str]:
        """Bind by lookup only: a dry run creates and renames nothing."""
        square_groups = await self.client.list_groups()
        by_id = {group.id: group for group in square_groups}
        errors: dict[str, str] = {}
        for managed in self.groups:
            if managed.square_group_id in by_id:
                continue
            named = [group for group in square_groups if group.name == managed.name]
            if len(named) == 1:
                managed.square_group_id = named[0].id
            elif len(named) > 1:
                errors[managed.name] = f"{len(named)} Square groups are named {managed.name!r}"
            else:
                managed.square_group_id = None
                self.report.groups[managed.name].would_create_group = True
                log.info("group_would_be_created", group_name=managed.name)
        return errors

    async def _stage_desired(self, bound: list[ManagedGroup]) -> list[ManagedGroup]:
        reader = DesiredReader(
            self.pool,
            run_id=self.report.run_id,
            account=self.options.account,
            default_region=self.settings.default_phone_region,
        )
        summary = await reader.stage(self.groups, only_groups=self.options.only_groups)
        self.report.counts.rejected += summary.rejected
        for name, message in summary.group_errors.items():
            self._group_error(name, message)
        return [group for group in bound if group.name not in summary.group_errors]

    async def _resolve_people(self, *, stale_links: dict[str, str] | None = None) -> None:
        resolver = Resolver(
            self.pool,
            self.client,
            self.journal,
            run_id=self.report.run_id,
            account=self.options.account,
            concurrency=self.settings.resolve_concurrency,
            create_missing=not self.options.dry_run and self.options.expected_plan is None,
            stale_links=stale_links,
            # A second resolution, after adds found stale links, cannot trust the walk.
            search=stale_links is not None or self.snapshot_source.searches_needed,
            stop=self.options.stop,
            progress_listener=self.options.progress_listener,
        )
        summary = await resolver.resolve()
        self.report.counts.creates += summary.created
        self.report.counts.rejected += summary.rejected
        self.report.counts.failed += summary.failed
        self.report.planned_creates += summary.would_create
        self.no_removals |= summary.incomplete_groups
        if summary.failed:
            self.report.errors.append(
                f"{summary.failed} people could not be resolved to Square customers; "
                "their groups lose nobody this run"
            )

    async def _read_snapshot(self, staged: list[ManagedGroup]) -> set[str]:
        readable = [group for group in staged if group.square_group_id]
        results = await self.snapshot_source.read(readable)
        complete = set()
        for name, result in results.items():
            outcome = self.report.groups[name]
            outcome.members = result.members
            outcome.read_complete = result.complete
            if result.complete:
                complete.add(name)
            else:
                self._group_error(name, f"reading the group's members failed: {result.error}")
        return complete

    async def _plan_and_apply(self, staged: list[ManagedGroup], read_complete: set[str]) -> None:
        """Plan, then apply adds before removes.

        Adds go first because an add is what reveals a stale link (Square returns 404 for a
        merged or deleted customer). Those people are resolved again and the plan rebuilt
        before any removal is sent, so a merged customer is never removed in place of the
        stale id.
        """
        if self.options.dry_run:
            await self._count_adds_after_creations()
        planned = [group for group in staged if group.square_group_id]
        # Plan files go on without groups: saving rejects it, applying names the missing ones.
        if not planned and self.options.save_plan is None and self.options.expected_plan is None:
            return
        group_ids = [group.square_group_id for group in planned if group.square_group_id]
        removable_ids = [
            group.square_group_id
            for group in planned
            if group.square_group_id
            and group.name in read_complete
            and group.name not in self.no_removals
        ]
        planner = Planner(self.pool, run_id=self.report.run_id, account=self.options.account)

        async def build_plan() -> dict[str, GroupPlan]:
            return await planner.build(
                group_ids=group_ids,
                removable_group_ids=removable_ids,
                applied_change_window_s=self.settings.applied_change_window_s,
            )

        plans = await build_plan()
        if self.options.dry_run:
            await self._guard(planned, plans, planner)
            self.report.plan = await planner.changes(limit=self.settings.dry_run_plan_limit)
            if self.options.save_plan is not None:
                await self._save_plan(planned, self.options.save_plan)
            return
        if self.options.expected_plan is not None:
            await self._apply_expected_plan(planned, plans, planner)
            return

        applied = await self._apply("add")
        if applied.vanished_customers and not applied.stopped:
            log.info("links_refreshed", reason="some linked customers no longer exist")
            await self._resolve_people(stale_links=applied.stale_links)
            plans = await build_plan()
            applied = await self._apply("add")
            if applied.vanished_customers:
                self.report.errors.append(
                    f"{len(applied.vanished_customers)} customers vanished again after their "
                    "people were resolved anew (search may lag); their adds wait for the next run"
                )
        if applied.stopped:
            return

        await self._guard(planned, plans, planner)
        await self._apply("remove")

    async def _save_plan(self, planned: list[ManagedGroup], path: Path) -> None:
        reasons = planfile.unsaveable_reasons(self.report, self.groups)
        if reasons:
            self.report.errors += [f"the plan was not saved to {path}: {why}" for why in reasons]
            return
        plan = await planfile.capture_plan(
            self.pool,
            run_id=self.report.run_id,
            account=self.options.account,
            groups=planned,
            only_groups=self.options.only_groups,
            allow_mass_removal=self.options.allow_mass_removal,
        )
        planfile.write_plan(plan, path)
        log.info("plan_saved", path=str(path), changes=len(plan.changes))

    async def _apply_expected_plan(
        self, planned: list[ManagedGroup], plans: dict[str, GroupPlan], planner: Planner
    ) -> None:
        """Send the saved plan's changes, or none when the plan computed now differs."""
        assert self.options.expected_plan is not None
        await self._guard(planned, plans, planner)
        current = await planfile.current_groups(
            self.pool, run_id=self.report.run_id, account=self.options.account, groups=planned
        )
        differences = planfile.plan_differences(self.options.expected_plan, current)
        if differences:
            self.report.errors += [f"plan rejected: {difference}" for difference in differences]
            log.error("plan_rejected", differences=differences)
            return

        applied = await self._apply("add")
        if applied.vanished_customers and not applied.stopped:
            self.report.errors.append(
                f"{len(applied.vanished_customers)} customers of the plan no longer exist in "
                "Square, so its removals were not sent: make a new plan"
            )
            return
        if not applied.stopped:
            await self._apply("remove")

    async def _apply(self, kind: str) -> ApplySummary:
        total = await self.journal.journal_plan(kind=kind)
        applier = Applier(
            self.pool,
            self.client,
            self.journal,
            account=self.options.account,
            concurrency=self.settings.apply_concurrency,
            counts=self.report.counts,
            groups=self.report.groups,
            stop=self.options.stop,
            progress_listener=self.options.progress_listener,
        )
        summary = await applier.apply(total=total, phase=f"apply_{kind}")
        if summary.stopped:
            self.report.status = "interrupted"
        return summary

    async def _guard(
        self, planned: list[ManagedGroup], plans: dict[str, Any], planner: Planner
    ) -> None:
        limits = GuardLimits(
            max_removal_share=self.settings.max_removal_share,
            max_removals=self.settings.max_removals,
        )
        allowed = self.settings.allow_mass_removal or self.options.allow_mass_removal
        for group in planned:
            plan = plans.get(group.square_group_id or "")
            if plan is None:
                continue
            outcome = self.report.groups[group.name]
            outcome.planned_adds += plan.adds
            outcome.planned_removes = plan.removes
            reason = hold_reason(members=plan.members, removes=plan.removes, limits=limits)
            if reason is None:
                continue
            if allowed:
                log.warning(
                    "mass_removal_allowed",
                    group_name=group.name,
                    group_id=group.square_group_id,
                    members=plan.members,
                    planned_removes=plan.removes,
                    reason=reason,
                )
                continue
            await self._hold(group, plan.members, plan.removes, reason, planner)

    async def _hold(
        self, group: ManagedGroup, members: int, removes: int, reason: str, planner: Planner
    ) -> None:
        assert group.square_group_id is not None
        await planner.drop_removes(group.square_group_id)
        outcome = self.report.groups[group.name]
        outcome.held = True
        outcome.hold_reason = reason
        self.report.counts.held_groups += 1
        if not self.options.dry_run:
            async with self.pool.acquire() as conn:
                await conn.execute(
                    QUERIES["insert_hold"],
                    self.report.run_id,
                    self.options.account,
                    group.name,
                    members,
                    removes,
                    reason,
                )
        log.error(
            "removal_held",
            group_name=group.name,
            group_id=group.square_group_id,
            members=members,
            planned_removes=removes,
            reason=reason,
            fix="check the desired state; to allow it, run `groupsync sync --allow-mass-removal "
            f"--group {group.name!r}` or set guards.allow_mass_removal",
        )

    def _group_error(self, name: str, message: str) -> None:
        outcome = self.report.groups.get(name)
        if outcome is not None:
            outcome.error = message
        self.report.errors.append(f"group {name!r}: {message}")

    def _fail(self, message: str) -> None:
        self.report.errors.append(message)
        self.report.status = "failed"
        log.error("sync_run_failed", error=message)

    async def _finish(self) -> None:
        report = self.report
        counts = report.counts
        totals = _stats_totals(self.client)
        counts.api_calls = totals["requests"] - self.stats_at_start["requests"]
        counts.reads = totals["reads"] - self.stats_at_start["reads"]
        counts.retries = totals["retries"] - self.stats_at_start["retries"]
        counts.rate_limited = totals["rate_limited"] - self.stats_at_start["rate_limited"]
        report.duration_s = round(time.monotonic() - self.started, 3)
        report.status = _final_status(report)

        try:
            await runs.finish_run(self.lock_conn, report)
            await self._clear_working_sets()
        except (asyncpg.PostgresError, OSError) as error:
            log.error("sync_run_record_failed", error=str(error))

        log_method = log.info if report.status == "succeeded" else log.error
        log_method(
            "sync_run_finished",
            status=report.status,
            duration_s=report.duration_s,
            dry_run=report.dry_run,
            step_durations_s=report.step_durations_s,
            **{key: value for key, value in vars(counts).items()},
        )

    async def _clear_working_sets(self) -> None:
        for name in (
            "clear_run_desired",
            "clear_run_snapshot",
            "clear_plan",
            "clear_run_protected",
            "clear_run_customers",
        ):
            await self.lock_conn.execute(QUERIES[name], self.report.run_id)


def _final_status(report: RunReport) -> str:
    if report.status in ("failed", "interrupted"):
        return report.status
    if report.errors or report.counts.failed:
        return "failed"
    if report.counts.held_groups:
        return "held"
    return "succeeded"


def _stats_totals(client: SquareClient) -> dict[str, int]:
    stats = client.stats
    reads = sum(
        count
        for (operation, _status), count in stats.requests.items()
        if operation in READ_OPERATIONS
    )
    return {
        "requests": stats.total_requests,
        "reads": reads,
        "retries": stats.retries,
        "rate_limited": stats.rate_limited,
    }
