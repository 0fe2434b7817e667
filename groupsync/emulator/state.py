"""The whole emulator's mutable state: sellers, tokens, stats, traffic shaping and cursors."""

from __future__ import annotations

import hashlib
import random
import secrets

from aiohttp import web

from groupsync.emulator.cursor import CursorCodec
from groupsync.emulator.settings import EmulatorSettings, TokenGrant
from groupsync.emulator.stats import RequestStats
from groupsync.emulator.store import SellerStore
from groupsync.emulator.traffic import TrafficShaper


class EmulatorState:
    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.sellers: dict[str, SellerStore] = {}
        self.tokens: dict[str, TokenGrant] = {grant.token: grant for grant in settings.tokens}
        self.stats = RequestStats()
        self.traffic = TrafficShaper(settings, rng=random.Random(self.rng.random()))
        self.cursors = CursorCodec(_cursor_secret(settings.seed))

    def seller(self, name: str) -> SellerStore:
        store = self.sellers.get(name)
        if store is None:
            store = self.sellers[name] = SellerStore(
                name, rng=self.rng, lag_s=self._consistency_lag_s
            )
        return store

    def add_token(self, grant: TokenGrant) -> None:
        self.tokens[grant.token] = grant
        self.settings.tokens = list(self.tokens.values())

    def reset(self) -> None:
        """Forget every seller's data, the stats, the fault rules and the rate-limit buckets."""
        self.sellers.clear()
        self.stats.reset()
        self.traffic.rules.clear()
        self.traffic.reset_buckets()

    def _consistency_lag_s(self) -> float:
        return self.settings.consistency_lag_s


def _cursor_secret(seed: int | None) -> bytes:
    # A seeded emulator makes the same cursors on every run, which keeps recorded tests stable.
    if seed is None:
        return secrets.token_bytes(32)
    return hashlib.sha256(f"groupsync-emulator-cursor-{seed}".encode()).digest()


STATE_KEY = web.AppKey("emulator_state", EmulatorState)
# Set by the request pipeline for each /v2 handler: the caller's seller and Square-Version.
STORE_KEY = web.RequestKey("emulator_store", SellerStore)
SQUARE_VERSION_KEY = web.RequestKey("emulator_square_version", str)
