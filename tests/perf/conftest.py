"""The engine tests' fixtures (a migrated database, a pool, a client on the emulator and
the desired-state helper), shared with the call-count tests."""

from tests.engine.conftest import client, desired, migrated_url, pool

__all__ = ["client", "desired", "migrated_url", "pool"]
