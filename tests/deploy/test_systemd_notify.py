"""The notify protocol against a real datagram socket, and the watchdog's decision on a manual
clock."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from pole_agent.clock import ManualClock
from pole_agent.systemd_notify import SystemdNotifier
from pole_agent.watchdog import PipelineWatchdog, WatchdogPinger
from tests.deploy.supervisor import NotifyListener


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    instance = NotifyListener()
    try:
        yield instance
    finally:
        instance.close()


def test_messages_arrive_with_our_pid(listener: NotifyListener) -> None:
    notifier = SystemdNotifier.from_environ(
        {"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "4000000"}
    )
    assert notifier.enabled
    assert notifier.watchdog_interval_s == 4.0
    assert notifier.ready("version=1 all\nwell")
    assert notifier.watchdog()
    assert notifier.status("x" * 1000)
    assert notifier.stopping("bye")
    assert listener.wait_for("STOPPING", timeout=5)
    fields = [n.fields for n in listener.notices]
    assert fields[0] == {"READY": "1", "STATUS": "version=1 all well"}  # one line
    assert fields[1] == {"WATCHDOG": "1"}
    assert len(fields[2]["STATUS"]) == 400  # capped
    assert fields[3] == {"STOPPING": "1", "STATUS": "bye"}
    assert {n.pid for n in listener.notices} == {os.getpid()}
    notifier.close()


def test_abstract_socket_address() -> None:
    name = f"pole-agent-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": f"@{name}"})
        assert notifier.ready()
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


def test_without_systemd_everything_is_a_no_op() -> None:
    notifier = SystemdNotifier.from_environ({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert not notifier.ready("x")
    assert not notifier.watchdog()
    assert notifier.sent == 0 and notifier.errors == 0


def test_bad_environment_is_ignored_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    assert not SystemdNotifier.from_environ({"NOTIFY_SOCKET": "vsock:2:1"}).enabled
    bad_usec = SystemdNotifier.from_environ({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "soon"})
    assert bad_usec.enabled and bad_usec.watchdog_interval_s is None
    assert "WATCHDOG_USEC" in caplog.text
    # The watchdog of another process (WATCHDOG_PID) is not ours.
    other = SystemdNotifier.from_environ(
        {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, pid=4242
    )
    assert other.watchdog_interval_s is None
    ours = SystemdNotifier.from_environ(
        {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "4242"}, pid=4242
    )
    assert ours.watchdog_interval_s == 1.0


def test_a_vanished_socket_is_counted_never_raised(tmp_path: object) -> None:
    notifier = SystemdNotifier("/nonexistent/notify.sock")
    assert not notifier.watchdog()
    assert not notifier.watchdog()
    assert notifier.errors == 2
    assert "No such file" in notifier.last_error


class Ticker:
    """The pipeline's tick counter, advanced by the test."""

    def __init__(self) -> None:
        self.ticks = 0


class Sink:
    def __init__(self) -> None:
        self.pings: list[float] = []
        self.clock: ManualClock | None = None

    def watchdog(self) -> bool:
        assert self.clock is not None
        self.pings.append(self.clock.monotonic())
        return True


def run(
    pinger: WatchdogPinger, clock: ManualClock, ticker: Ticker, seconds: float, ticking: bool
) -> None:
    """Advance 50 ms at a time, as the reader thread ticks and the daemon loop wakes."""
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        clock.advance(0.05)
        if ticking:
            ticker.ticks += 1
        if clock.monotonic() >= pinger.next_wake:
            pinger.step(clock.monotonic())


def healthy(pinger: WatchdogPinger) -> bool:
    return pinger.verdict.healthy


def test_pings_every_half_interval_only_while_the_pipeline_ticks() -> None:
    clock = ManualClock()
    ticker = Ticker()
    sink = Sink()
    sink.clock = clock
    start = clock.monotonic()
    watchdog = PipelineWatchdog(lambda: ticker.ticks, stall_after_s=5.0, now=start)
    pinger = WatchdogPinger(watchdog, sink, interval_s=30.0, now=start)
    assert pinger.check_every_s == 1.0

    run(pinger, clock, ticker, 60.0, ticking=True)
    gaps = [b - a for a, b in zip(sink.pings, sink.pings[1:], strict=False)]
    assert len(sink.pings) == 5  # at 0, 15, 30, 45, 60 (within one 50 ms step)
    assert all(abs(g - 15.0) <= 0.06 for g in gaps), gaps

    # The reader thread stops ticking: no ping once 5 s have passed without a tick, so systemd
    # (WatchdogSec=30) fires at most 5 s + one check + 30 s after the stall began.
    stalled_at = clock.monotonic()
    before = len(sink.pings)
    run(pinger, clock, ticker, 120.0, ticking=False)
    late = [t for t in sink.pings[before:] if t > stalled_at + 5.0 + pinger.check_every_s]
    assert late == []
    assert not healthy(pinger)
    assert "no tick" in pinger.verdict.reason
    assert pinger.withheld > 0

    # Ticking again: the pings resume at once.
    resumed_at = clock.monotonic()
    run(pinger, clock, ticker, 2.0, ticking=True)
    assert healthy(pinger)
    assert sink.pings[-1] >= resumed_at


def test_watchdog_verdict_after_the_stall_threshold() -> None:
    clock = ManualClock()
    ticker = Ticker()
    watchdog = PipelineWatchdog(lambda: ticker.ticks, stall_after_s=2.0, now=clock.monotonic())
    clock.advance(1.9)
    assert watchdog.check(clock.monotonic()).healthy
    clock.advance(0.2)
    assert not watchdog.check(clock.monotonic()).healthy
    ticker.ticks += 1
    assert watchdog.check(clock.monotonic()).healthy
    with pytest.raises(ValueError):
        PipelineWatchdog(lambda: 0, stall_after_s=0, now=0.0)
