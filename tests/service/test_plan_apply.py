"""groupsync plan and apply: a saved plan is applied exactly, or not at all once it moved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groupsync.engine.report import RunReport
from groupsync.engine.run import RunSettings
from groupsync.planfile import PlanFileError, SavedPlan, read_plan
from groupsync.testing.emulator import EmulatorServer
from tests.cli import conftest as cli_fixtures
from tests.cli.conftest import Cli
from tests.engine import conftest as engine_fixtures
from tests.engine.conftest import Desired, members_in_square

# Fixtures shared with the engine and CLI tests.
migrated_url = engine_fixtures.migrated_url
pool = engine_fixtures.pool
client = engine_fixtures.client
desired = engine_fixtures.desired


cli = cli_fixtures.cli


@pytest.fixture
def plan_cli(cli: Cli) -> Cli:
    """The CLI with guards that let the planned removal through, as run_settings does."""
    cli.env["GROUPSYNC_GUARDS_MAX_REMOVAL_SHARE"] = "1"
    return cli


ADA = {"email_address": "ada@example.com"}
BOB = {"email_address": "bob@example.com"}
CYD = {"email_address": "cyd@example.com"}


@pytest.fixture
def run_settings() -> RunSettings:
    # A display limit of 1 shows that plan files hold every change, not the dry run's sample.
    return RunSettings(applied_change_window_s=0.0, max_removal_share=1.0, dry_run_plan_limit=1)


@pytest.fixture
async def linked(desired: Desired) -> Desired:
    """Groups vip (Ada, Bob, Cyd) and gold (Ada), synced, so every person has a customer."""
    await desired.manage("vip")
    await desired.manage("gold")
    await desired.add("vip", [ADA, BOB, CYD])
    await desired.add("gold", [ADA])
    report = await desired.sync()
    assert report.status == "succeeded"
    return desired


async def move_cyd_to_gold(desired: Desired) -> None:
    """Plan two adds to gold and one removal from vip, all of linked people."""
    await desired.clear("vip")
    await desired.add("vip", [ADA, BOB])
    await desired.add("gold", [BOB, CYD])


async def make_plan(desired: Desired, path: Path, **options: object) -> RunReport:
    return await desired.sync(dry_run=True, save_plan=path, **options)


async def apply_plan(desired: Desired, plan: SavedPlan) -> RunReport:
    return await desired.sync(
        expected_plan=plan,
        allow_mass_removal=plan.allow_mass_removal,
        only_groups=frozenset(plan.only_groups) if plan.only_groups is not None else None,
    )


async def test_plan_saves_every_change(linked: Desired, tmp_path: Path) -> None:
    await move_cyd_to_gold(linked)

    report = await make_plan(linked, tmp_path / "plan.json")
    plan = read_plan(tmp_path / "plan.json")

    assert report.status == "succeeded"
    assert len(report.plan) == 1
    assert sorted((change.kind, change.group_name) for change in plan.changes) == [
        ("add", "gold"),
        ("add", "gold"),
        ("remove", "vip"),
    ]


async def test_plan_records_groups_and_fingerprints(linked: Desired, tmp_path: Path) -> None:
    await move_cyd_to_gold(linked)

    await make_plan(linked, tmp_path / "plan.json")
    plan = read_plan(tmp_path / "plan.json")
    gold = next(group for group in plan.groups if group.name == "gold")

    assert plan.account == "default"
    assert [group.name for group in plan.groups] == ["gold", "vip"]
    assert gold.square_group_id == await linked.group_id("gold")
    assert (gold.adds, gold.removes) == (2, 0)
    assert len(gold.desired_sha256) == 64
    assert len(gold.snapshot_sha256) == 64


async def test_plan_file_has_format_and_version(linked: Desired, tmp_path: Path) -> None:
    await make_plan(linked, tmp_path / "plan.json")

    data = json.loads((tmp_path / "plan.json").read_text())

    assert data["format"] == "groupsync-plan"
    assert data["version"] == 1
    assert data["created_at"]


async def test_plan_rejected_while_people_need_customers(desired: Desired, tmp_path: Path) -> None:
    await desired.manage("vip")
    await desired.add("vip", [ADA])
    await desired.sync()
    await desired.add("vip", [BOB])

    report = await make_plan(desired, tmp_path / "plan.json")

    assert report.status == "failed"
    assert not (tmp_path / "plan.json").exists()
    assert any("run `groupsync sync` first" in error for error in report.errors)


async def test_plan_rejected_while_group_missing(desired: Desired, tmp_path: Path) -> None:
    await desired.manage("vip")

    report = await make_plan(desired, tmp_path / "plan.json")

    assert report.status == "failed"
    assert not (tmp_path / "plan.json").exists()
    assert any("do not exist in Square yet" in error for error in report.errors)


async def test_apply_sends_exactly_the_plan(
    linked: Desired, emulator: EmulatorServer, tmp_path: Path
) -> None:
    await move_cyd_to_gold(linked)
    await make_plan(linked, tmp_path / "plan.json")
    plan = read_plan(tmp_path / "plan.json")

    report = await apply_plan(linked, plan)

    gold_members = await members_in_square(emulator, await linked.group_id("gold"))
    vip_members = await members_in_square(emulator, await linked.group_id("vip"))
    planned_adds = {change.square_customer_id for change in plan.changes if change.kind == "add"}
    assert report.status == "succeeded"
    assert (report.counts.adds, report.counts.removes) == (2, 1)
    assert planned_adds <= gold_members
    assert len(gold_members) == 3
    assert len(vip_members) == 2


async def test_apply_rejects_moved_desired_state(
    linked: Desired, emulator: EmulatorServer, tmp_path: Path
) -> None:
    await move_cyd_to_gold(linked)
    await make_plan(linked, tmp_path / "plan.json")
    await linked.clear("vip")
    await linked.add("vip", [ADA, BOB, CYD])

    report = await apply_plan(linked, read_plan(tmp_path / "plan.json"))

    assert report.status == "failed"
    assert report.errors == [
        "plan rejected: group 'vip': the desired state moved since the plan was made"
    ]
    assert report.counts.adds == 0
    assert len(await members_in_square(emulator, await linked.group_id("gold"))) == 1


async def test_apply_rejects_moved_square(
    linked: Desired, emulator: EmulatorServer, tmp_path: Path
) -> None:
    await move_cyd_to_gold(linked)
    await make_plan(linked, tmp_path / "plan.json")
    gold_id = await linked.group_id("gold")
    vip_members = await members_in_square(emulator, await linked.group_id("vip"))
    outsider = sorted(vip_members - await members_in_square(emulator, gold_id))[0]
    await emulator.admin.add_member_by_hand(outsider, gold_id)

    report = await apply_plan(linked, read_plan(tmp_path / "plan.json"))

    assert report.status == "failed"
    assert report.errors == [
        "plan rejected: group 'gold': Square (the group's members) moved since the plan was made"
    ]
    assert report.counts.removes == 0


async def test_apply_rejects_new_managed_group(
    linked: Desired, emulator: EmulatorServer, tmp_path: Path
) -> None:
    await make_plan(linked, tmp_path / "plan.json")
    await emulator.admin.create_group_by_hand("silver")
    await linked.manage("silver")

    report = await apply_plan(linked, read_plan(tmp_path / "plan.json"))

    assert report.errors == ["plan rejected: group 'silver': managed now but not in the plan"]


async def test_apply_keeps_plan_group_filter(linked: Desired, tmp_path: Path) -> None:
    await move_cyd_to_gold(linked)
    await make_plan(linked, tmp_path / "plan.json", only_groups=frozenset({"gold"}))
    plan = read_plan(tmp_path / "plan.json")

    report = await apply_plan(linked, plan)

    assert plan.only_groups == ["gold"]
    assert report.status == "succeeded"
    assert (report.counts.adds, report.counts.removes) == (2, 0)


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


async def test_read_plan_rejects_edited_changes(linked: Desired, tmp_path: Path) -> None:
    await move_cyd_to_gold(linked)
    await make_plan(linked, tmp_path / "plan.json")
    data = json.loads((tmp_path / "plan.json").read_text())
    data["changes"] = data["changes"][1:]

    with pytest.raises(PlanFileError, match="was edited"):
        read_plan(write_json(tmp_path / "edited.json", data))


def test_read_plan_rejects_other_version(tmp_path: Path) -> None:
    path = write_json(tmp_path / "plan.json", {"format": "groupsync-plan", "version": 99})

    with pytest.raises(PlanFileError, match="format version 99"):
        read_plan(path)


def test_read_plan_rejects_other_json(tmp_path: Path) -> None:
    path = write_json(tmp_path / "plan.json", {"changes": []})

    with pytest.raises(PlanFileError, match="not a groupsync plan file"):
        read_plan(path)


def test_read_plan_rejects_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="not found"):
        read_plan(tmp_path / "absent.json")


async def test_cli_plan_then_apply(linked: Desired, plan_cli: Cli, tmp_path: Path) -> None:
    await move_cyd_to_gold(linked)
    path = str(tmp_path / "plan.json")

    planned = await plan_cli.run("plan", "--out", path)
    applied = await plan_cli.run("apply", path, "--json")

    assert planned.exit_code == 0
    assert "groupsync apply" in planned.stderr
    assert applied.exit_code == 0
    assert json.loads(applied.stdout)["counts"]["adds"] == 2


async def test_cli_apply_moved_plan_fails(linked: Desired, plan_cli: Cli, tmp_path: Path) -> None:
    await move_cyd_to_gold(linked)
    path = str(tmp_path / "plan.json")
    await plan_cli.run("plan", "--out", path)
    await linked.clear("gold")
    await linked.add("gold", [ADA, BOB])

    result = await plan_cli.run("apply", path)

    assert result.exit_code == 1
    assert "error: plan rejected: group 'gold': the desired state moved" in result.stdout
    assert "was not applied" in result.stderr


async def test_cli_apply_other_account_invalid(
    linked: Desired,
    plan_cli: Cli,
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "plan.json")
    await plan_cli.run("plan", "--out", path)

    result = await plan_cli.run("apply", path, "--account", "shop-2")

    assert result.exit_code == 2
    assert "is for account 'default', not 'shop-2'" in result.stderr
