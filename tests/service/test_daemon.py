"""``groupsync run`` as a process: start, triggers, reconnection and clean shutdown."""

from __future__ import annotations

from tests.service.conftest import Service, eventually


async def prepare(service: Service, *, people: int = 2) -> None:
    await service.execute("INSERT INTO groupsync.managed_groups (name) VALUES ('VIP')")
    for index in range(people):
        await service.execute(
            "INSERT INTO groupsync.desired_memberships (group_name, email_address) "
            "VALUES ('VIP', $1)",
            f"p{index}@example.com",
        )


async def finished_runs(service: Service, trigger: str) -> int:
    rows = await service.fetch(
        "SELECT count(*) AS runs FROM groupsync.sync_runs "
        "WHERE trigger = $1 AND status <> 'running'",
        trigger,
    )
    return int(rows[0]["runs"])


async def test_daemon_runs_at_start(service: Service) -> None:
    await prepare(service)

    await service.start_daemon()

    async def converged() -> bool:
        return await service.members("VIP") == {"p0@example.com", "p1@example.com"}

    await eventually(converged)
    runs = await service.runs()
    assert runs[0]["trigger"] == "schedule"
    assert runs[0]["group_filter"] is None


async def test_trigger_starts_full_run(service: Service) -> None:
    await prepare(service)
    await service.start_daemon()

    async def first_run_done() -> bool:
        return await finished_runs(service, "schedule") == 1

    await eventually(first_run_done)

    code, stdout, _ = await service.command("trigger")

    async def triggered_run_done() -> bool:
        return await finished_runs(service, "notify") == 1

    waited_s = await eventually(triggered_run_done, timeout_s=5)
    assert code == 0
    assert "every account" in stdout
    assert waited_s < 5


async def test_sigterm_exits_zero(service: Service) -> None:
    await prepare(service)
    daemon = await service.start_daemon()

    async def first_run_done() -> bool:
        return await finished_runs(service, "schedule") == 1

    await eventually(first_run_done)

    code = await daemon.terminate()

    assert code == 0
    assert daemon.events("daemon_stopped")
    assert await service.fetch("SELECT * FROM groupsync.replicas") == []
    leases = await service.fetch("SELECT owner FROM groupsync.account_leases")
    assert [row["owner"] for row in leases] == [None]


async def test_sigterm_mid_run_records_run(service: Service) -> None:
    await prepare(service, people=40)
    await service.emulator.admin.set_faults(latency_ms=100)
    daemon = await service.start_daemon()

    async def run_started() -> bool:
        return bool(daemon.events("sync_run_started"))

    await eventually(run_started)

    code = await daemon.terminate()

    runs = await service.runs()
    assert code == 0
    assert len(runs) == 1
    assert runs[0]["status"] in ("interrupted", "succeeded")


async def test_listener_reconnects(service: Service) -> None:
    await prepare(service)
    daemon = await service.start_daemon()

    async def first_run_done() -> bool:
        return await finished_runs(service, "schedule") == 1

    await eventually(first_run_done)

    # What a PostgreSQL restart does to the daemon: every connection it has is closed.
    await service.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    async def caught_up() -> bool:
        return await finished_runs(service, "notify") == 1

    await eventually(caught_up, timeout_s=15)
    assert daemon.events("trigger_listener_disconnected")
    assert daemon.events("trigger_listener_reconnected")


async def test_run_without_token_exits_2(service: Service) -> None:
    del service.env["SQUARE_ACCESS_TOKEN"]

    code, _, stderr = await service.command("run")

    assert code == 2
    assert "SQUARE_ACCESS_TOKEN" in stderr
