"""Shared parts of the groupsync benchmarks: the emulator process, a throwaway PostgreSQL,
groupsync run as its real CLI, and the figures each run reports."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from groupsync.db.migrator import migrate
from groupsync.testing.emulator import EmulatorProcess
from groupsync.testing.postgres import ThrowawayPostgres

try:
    from bench.scenario import Scenario, ScenarioSize, build_scenario
except ImportError:  # run as a script from bench/
    from scenario import Scenario, ScenarioSize, build_scenario  # type: ignore[no-redef]

__all__ = ["Scenario", "ScenarioSize", "build_scenario"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
LATENCY_ARGS = ["--latency-ms", "40", "--jitter-ms", "10"]
# How often a running groupsync's peak RSS is read; growth in its last interval is missed.
POLL_S = 0.01


def emulator_args(rate_limit_per_s: float | None) -> list[str]:
    args = list(LATENCY_ARGS)
    if rate_limit_per_s is not None:
        args += ["--rate-limit-per-s", f"{rate_limit_per_s:g}"]
    return args


def state_file(scenario: Scenario) -> Path:
    """Write the scenario's seller as an emulator state file (``--state``); a state this
    large exceeds the admin API's request size limit."""
    path = Path(tempfile.mkdtemp(prefix="groupsync-bench-")) / "state.json"
    state = {"sellers": {"default": {"customers": scenario.customers, "groups": scenario.groups}}}
    path.write_text(json.dumps(state))
    return path


async def prepare_database(url: str, scenario: Scenario) -> None:
    """Migrate the database, manage the scenario's groups and copy in its desired rows."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        await conn.executemany(
            "INSERT INTO groupsync.managed_groups (name) VALUES ($1)",
            [(name,) for name in scenario.group_names],
        )
        await conn.copy_records_to_table(
            "desired_memberships",
            schema_name="groupsync",
            records=scenario.desired,
            columns=("group_name", "email_address"),
        )
    finally:
        await conn.close()


def write_config(path: Path, *, rate_limit_per_s: float, max_in_flight: int) -> Path:
    """Write groupsync's configuration for a benchmark run.

    ``BENCH_LOG_LEVEL`` (default warning) sets its log level.
    """
    level = os.environ.get("BENCH_LOG_LEVEL", "warning")
    path.write_text(
        "[limits]\n"
        f"rate_limit_per_s = {rate_limit_per_s}\n"
        f"max_in_flight = {max_in_flight}\n"
        "[sync]\n"
        "applied_change_window_s = 0\n"
        "[guards]\n"
        "allow_mass_removal = true\n"
        "[logging]\n"
        'format = "json"\n'
        f'level = "{level}"\n'
    )
    return path


@dataclass
class ProcessRun:
    wall_s: float
    cpu_s: float
    # The part of cpu_s spent in the kernel on the process's behalf (system calls).
    system_cpu_s: float
    peak_rss_mb: float
    exit_code: int
    report: dict[str, Any]


def run_groupsync_sync(
    *, database_url: str, emulator: EmulatorProcess, config: Path, timeout_s: float
) -> ProcessRun:
    """Run ``python -m groupsync sync --json`` and measure its wall time, CPU and peak RSS."""
    env = {
        **os.environ,
        "GROUPSYNC_DATABASE_URL": database_url,
        "SQUARE_BASE_URL": emulator.base_url,
        "SQUARE_ACCESS_TOKEN": emulator.token,
        "GROUPSYNC_CONFIG": str(config),
    }
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, *_profiler_args(), "-m", "groupsync", "sync", "--json"],
            env=env,
            cwd=REPO,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
        # wait4 gives this process's own CPU, not that of other children (the emulator
        # processes) that RUSAGE_CHILDREN would mix in.
        _, status, usage, peak_rss_kib = _wait_with_timeout(process, timeout_s)
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    _keep_log(errors)
    wall_s = time.perf_counter() - started
    cpu_s = usage.ru_utime + usage.ru_stime
    exit_code = os.waitstatus_to_exitcode(status)
    try:
        report = json.loads(output)
    except ValueError:
        report = {"stdout": output[-2000:], "stderr": errors[-4000:]}
    return ProcessRun(
        wall_s=wall_s,
        cpu_s=cpu_s,
        system_cpu_s=usage.ru_stime,
        peak_rss_mb=peak_rss_kib / 1024,
        exit_code=exit_code,
        report=report,
    )


def _keep_log(log_text: str) -> None:
    """Keep groupsync's log lines in ``BENCH_LOG_DIR`` when that names a folder."""
    folder = os.environ.get("BENCH_LOG_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (
            Path(folder) / f"groupsync-{time.strftime('%H%M%S')}-{time.monotonic_ns()}.log"
        ).write_text(log_text)


