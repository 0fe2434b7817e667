"""Progress reporting: sync_progress lines and the terminal progress bar."""

from __future__ import annotations

import io

import structlog

from groupsync.engine.progress import Progress, ProgressUpdate
from groupsync.progress_bar import ProgressBar, render


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def test_progress_logs_rate_and_eta_each_interval() -> None:
    clock = FakeClock()
    progress = Progress(phase="apply_add", total=100, interval_s=5.0, clock=clock)

    with structlog.testing.capture_logs() as logs:
        clock.now_s = 1.0
        progress.advance(10)
        clock.now_s = 5.0
        progress.advance(40)

    assert len(logs) == 1
    assert logs[0]["event"] == "sync_progress"
    assert logs[0]["done"] == 50
    assert logs[0]["total"] == 100
    assert logs[0]["rate_per_s"] == 10.0
    assert logs[0]["eta_s"] == 5.0


def test_progress_tells_listener_every_advance() -> None:
    updates: list[ProgressUpdate] = []
    progress = Progress(phase="apply_remove", total=3, listener=updates.append)

    progress.advance()
    progress.advance(2)

    assert [update.done for update in updates] == [1, 3]


def test_bar_renders_share_rate_and_eta() -> None:
    update = ProgressUpdate(phase="apply_add", done=50, total=100, rate_per_s=12.5, eta_s=4.0)

    text = render(update)

    assert text.startswith("apply_add [" + "#" * 15 + " " * 15 + "]")
    assert "50/100" in text
    assert "12.5/s" in text
    assert "ETA 4s" in text


def test_bar_redraws_at_most_every_tenth_of_a_second() -> None:
    stream = io.StringIO()
    clock = FakeClock()
    bar = ProgressBar(stream, clock=clock)
    update = ProgressUpdate(phase="apply_add", done=1, total=10, rate_per_s=1.0, eta_s=9.0)

    bar(update)
    clock.now_s = 0.05
    bar(update)
    clock.now_s = 0.2
    bar(update)

    assert stream.getvalue().count("\r") == 2


def test_bar_ends_its_line_when_done() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, clock=FakeClock())

    bar(ProgressUpdate(phase="apply_add", done=2, total=2, rate_per_s=1.0, eta_s=None))

    assert stream.getvalue().endswith("\n")
