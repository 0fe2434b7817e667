"""The client-side rate limiter: an adaptive token bucket plus a cap on requests in flight.

Square enforces a rate limit but does not publish it. So the limiter starts at
a configured ceiling and adapts by additive increase and multiplicative
decrease. Every 429 response cuts the rate by ``rate_decrease_factor``, and
every success adds ``rate_increase_per_s`` back, up to the ceiling. The
achieved rate then settles just under Square's real limit.

A 429's ``Retry-After`` always delays the retry of the refused request (the retry policy
waits it). It pauses every other send only when the cut has not helped: when the refused
request was sent shortly after a cut, or when its send time is unknown. The cut alone
handles a 429 for a request sent before the latest cut, and the 429 of a probe that
crossed the limit long after it. Pausing everyone for those would cost a second of
sends (with the emulator's ``Retry-After: 1``) at every probe.

The cut starts from the lowest of the allowed rate, the measured send rate and the
measured rate of successes. Square admits requests at its limit, so successes measure the
limit even when the ceiling is far above it, and one cut lands near the real limit instead
of a long series of cuts from the ceiling. Because each success adds a constant step, the
rate grows by ``rate_increase_per_s`` times itself per second while it probes upward.

The measured rates mislead when the window still contains slower traffic, such as a paged
read that ran just before a burst of writes. Then the cut lands far below the real limit,
and a 2%/s probe would take a minute to climb back. So a deep cut (to less than half of
the rate before it) starts a slow start, as in TCP: successes add the larger
``slow_start_increase_per_s`` step until the next 429 that may cut. That 429 comes when
the allowed rate crosses the limit, so its cut starts from the allowed rate, bounded by
the sends of the last ``RAMP_MEASURE_WINDOW_S``, and not from a window diluted by the climb.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

# Sends and successes within this window count toward the measured rates, which bound
# the starting point of a decrease.
MEASURE_WINDOW_S = 1.0

# The default adaptation: cut by 10% on a 429, at most every half second, and probe upward
# by 2% per second. Against an emulated limit of 50
# and 200 requests/s this settles at 95-99% of the limit with under 2% of requests answered
# 429 (tests/square/test_limiter.py checks it on a fake clock).
TUNED_DECREASE_FACTOR = 0.9
TUNED_INCREASE_PER_S = 0.02
TUNED_DECREASE_INTERVAL_S = 0.5

# The probe step during a slow start: the rate grows by about half of itself per second,
# so a cut to a quarter of the limit climbs back in about 3 s.
TUNED_SLOW_START_INCREASE_PER_S = 0.5

# A cut to less than this share of the rate before it is deep, and starts a slow start.
DEEP_CUT_SHARE = 0.5

# The success rate bounds a cut only when the window contains at least this many sends, so a
# few failures in an idle or low-traffic window do not set the rate. The send rate always
# bounds it, because the limiter never needs to allow more than it sent.
MIN_MEASURED_SENDS = 20

# The window for the send rate that bounds the cut ending a slow start. It is short because
# the rate climbs fast during a slow start, and a longer window would average in the climb.
RAMP_MEASURE_WINDOW_S = 0.25

# The bucket keeps at least this many seconds' worth of tokens, whatever ``burst`` says.
# asyncio wakes a sleeper up to a millisecond late (the selector rounds timeouts up to whole
# milliseconds) and later still when other callbacks run first. With room for one token
# only, that lateness is lost on every send: at 200 requests/s, about 10% of the rate.
LATE_WAKE_ALLOWANCE_S = 0.02

# A 429 for a request sent less than this long after a cut shows that the cut was not
# enough, and its Retry-After then pauses every send.
AFTER_CUT_WINDOW_S = 1.0

# A measurement spans at least this long, so the first few responses do not read as a
# huge rate.
MIN_MEASURE_SPAN_S = 0.1

# Refilling by elapsed time x rate can land a rounding error short of a whole token.
# Counting that as a whole token keeps a waiter from sleeping for ever-smaller gaps.
TOKEN_TOLERANCE = 1e-9

# The shortest wait for a token. At a high rate the exact wait can be smaller than the
# clock's resolution, and a wait that does not move the clock would repeat for ever.
MIN_TOKEN_WAIT_S = 1e-6


class RateLimiter:
    """Admit requests at no more than ``current_rate_per_s`` and ``max_in_flight`` at once.

    ``rate_per_s`` is the ceiling (None or ``math.inf``: no rate cap, only the
    in-flight cap). ``burst`` is how many tokens may accumulate while idle, raised to
    ``LATE_WAKE_ALLOWANCE_S`` worth of the current rate when that is more.
    ``clock`` and ``sleep`` are injectable so tests can run on a fake clock.
    """

    def __init__(
        self,
        *,
        rate_per_s: float | None,
        max_in_flight: int,
        burst: int = 1,
        min_rate_per_s: float = 1.0,
        rate_increase_per_s: float = TUNED_INCREASE_PER_S,
        slow_start_increase_per_s: float = TUNED_SLOW_START_INCREASE_PER_S,
        rate_decrease_factor: float = TUNED_DECREASE_FACTOR,
        decrease_interval_s: float = TUNED_DECREASE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        ceiling = math.inf if rate_per_s is None else float(rate_per_s)
        _check_settings(ceiling, max_in_flight, burst, min_rate_per_s, rate_decrease_factor)

        self._ceiling_per_s = ceiling
        self._min_rate_per_s = min(min_rate_per_s, ceiling)
        self._rate_per_s = ceiling
        self._rate_increase_per_s = rate_increase_per_s
        self._slow_start_increase_per_s = slow_start_increase_per_s
        self._in_slow_start = False
        self._rate_decrease_factor = rate_decrease_factor
        self._decrease_interval_s = decrease_interval_s
        self._burst = burst
        self._max_in_flight = max_in_flight
        self._clock = clock
        self._sleep = sleep

        self._tokens = float(burst)
        self._refilled_at = clock()
        self._paused_until = -math.inf
        self._last_decrease_at = -math.inf
        self._recent_sends: deque[float] = deque()
        self._recent_successes: deque[float] = deque()
        self._first_send_at: float | None = None
        self._in_flight = 0
        self._slots = asyncio.Semaphore(max_in_flight)
        self._token_lock = asyncio.Lock()

    @property
    def current_rate_per_s(self) -> float:
        """The rate now allowed, in requests per second (``math.inf`` when uncapped)."""
        return self._rate_per_s

    @property
    def in_slow_start(self) -> bool:
        """Whether the rate climbs fast after a deep cut, until the next 429 that may cut."""
        return self._in_slow_start

    @property
    def in_flight(self) -> int:
        """Requests holding a slot right now."""
        return self._in_flight

    @property
    def paused_until(self) -> float:
        """The clock time before which no new request starts (in the past when not paused)."""
        return self._paused_until

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Wait for a free in-flight slot and a token, and hold the slot for the block.

        The block receives the clock time at which the request was let go, to pass to
        :meth:`on_rate_limited` as ``sent_at``.
        """
        async with self._slots:
            sent_at = await self._take_token()
            self._in_flight += 1
            try:
                yield sent_at
            finally:
                self._in_flight -= 1

    def on_rate_limited(self, retry_after_s: float | None, *, sent_at: float | None = None) -> None:
        """Record a 429 for a request let go at ``sent_at``: lower the rate and, when the
        cut has not helped, pause new sends for ``retry_after_s``.

        Several requests in flight often get 429 together, so the rate is cut
        at most once per ``decrease_interval_s``. The pause lasts until the latest
        Retry-After that applies ends.
        """
        now = self._clock()
        self._refill(now)
        self._tokens = 0.0

        if retry_after_s is not None and retry_after_s > 0 and self._cut_did_not_help(sent_at):
            self._paused_until = max(self._paused_until, now + retry_after_s)

        if now - self._last_decrease_at < self._decrease_interval_s:
            return
        self._last_decrease_at = now
        rate_before_per_s = self._rate_per_s
        if self._in_slow_start:
            starting_rate = min(rate_before_per_s, self._ramp_send_rate_per_s(now))
        else:
            starting_rate = self._measured_starting_rate_per_s(now)
        self._rate_per_s = max(self._min_rate_per_s, starting_rate * self._rate_decrease_factor)
        self._in_slow_start = self._rate_per_s < DEEP_CUT_SHARE * rate_before_per_s

    def _cut_did_not_help(self, sent_at: float | None) -> bool:
        if sent_at is None:
            return True
        since_cut_s = sent_at - self._last_decrease_at
        return 0.0 < since_cut_s < AFTER_CUT_WINDOW_S

    def on_success(self) -> None:
        """Record a successful response: raise the rate by one step toward the ceiling."""
        now = self._clock()
        _record(self._recent_successes, now)
        if math.isinf(self._rate_per_s):
            return
        self._refill(now)
        step = self._slow_start_increase_per_s if self._in_slow_start else self._rate_increase_per_s
        self._rate_per_s = min(self._ceiling_per_s, self._rate_per_s + step)

    def _measured_starting_rate_per_s(self, now: float) -> float:
        starting_rate = min(self._rate_per_s, self._measured_rate_per_s(now, self._recent_sends))
        sends_in_window = sum(1 for moment in self._recent_sends if moment > now - MEASURE_WINDOW_S)
        if self._recent_successes and sends_in_window >= MIN_MEASURED_SENDS:
            admitted_per_s = self._measured_rate_per_s(now, self._recent_successes)
            starting_rate = min(starting_rate, admitted_per_s)
        return starting_rate

    def _ramp_send_rate_per_s(self, now: float) -> float:
        recent = sum(1 for moment in self._recent_sends if moment > now - RAMP_MEASURE_WINDOW_S)
        return max(self._min_rate_per_s, recent / RAMP_MEASURE_WINDOW_S)

    async def _take_token(self) -> float:
        # The lock makes waiters take tokens one at a time, in arrival order.
        async with self._token_lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue

                self._refill(now)
                if math.isinf(self._rate_per_s) or self._tokens >= 1.0 - TOKEN_TOLERANCE:
                    break
                await self._sleep(max(MIN_TOKEN_WAIT_S, (1.0 - self._tokens) / self._rate_per_s))

            if not math.isinf(self._rate_per_s):
                self._tokens = max(0.0, self._tokens - 1.0)
            if self._first_send_at is None:
                self._first_send_at = now
            _record(self._recent_sends, now)
            return now

    def _refill(self, now: float) -> None:
        # No tokens accrue during a pause, so the first send after it starts an empty bucket.
        start = max(self._refilled_at, self._paused_until)
        if now > start and not math.isinf(self._rate_per_s):
            capacity = max(float(self._burst), LATE_WAKE_ALLOWANCE_S * self._rate_per_s)
            self._tokens = min(capacity, self._tokens + (now - start) * self._rate_per_s)
        self._refilled_at = max(self._refilled_at, now)

    def _measured_rate_per_s(self, now: float, times: deque[float]) -> float:
        """Events per second in the window; before a full window, over the time since the
        first send, so that the first measurement is not diluted by time never used."""
        if self._first_send_at is None:
            return math.inf
        recent = sum(1 for moment in times if moment > now - MEASURE_WINDOW_S)
        span_s = min(MEASURE_WINDOW_S, max(MIN_MEASURE_SPAN_S, now - self._first_send_at))
        return max(self._min_rate_per_s, recent / span_s)


def _record(times: deque[float], now: float) -> None:
    times.append(now)
    while times and times[0] <= now - MEASURE_WINDOW_S:
        times.popleft()


def _check_settings(
    ceiling_per_s: float,
    max_in_flight: int,
    burst: int,
    min_rate_per_s: float,
    rate_decrease_factor: float,
) -> None:
    if not ceiling_per_s > 0:
        raise ValueError(f"rate_per_s must be positive or None, got {ceiling_per_s}")
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst}")
    if not min_rate_per_s > 0:
        raise ValueError(f"min_rate_per_s must be positive, got {min_rate_per_s}")
    if not 0 < rate_decrease_factor < 1:
        raise ValueError(
            f"rate_decrease_factor must be between 0 and 1, got {rate_decrease_factor}"
        )
