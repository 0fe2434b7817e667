"""The CI's dependency-audit verdict on pip-audit's JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VERDICT = Path(__file__).resolve().parents[2] / ".ci" / "audit_verdict.py"

AUDITED = {"name": "asyncpg", "version": "0.32.0", "vulns": []}
SKIPPED = {"name": "aiohttp", "skip_reason": "Dependency not found on PyPI"}
VULNERABLE = {
    "name": "aiohttp",
    "version": "3.8.0",
    "vulns": [{"id": "GHSA-0000-0000-0000", "fix_versions": ["3.9.2"]}],
}


def run_verdict(tmp_path: Path, report: object | None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "audit.json"
    if report is not None:
        path.write_text(json.dumps(report))
    return subprocess.run(
        [sys.executable, str(VERDICT), str(path)], capture_output=True, text=True, check=False
    )


def test_finding_fails(tmp_path: Path) -> None:
    result = run_verdict(tmp_path, {"dependencies": [AUDITED, VULNERABLE]})

    assert result.returncode == 1
    assert "aiohttp 3.8.0: GHSA-0000-0000-0000 (fixed in 3.9.2)" in result.stderr


def test_clean_audit_passes(tmp_path: Path) -> None:
    result = run_verdict(tmp_path, {"dependencies": [AUDITED]})

    assert result.returncode == 0
    assert "no known vulnerabilities in 1 dependencies" in result.stderr


def test_missing_report_warns_and_passes(tmp_path: Path) -> None:
    result = run_verdict(tmp_path, None)

    assert result.returncode == 0
    assert "not audited" in result.stderr


def test_all_skipped_warns_and_passes(tmp_path: Path) -> None:
    result = run_verdict(tmp_path, {"dependencies": [SKIPPED]})

    assert result.returncode == 0
    assert "no dependency could be audited" in result.stderr


def test_some_skipped_are_named(tmp_path: Path) -> None:
    result = run_verdict(tmp_path, {"dependencies": [AUDITED, SKIPPED]})

    assert result.returncode == 0
    assert "1 dependencies were not audited: aiohttp" in result.stderr
