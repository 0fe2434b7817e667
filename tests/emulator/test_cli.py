"""``groupsync emulator --help``: every option is documented, numbers with their unit."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from groupsync.emulator.command import add_arguments

# The unit each numeric option's help text must name.
UNITS = {
    "--port": "port",
    "--latency-ms": "milliseconds",
    "--jitter-ms": "milliseconds",
    "--rate-limit-per-s": "per second",
    "--rate-burst": "requests",
    "--retry-after-s": "seconds",
    "--error-rate": "0 to 1",
    "--html-error-rate": "0 to 1",
    "--drop-rate": "0 to 1",
    "--hang-rate": "0 to 1",
    "--burst-period-s": "seconds",
    "--burst-on-s": "seconds",
    "--consistency-lag-s": "seconds",
    "--generate-customers": "count",
    "--generate-groups": "count",
    "--memberships-per-customer": "count",
}
# Options that are numbers without a unit.
UNITLESS = {"--seed"}
# Options every run of the emulator needs; the settings fields they set are in the contract.
REQUIRED = [
    "--host",
    "--port",
    "--token",
    "--latency-ms",
    "--jitter-ms",
    "--rate-burst",
    "--retry-after-s",
    "--error-rate",
    "--html-error-rate",
    "--drop-rate",
    "--hang-rate",
    "--consistency-lag-s",
    "--page-mode",
    "--burst-period-s",
    "--burst-on-s",
    "--seed",
    "--square-version-default",
]


def _help_text() -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "groupsync", "emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def _option_help(help_text: str) -> dict[str, str]:
    """Map each option in argparse's help output to its help text, on one line."""
    entries: dict[str, str] = {}
    current: str | None = None
    for line in help_text.splitlines():
        match = re.match(r"^  (--[a-z0-9-]+)(?:[ ,]\S*)?\s*(.*)$", line)
        if match:
            current = match[1]
            entries[current] = match[2].strip()
        elif current is not None and line.startswith("      ") and line.strip():
            entries[current] = f"{entries[current]} {line.strip()}".strip()
        else:
            current = None if not line.startswith(" ") else current
    return entries


def _parser_options() -> list[argparse.Action]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return [action for action in parser._actions if action.option_strings != ["-h", "--help"]]


@pytest.fixture(scope="module")
def option_help() -> dict[str, str]:
    return _option_help(_help_text())


def test_help_lists_every_option(option_help: dict[str, str]) -> None:
    listed = set(option_help)

    for action in _parser_options():
        assert action.option_strings[-1] in listed


@pytest.mark.parametrize("option", REQUIRED)
def test_help_lists_contract_option(option_help: dict[str, str], option: str) -> None:
    assert option in option_help


def test_every_option_has_help(option_help: dict[str, str]) -> None:
    for option, text in option_help.items():
        assert text, f"{option} has no help text"


@pytest.mark.parametrize(("option", "unit"), sorted(UNITS.items()))
def test_numeric_option_names_unit(option_help: dict[str, str], option: str, unit: str) -> None:
    assert unit in option_help[option]


def test_every_numeric_option_has_known_unit() -> None:
    # Every option converted from text, other than a path, is a number here.
    numeric = [
        action.option_strings[-1]
        for action in _parser_options()
        if action.type is not None and action.type is not Path
    ]

    for option in numeric:
        assert option in UNITS or option in UNITLESS, f"{option} has no documented unit"


@pytest.mark.parametrize("option", sorted(UNITS))
def test_numeric_option_shows_default(option_help: dict[str, str], option: str) -> None:
    assert "default" in option_help[option]
