"""Fixtures for the robustness tests: the engine's and the CLI's fixtures, shared as they are."""

from __future__ import annotations

from tests.cli.conftest import cli
from tests.engine.conftest import client, desired, migrated_url, pool, run_settings

__all__ = ["cli", "client", "desired", "migrated_url", "pool", "run_settings"]