def _profiler_args() -> list[str]:
    """Return the interpreter options that run groupsync under cProfile when
    ``BENCH_PROFILE_DIR`` names a folder for the profiles, one file per run.

    The profiler's own cost then inflates the CPU figures.
    """
    folder = os.environ.get("BENCH_PROFILE_DIR")
    if not folder:
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = (
        Path(folder)
        / f"groupsync-{time.strftime('%H%M%S')}-{os.getpid()}-{time.monotonic_ns()}.prof"
    )
    return ["-m", "cProfile", "-o", str(path)]


def _wait_with_timeout(
    process: subprocess.Popen[str], timeout_s: float
) -> tuple[int, int, resource.struct_rusage, int]:
    """Wait for ``process``; return wait4's pid, status and usage, and its peak RSS in KiB."""
    deadline = time.monotonic() + timeout_s
    peak_rss_kib = 0
    while True:
        # Read before wait4: once reaped, the process has no status file left to read.
        peak_rss_kib = max(peak_rss_kib, _peak_rss_kib(process.pid))
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage, peak_rss_kib
        if time.monotonic() > deadline:
            process.kill()
            return (*os.wait4(process.pid, 0), peak_rss_kib)
        time.sleep(POLL_S)


def _peak_rss_kib(pid: int) -> int:
    """Return the process's own peak RSS so far in KiB (VmHWM), or 0 once it has exited.

    wait4's ru_maxrss is no use here: Linux carries the high-water mark over fork and exec,
    so a child reports at least the RSS this process had when it started the child, and
    this process keeps the whole scenario in memory. VmHWM is the high-water mark of the
    child's own address space.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def format_steps(steps: dict[str, float]) -> str:
    """Return a run's ``step_durations_s`` as one line of text."""
    return ", ".join(f"{name} {duration_s:.2f} s" for name, duration_s in steps.items())


def postgres_backend_cpu_s(postgres: ThrowawayPostgres) -> float:
    """CPU seconds used by the cluster's ended backends so far: the postmaster's children
    time, which grows when a backend (one per connection) exits."""
    pid = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: field 16 cutime and 17 cstime are the 14th and 15th here.
    ticks = int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


async def emulator_counts(emulator: EmulatorProcess) -> dict[str, Any]:
    """Calls per operation and 429 responses since the stats were last reset."""
    stats = await emulator.admin.stats()
    requests = stats["requests"]
    calls = {operation: sum(statuses.values()) for operation, statuses in requests.items()}
    rate_limited = sum(statuses.get("429", 0) for statuses in requests.values())
    return {"calls": sum(calls.values()), "rate_limited": rate_limited, "by_operation": calls}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path


class Bench:
    """The processes of one benchmark: a throwaway PostgreSQL and one emulator at a time."""

    def __init__(self) -> None:
        self.postgres = ThrowawayPostgres()
        self.database_index = 0

    def __enter__(self) -> Bench:
        self.postgres.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.postgres.stop()

    async def fresh_database(self) -> str:
        self.database_index += 1
        name = f"bench_{self.database_index}"
        conn = await asyncpg.connect(self.postgres.url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        base, _, _ = self.postgres.url.rpartition("/")
        return f"{base}/{name}"


def start_emulator(rate_limit_per_s: float | None, scenario: Scenario) -> EmulatorProcess:
    """Start the emulator process with the scenario's seller loaded."""
    args = [*emulator_args(rate_limit_per_s), "--state", str(state_file(scenario))]
    return EmulatorProcess(args).start()
