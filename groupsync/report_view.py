"""Rendering run reports, status and import reports for a terminal or as JSON."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import IO

from groupsync.csv_import import ImportReport
from groupsync.engine.report import GroupOutcome, RunReport
from groupsync.status import Status


def print_run_report(report: RunReport, *, as_json: bool, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(json.dumps(report.to_dict(), default=str, indent=2) + "\n")
        return

    counts = report.counts
    title = "Dry run" if report.dry_run else "Run"
    out.write(
        f"{title} {report.run_id} of account {report.account!r}: {report.status} "
        f"in {report.duration_s:.1f} s\n"
    )
    if not report.groups:
        out.write(
            f"no managed groups for account {report.account!r}: add rows to "
            "groupsync.managed_groups\n"
        )
    rows = [
        ["group", "mode", "members before", "adds", "removes", "failed", "state"],
        *(
            [
                group.name,
                group.mode,
                "?" if group.members is None else str(group.members),
                str(group.planned_adds if report.dry_run else group.adds),
                str(group.planned_removes if report.dry_run else group.removes),
                str(group.failed),
                _group_state(group),
            ]
            for group in report.groups.values()
        ),
    ]
    out.write(_table(rows))
    if report.dry_run:
        planned_adds = sum(group.planned_adds for group in report.groups.values())
        planned_removes = sum(
            group.planned_removes for group in report.groups.values() if not group.held
        )
        out.write(f"planned: adds {planned_adds}, removes {planned_removes}; sent: nothing\n")
    out.write(
        f"adds {counts.adds}, removes {counts.removes}, customers created {counts.creates}, "
        f"rejected rows {counts.rejected}, failed {counts.failed}, held groups "
        f"{counts.held_groups}, API calls {counts.api_calls}, retries {counts.retries}, "
        f"rate limited {counts.rate_limited}\n"
    )
    if report.dry_run:
        _print_plan(report, out)
    for group in report.groups.values():
        if group.held:
            out.write(
                f"held: {group.name}: {group.hold_reason}. Check the desired state; to allow "
                f"it, run `groupsync sync --allow-mass-removal --group {group.name!r}`\n"
            )
    for error in report.errors:
        out.write(f"error: {error}\n")


def _print_plan(report: RunReport, out: IO[str]) -> None:
    new_groups = [group.name for group in report.groups.values() if group.would_create_group]
    if new_groups:
        out.write(f"groups to create: {', '.join(new_groups)}\n")
    if report.planned_creates:
        out.write(
            f"customers to create: {report.planned_creates}; their adds are counted in the "
            "table but cannot be listed below before the customers exist\n"
        )
    if not report.plan:
        out.write("plan: no change to existing customers\n")
        return
    out.write(f"plan (+ add, - remove; the first {len(report.plan)} changes):\n")
    for change in report.plan:
        sign = "+" if change.kind == "add" else "-"
        who = change.person_key or "no link"
        out.write(f"  {sign} {change.group_name}: {change.square_customer_id} ({who})\n")


def _group_state(group: GroupOutcome) -> str:
    if group.error:
        return "error"
    if group.held:
        return "held"
    if group.would_create_group:
        return "new group"
    if not group.read_complete:
        return "not read"
    return "ok"


def print_status(status: Status, *, as_json: bool, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(json.dumps(status.to_dict(), default=str, indent=2) + "\n")
        return

    out.write(f"Account {status.account!r}\n\n")
    _print_at_a_glance(status, out)
    out.write("\nRecent runs\n")
    run_rows = [
        [
            "run",
            "trigger",
            "status",
            "started",
            "duration_s",
            "adds",
            "removes",
            "creates",
            "rejected",
            "failed",
            "held",
            "api_calls",
        ]
    ]
    for run in status.runs:
        run_rows.append(
            [
                str(run["id"]),
                run["trigger"] + (" (dry)" if run["dry_run"] else ""),
                run["status"],
                _time(run["started_at"]),
                f"{run['duration_s']:.1f}",
                str(run["adds"]),
                str(run["removes"]),
                str(run["creates"]),
                str(run["rejected"]),
                str(run["failed"]),
                str(run["held_groups"]),
                str(run["api_calls"]),
            ]
        )
    out.write(_table(run_rows) if status.runs else "  no runs yet\n")
    for run in status.runs[:1]:
        if run["error"]:
            out.write(f"  error of run {run['id']}: {run['error']}\n")

    out.write("\nManaged groups\n")
    group_rows = [["group", "mode", "square_group_id", "desired_rows", "failed_last_run", "hold"]]
    for group in status.groups:
        hold = (
            f"{group['held_removes']} of {group['held_members']} held"
            if group["held_removes"] is not None
            else ""
        )
        group_rows.append(
            [
                group["name"],
                group["mode"],
                group["square_group_id"] or "-",
                "source " + group["source"] if group["source"] else str(group["desired_rows"]),
                str(group["failed_last_run"]),
                hold,
            ]
        )
    out.write(_table(group_rows) if status.groups else "  no managed groups\n")

    if status.failed_changes:
        shown = len(status.failed_changes)
        out.write(
            f"\nFailed changes of the last run ({shown} of {status.failed_changes_last_run})\n"
        )
        for change in status.failed_changes:
            target = change["square_customer_id"] or change["person_key"] or "-"
            out.write(
                f"  {change['kind']} {change['group_name'] or '-'}: {target} after "
                f"{change['attempts']} attempts: {change['error']}\n"
            )

    if status.rejections:
        out.write("\nRejected rows of the last run\n")
        for rejection in status.rejections:
            # The identity shows which person it is; a view's row number alone does not.
            out.write(
                f"  {rejection['group_name']} ({rejection['source']} row "
                f"{rejection['row_ref'] or '-'}, {rejection['identity']}): "
                f"{rejection['reason']}: {rejection['detail']}\n"
            )


def _print_at_a_glance(status: Status, out: IO[str]) -> None:
    runs = ", ".join(f"{name} {count}" for name, count in sorted(status.runs_last_24h.items()))
    held = ", ".join(
        f"{group['name']} ({group['held_removes']} of {group['held_members']} members)"
        for group in status.held_groups
    )
    rows = [
        [
            "last succeeded run",
            "never" if status.last_success_at is None else _time(status.last_success_at),
        ],
        ["runs in the last 24 h", runs or "none"],
        ["held groups", held or "none"],
        ["failed changes of the last run", str(status.failed_changes_last_run)],
    ]
    out.write("At a glance\n" + _table(rows))


def print_import_report(
    report: ImportReport, *, path: Path, group_name: str, out: IO[str] | None = None
) -> None:
    out = out or sys.stdout
    out.write(f"imported {report.imported} people from {path} into {group_name!r}\n")
    notes = [(line, "duplicate of an earlier line, skipped") for line in report.duplicates]
    notes += [
        (rejected.line, f"rejected ({rejected.reason}): {rejected.detail}")
        for rejected in report.rejected
    ]
    for line, note in sorted(notes):
        out.write(f"  line {line}: {note}\n")
    if not report.group_managed:
        out.write(
            f"warning: {group_name!r} is not in groupsync.managed_groups, so runs reject these "
            "rows until you add the group there\n"
        )


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    lines = [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"
