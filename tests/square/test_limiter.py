"""RateLimiter on a fake clock: rate, burst, in-flight cap, and adapting to 429 responses."""

from __future__ import annotations

import asyncio
import math

import pytest
from square_fake_clock import FakeClock

from groupsync.square.limiter import RateLimiter


def make_limiter(clock: FakeClock, **settings: object) -> RateLimiter:
    # The cases below use round adaptation settings that are easy to reckon with.
    options: dict[str, object] = {
        "rate_per_s": 10.0,
        "max_in_flight": 100,
        "rate_decrease_factor": 0.7,
        "rate_increase_per_s": 0.1,
        "decrease_interval_s": 1.0,
    }
    options.update(settings)
    return RateLimiter(clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


async def start_times(limiter: RateLimiter, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        async with limiter.slot():
            times.append(clock())
    return times


async def test_rate_respected_over_window(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10.0)

    times = await start_times(limiter, clock, 21)

    assert times[-1] - times[0] == pytest.approx(2.0)
    assert sum(1 for t in times if t < times[0] + 1.0) == 10


async def test_first_request_starts_at_once(clock: FakeClock) -> None:
    limiter = make_limiter(clock)
    start = clock()

    times = await start_times(limiter, clock, 1)

    assert times == [start]


async def test_burst_after_idle(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10.0, burst=5)
    await start_times(limiter, clock, 5)
    clock.now_s += 10.0
    idle_end = clock()

    times = await start_times(limiter, clock, 6)

    assert times[:5] == [idle_end] * 5
    assert times[5] == pytest.approx(idle_end + 0.1)


async def test_in_flight_capped(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=None, max_in_flight=2)
    release = asyncio.Event()
    entered = 0

    async def hold_slot() -> None:
        nonlocal entered
        async with limiter.slot():
            entered += 1
            await release.wait()

    tasks = [asyncio.create_task(hold_slot()) for _ in range(5)]
    await asyncio.sleep(0.01)

    assert entered == 2
    assert limiter.in_flight == 2

    release.set()
    await asyncio.gather(*tasks)

    assert entered == 5
    assert limiter.in_flight == 0


async def test_unlimited_rate_never_waits(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=None)

    times = await start_times(limiter, clock, 50)

    assert set(times) == {times[0]}
    assert limiter.current_rate_per_s == math.inf


def test_rate_limited_lowers_rate(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10.0)

    limiter.on_rate_limited(None)

    assert limiter.current_rate_per_s == pytest.approx(7.0)


def test_simultaneous_429s_lower_once(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10.0)

    for _ in range(5):
        limiter.on_rate_limited(None)

    assert limiter.current_rate_per_s == pytest.approx(7.0)


def test_rate_floor_at_min(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10.0, min_rate_per_s=2.0)

    for _ in range(20):
        limiter.on_rate_limited(None)
        clock.now_s += 5.0

    assert limiter.current_rate_per_s == 2.0


async def test_lowered_rate_applies(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10.0)
    limiter.on_rate_limited(None)

    times = await start_times(limiter, clock, 8)

    assert times[-1] - times[0] == pytest.approx(1.0)


async def test_retry_after_pauses_sends(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=None)
    limited_at = clock()

    limiter.on_rate_limited(2.5)
    times = await start_times(limiter, clock, 1)

    assert times[0] >= limited_at + 2.5


async def test_pause_holds_every_waiter(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=100.0)
    limited_at = clock()
    limiter.on_rate_limited(1.0)

    async def start() -> float:
        async with limiter.slot():
            return clock()

    times = await asyncio.gather(*(start() for _ in range(4)))

    assert min(times) >= limited_at + 1.0


async def test_retry_after_before_cut_pauses_nobody(
    clock: FakeClock,
) -> None:
    limiter = make_limiter(clock, rate_per_s=100.0)
    [sent_at] = await start_times(limiter, clock, 1)
    [other_sent_at] = await start_times(limiter, clock, 1)
    limiter.on_rate_limited(1.0, sent_at=sent_at)
    limited_at = clock()

    # Sent before the cut that the first 429 made, so the cut handles it without a pause.
    limiter.on_rate_limited(1.0, sent_at=other_sent_at)
    times = await start_times(limiter, clock, 1)

    assert limiter.paused_until < limited_at
    assert times[0] < limited_at + 0.5


async def test_retry_after_of_late_probe_pauses_nobody(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=100.0)
    [sent_at] = await start_times(limiter, clock, 1)
    limiter.on_rate_limited(1.0, sent_at=sent_at)
    clock.now_s += 30.0
    [probe_sent_at] = await start_times(limiter, clock, 1)

    limiter.on_rate_limited(1.0, sent_at=probe_sent_at)

    assert limiter.paused_until < clock()


async def test_retry_after_soon_after_cut_pauses_all(
    clock: FakeClock,
) -> None:
    limiter = make_limiter(clock, rate_per_s=100.0)
    [sent_at] = await start_times(limiter, clock, 1)
    limiter.on_rate_limited(1.0, sent_at=sent_at)
    clock.now_s += 0.2
    [after_cut_sent_at] = await start_times(limiter, clock, 1)
    limited_at = clock()

    limiter.on_rate_limited(2.5, sent_at=after_cut_sent_at)
    times = await start_times(limiter, clock, 1)

    assert times[0] >= limited_at + 2.5


def test_success_recovers_rate(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10.0, rate_increase_per_s=0.5)
    limiter.on_rate_limited(None)

    for _ in range(4):
        limiter.on_success()

    assert limiter.current_rate_per_s == pytest.approx(9.0)


def test_success_stops_at_ceiling(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10.0)
    limiter.on_rate_limited(None)

    for _ in range(1000):
        limiter.on_success()

    assert limiter.current_rate_per_s == 10.0


async def test_uncapped_limiter_cuts_measured_rate(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=None)
    for index in range(20):
        clock.now_s += 0.05 if index else 0.0
        await start_times(limiter, clock, 1)

    limiter.on_rate_limited(None)

    # 20 sends over the 0.95 s since the first one, cut by the default factor of 0.7.
    assert limiter.current_rate_per_s == pytest.approx(20 / 0.95 * 0.7)


async def test_high_ceiling_cut_starts_from_admitted_rate(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10_000.0)
    for _ in range(100):
        async with limiter.slot():
            limiter.on_success()
        clock.now_s += 0.02

    limiter.on_rate_limited(None)

    assert limiter.current_rate_per_s == pytest.approx(35.0, rel=0.03)


async def test_first_cut_measures_time_since_first_send(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=None)
    for index in range(50):
        clock.now_s += 0.004 if index else 0.0
        await start_times(limiter, clock, 1)

    limiter.on_rate_limited(None)

    # 50 sends within 0.196 s, measured over that time rather than a whole window.
    assert limiter.current_rate_per_s == pytest.approx(50 / 0.196 * 0.7)


async def test_rate_settles_under_hidden_limit(clock: FakeClock) -> None:
    # A peer that returns 429 whenever more than 20 requests started in the last second.
    hidden_limit = 20
    limiter = make_limiter(clock, rate_per_s=50.0, burst=1)
    starts: list[float] = []

    for _ in range(2000):
        async with limiter.slot():
            now = clock()
            starts.append(now)
            recent = [t for t in starts if t > now - 1.0]
        if len(recent) > hidden_limit:
            limiter.on_rate_limited(None)
        else:
            limiter.on_success()

    last_10_s = [t for t in starts if t > clock() - 10.0]
    achieved_per_s = len(last_10_s) / 10.0
    assert achieved_per_s <= hidden_limit * 1.1
    assert achieved_per_s >= hidden_limit * 0.7


class BucketPeer:
    """A peer that admits requests from a token bucket, as the emulator and Square do."""

    def __init__(self, clock: FakeClock, *, limit_per_s: float, burst: int = 10) -> None:
        self.clock = clock
        self.limit_per_s = limit_per_s
        self.burst = burst
        self.tokens = float(burst)
        self.refilled_at = clock()
        self.admitted: list[float] = []
        self.refused = 0

    def admit(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled_at) * self.limit_per_s)
        self.refilled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.admitted.append(now)
            return True
        self.refused += 1
        return False


async def drive(limiter: RateLimiter, peer: BucketPeer, *, duration_s: float) -> None:
    end = peer.clock() + duration_s
    while peer.clock() < end:
        async with limiter.slot():
            admitted = peer.admit()
        if admitted:
            limiter.on_success()
        else:
            limiter.on_rate_limited(None)


def tuned_limiter(clock: FakeClock, rate_per_s: float) -> RateLimiter:
    """A limiter with the default adaptation settings, which groupsync runs with."""
    return RateLimiter(rate_per_s=rate_per_s, max_in_flight=100, clock=clock, sleep=clock.sleep)


@pytest.mark.parametrize("limit_per_s", [50.0, 200.0])
async def test_tuned_rate_settles_near_unknown_limit(clock: FakeClock, limit_per_s: float) -> None:
    limiter = tuned_limiter(clock, 100_000.0)
    peer = BucketPeer(clock, limit_per_s=limit_per_s)

    await drive(limiter, peer, duration_s=120.0)

    last_60_s = [moment for moment in peer.admitted if moment > clock() - 60.0]
    assert len(last_60_s) / 60.0 >= 0.9 * limit_per_s
    assert peer.refused <= 0.02 * (len(peer.admitted) + peer.refused)


async def test_tuned_rate_at_known_limit_is_never_refused(clock: FakeClock) -> None:
    limiter = tuned_limiter(clock, 50.0)
    peer = BucketPeer(clock, limit_per_s=50.0)

    await drive(limiter, peer, duration_s=60.0)

    assert peer.refused == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"rate_per_s": 0.0},
        {"max_in_flight": 0},
        {"burst": 0},
        {"min_rate_per_s": 0.0},
        {"rate_decrease_factor": 1.0},
    ],
)
def test_invalid_settings_rejected(clock: FakeClock, settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_limiter(clock, **settings)


async def admit_at(
    limiter: RateLimiter, clock: FakeClock, *, rate_per_s: float, count: int
) -> None:
    for _ in range(count):
        async with limiter.slot():
            limiter.on_success()
        clock.now_s += 1.0 / rate_per_s


async def test_deep_cut_starts_slow_start(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10_000.0)
    await admit_at(limiter, clock, rate_per_s=50.0, count=50)

    limiter.on_rate_limited(None)

    assert limiter.current_rate_per_s < 5_000.0
    assert limiter.in_slow_start


def test_shallow_cut_keeps_additive_probe(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10.0)

    limiter.on_rate_limited(None)

    assert not limiter.in_slow_start


async def test_slow_start_climbs_by_larger_step(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10_000.0, slow_start_increase_per_s=0.5)
    await admit_at(limiter, clock, rate_per_s=50.0, count=50)
    limiter.on_rate_limited(None)
    cut_to = limiter.current_rate_per_s

    for _ in range(4):
        limiter.on_success()

    assert limiter.current_rate_per_s == pytest.approx(cut_to + 2.0)


async def test_slow_start_ends_at_next_cut(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=10_000.0, slow_start_increase_per_s=0.5)
    await admit_at(limiter, clock, rate_per_s=50.0, count=50)
    limiter.on_rate_limited(None)
    for _ in range(200):
        async with limiter.slot():
            limiter.on_success()
    allowed_per_s = limiter.current_rate_per_s

    limiter.on_rate_limited(None)

    # The cut starts from the sends of the last 0.25 s, close to the allowed rate at the end
    # of the climb, and not from the 1 s window that still contains the 50/s before it.
    assert not limiter.in_slow_start
    assert limiter.current_rate_per_s <= 0.7 * allowed_per_s
    assert limiter.current_rate_per_s >= 0.6 * allowed_per_s


async def test_few_sends_do_not_bound_cut(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=100.0)
    for index in range(10):
        async with limiter.slot():
            if index < 2:
                limiter.on_success()
        clock.now_s += 0.1

    limiter.on_rate_limited(None)

    # 9 sends in the last second are too few to read 2 successes as a rate of 2/s, so the
    # cut starts from the send rate of 9/s.
    assert limiter.current_rate_per_s == pytest.approx(9 * 0.7)


async def test_late_wake_keeps_rate(clock: FakeClock) -> None:
    limiter = make_limiter(clock, rate_per_s=200.0, burst=1)
    await start_times(limiter, clock, 1)
    # The waiter for the next token wakes 2 ms after the 5 ms it asked for.
    clock.now_s += 0.007
    woke_at = clock()

    times = await start_times(limiter, clock, 2)

    assert times[0] == woke_at
    assert times[1] == pytest.approx(woke_at + 0.003)


async def drive_with_quiet_start(
    limiter: RateLimiter, peer: BucketPeer, *, quiet_s: float, duration_s: float
) -> None:
    """Send at a quarter of the peer's limit for ``quiet_s``, then at full demand.

    The quiet part stands for a paged read before the writes of a run: it leaves slow
    traffic in the window that the limiter measures at its first 429.
    """
    quiet_end = peer.clock() + quiet_s
    while peer.clock() < quiet_end:
        async with limiter.slot():
            admitted = peer.admit()
        if admitted:
            limiter.on_success()
        await peer.clock.sleep(4.0 / peer.limit_per_s)
    await drive(limiter, peer, duration_s=duration_s)


def admitted_per_s(peer: BucketPeer, *, last_s: float) -> float:
    return sum(1 for moment in peer.admitted if moment > peer.clock() - last_s) / last_s


async def test_unknown_limit_after_quiet_start_reached(clock: FakeClock) -> None:
    limiter = tuned_limiter(clock, 100_000.0)
    peer = BucketPeer(clock, limit_per_s=200.0)

    await drive_with_quiet_start(limiter, peer, quiet_s=5.0, duration_s=60.0)

    # The steady part: all but the first 10 s of full demand.
    assert admitted_per_s(peer, last_s=50.0) >= 0.9 * 200.0
    assert peer.refused <= 0.02 * (len(peer.admitted) + peer.refused)


async def test_unknown_limit_after_quiet_start_climbs_fast(clock: FakeClock) -> None:
    limiter = tuned_limiter(clock, 100_000.0)
    peer = BucketPeer(clock, limit_per_s=200.0)

    await drive_with_quiet_start(limiter, peer, quiet_s=5.0, duration_s=10.0)

    assert admitted_per_s(peer, last_s=5.0) >= 0.9 * 200.0


async def test_unknown_limit_that_drops_followed(clock: FakeClock) -> None:
    limiter = tuned_limiter(clock, 100_000.0)
    peer = BucketPeer(clock, limit_per_s=200.0)
    await drive(limiter, peer, duration_s=60.0)
    sent_before_drop = len(peer.admitted) + peer.refused
    refused_before_drop = peer.refused

    peer.limit_per_s = 100.0
    await drive(limiter, peer, duration_s=60.0)

    sent_after_drop = len(peer.admitted) + peer.refused - sent_before_drop
    assert admitted_per_s(peer, last_s=50.0) >= 0.9 * 100.0
    assert admitted_per_s(peer, last_s=50.0) <= 100.0 * 1.01
    assert peer.refused - refused_before_drop <= 0.02 * sent_after_drop
