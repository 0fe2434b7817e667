"""Decide whether CI passes the dependency audit, from pip-audit's JSON report.

Usage: audit_verdict.py REPORT.json

pip-audit exits 1 both when it finds a vulnerability and when it cannot finish (for
example because its vulnerability service is unreachable), and it exits 0 when every
dependency was skipped because the service has no data on it. Only the report
distinguishes these cases, so this script exits 1 when the report lists a known
vulnerability and 0 otherwise, printing a warning when the audit could not run or
skipped dependencies.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def load_report(path: Path) -> dict[str, Any] | None:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def verdict(report: dict[str, Any] | None) -> tuple[int, list[str]]:
    """Return the exit code and the lines to print for ``report`` (None: no usable report)."""
    if report is None:
        return 0, [
            "warning: pip-audit wrote no report, so the dependencies were not audited; "
            "its output above names the cause (often an unreachable vulnerability service)"
        ]

    dependencies = report.get("dependencies", [])
    findings = [
        f"{dependency['name']} {dependency.get('version', '?')}: {vuln['id']} "
        f"(fixed in {', '.join(vuln.get('fix_versions') or []) or 'no release yet'})"
        for dependency in dependencies
        for vuln in dependency.get("vulns") or []
    ]
    if findings:
        return 1, [f"pip-audit found {len(findings)} known vulnerabilities:", *findings]

    skipped = [dependency for dependency in dependencies if "skip_reason" in dependency]
    audited = len(dependencies) - len(skipped)
    if audited == 0:
        reason = skipped[0]["skip_reason"] if skipped else "the report lists no dependencies"
        return 0, [f"warning: no dependency could be audited; the first reason: {reason}"]
    lines = [f"pip-audit found no known vulnerabilities in {audited} dependencies"]
    if skipped:
        names = ", ".join(dependency["name"] for dependency in skipped)
        lines.append(f"warning: {len(skipped)} dependencies were not audited: {names}")
    return 0, lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    code, lines = verdict(load_report(Path(argv[1])))
    for line in lines:
        print(line, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
