"""RateLimiter on a fake clock: rate, burst, in-flight cap, and adapting to 429 responses."""

from __future__ import annotations

import asyncio
import math

import pytest
from square_fake_clock import FakeClock

from groupsync.square.limiter import RateLimiter


def make_limiter(clock: FakeClock, **settings: object) -> RateLimiter:
    options: dict[str, object] = {"rate_per_s": 10.0, "max_in_flight": 100}
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
    await start_times(limiter, clock, 20)

    limiter.on_rate_limited(None)

    assert limiter.current_rate_per_s == pytest.approx(14.0)


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
