"""Rendering run reports, status and import reports for a terminal or as JSON."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import IO

from groupsync.csv_import import ImportReport
from groupsync.engine.report import RunReport
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
    rows = [
        ["group", "mode", "members", "adds", "removes", "failed", "state"],
        *(
            [
                group.name,
                group.mode,
                "?" if group.members is None else str(group.members),
                str(group.planned_adds if report.dry_run else group.adds),
                str(group.planned_removes if report.dry_run else group.removes),
                str(group.failed),
                _group_state(group.held, group.error, group.read_complete),
            ]
            for group in report.groups.values()
        ),
    ]
    out.write(_table(rows))
    out.write(
        f"adds {counts.adds}, removes {counts.removes}, customers created {counts.creates}, "
        f"rejected rows {counts.rejected}, failed {counts.failed}, held groups "
        f"{counts.held_groups}, API calls {counts.api_calls}, retries {counts.retries}, "
        f"rate limited {counts.rate_limited}\n"
    )
    if report.dry_run:
        _print_plan(report, out)
    for error in report.errors:
        out.write(f"error: {error}\n")


def _print_plan(report: RunReport, out: IO[str]) -> None:
    if report.planned_creates:
        out.write(f"would create {report.planned_creates} customers (not in the plan below)\n")
    if not report.plan:
        out.write("plan: nothing to change\n")
        return
    out.write(f"plan ({len(report.plan)} changes shown):\n")
    for change in report.plan:
        sign = "+" if change.kind == "add" else "-"
        out.write(f"  {sign} {change.group_name}: {change.square_customer_id}\n")


def _group_state(held: bool, error: str | None, read_complete: bool) -> str:
    if error:
        return "error"
    if held:
        return "held"
    if not read_complete:
        return "not read"
    return "ok"


def print_status(status: Status, *, as_json: bool, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(json.dumps(status.to_dict(), default=str, indent=2) + "\n")
        return

    out.write(f"Account {status.account!r}\n\nRecent runs\n")
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

    if status.rejections:
        out.write("\nRejected rows of the last run\n")
        for rejection in status.rejections:
            out.write(
                f"  {rejection['group_name']} ({rejection['source']} row "
                f"{rejection['row_ref'] or '-'}): {rejection['reason']}: {rejection['detail']}\n"
            )


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


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    lines = [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"
