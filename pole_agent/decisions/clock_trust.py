"""When the wall clock can be believed, so that the zone schedule may follow it.

A Raspberry Pi has no real-time clock: it boots with whatever time the image or fake-hwclock left
and only learns the real time from the network. A schedule that follows a wrong clock could
leave a school zone dark at 08:00. Wall time is trusted when

- the kernel says the clock is synchronised (``adjtimex``: the ``STA_UNSYNC`` bit is clear; when
  that cannot be asked, systemd-timesyncd's ``/run/systemd/timesync/synchronized`` flag), or
- it is plausible: after the software's build date and not before the last time the agent
  saved a trusted wall time in its state folder (``TimeMark``, written atomically every few
  minutes while the clock is trusted).

Until then the zone schedule runs in its conservative mode (the school-hours behaviour) and says
so. ``assess`` is the pure rule; ``ClockTrust`` gathers its inputs.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

BUILD_DATE = datetime(2026, 11, 1, tzinfo=UTC)
"""No wall time before this can be right (this software did not exist): raise it at each
release."""

SAVED_SLACK = timedelta(minutes=5)
"""A clock this little behind the saved mark is still trusted (small NTP steps back)."""

STA_UNSYNC = 0x0040
TIME_ERROR = 5
TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")

Source = Literal["kernel", "plausible", "none"]


@dataclass(frozen=True, slots=True)
class ClockVerdict:
    """Whether wall time is trusted, by which rule, and why (said in logs and records)."""

    trusted: bool
    source: Source
    reason: str


TRUSTED = ClockVerdict(True, "kernel", "trusted by the caller")


def assess(
    wall: datetime,
    *,
    kernel_synced: bool | None,
    build_time: datetime = BUILD_DATE,
    last_saved: datetime | None = None,
) -> ClockVerdict:
    """The trust rule. ``kernel_synced`` is None when the kernel could not be asked."""
    if kernel_synced:
        return ClockVerdict(True, "kernel", "the kernel reports the clock synchronised")
    if wall < build_time:
        return ClockVerdict(
            False,
            "none",
            f"wall clock {wall:%Y-%m-%d %H:%M}Z is before the build date {build_time:%Y-%m-%d}",
        )
    if last_saved is not None and wall < last_saved - SAVED_SLACK:
        return ClockVerdict(
            False,
            "none",
            f"wall clock {wall:%Y-%m-%d %H:%M}Z is before the last saved time "
            f"{last_saved:%Y-%m-%d %H:%M}Z",
        )
    saved = "no saved time yet" if last_saved is None else "not before the last saved time"
    return ClockVerdict(True, "plausible", f"after the build date, {saved}, no time sync")


class _Timex(ctypes.Structure):
    """The start of ``struct timex`` (linux/timex.h); the rest is padding we never read."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 512),
    ]


@functools.cache
def _adjtimex() -> Callable[[Any], int] | None:
    """libc's ``adjtimex``, looked up once per process: ``find_library`` runs ``ldconfig -p`` in
    a subprocess (about 2 ms here, more on a pole), and the verdict is asked in the radar reader's
    thread once a second: looked up at every call, it held up warnings (docs/performance.md)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function: Callable[[Any], int] = libc.adjtimex
    except (OSError, AttributeError):
        return None
    return function


def kernel_clock_synchronised() -> bool | None:
    """Ask the kernel whether the clock is synchronised (read-only ``adjtimex``); fall back to
    systemd-timesyncd's flag file; None when neither can tell."""
    if sys.platform.startswith("linux"):
        adjtimex = _adjtimex()
        timex = _Timex()  # modes = 0: only read
        state = -1 if adjtimex is None else adjtimex(ctypes.byref(timex))
        if state >= 0:
            return not (timex.status & STA_UNSYNC) and state != TIME_ERROR
    with contextlib.suppress(OSError):
        if TIMESYNCD_FLAG.exists():
            return True
    return None


class TimeMark:
    """The last trusted wall time, kept in a small file in the state folder.

    Written atomically (temporary file, fsync, rename, fsync of the folder) so that a power cut
    leaves either the old mark or the new one; a damaged file reads as no mark (logged).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> datetime | None:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as err:
            log.warning("clock mark %s unreadable (%s): ignored", self.path, err)
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            log.warning("clock mark %s holds no time (%r): ignored", self.path, text[:40])
            return None
        if value.tzinfo is None:
            log.warning("clock mark %s has no time zone: ignored", self.path)
            return None
        return value.astimezone(UTC)

    def save(self, wall: datetime) -> None:
        """Raises OSError when the state folder cannot be written."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = wall.astimezone(UTC).isoformat().encode("ascii") + b"\n"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class ClockTrust:
    """Gathers the rule's inputs: the kernel's answer (asked at each verdict: one read-only
    system call) and the saved mark (read once, then kept in memory as it is written)."""

    def __init__(
        self,
        mark: TimeMark,
        *,
        kernel_sync: Callable[[], bool | None] = kernel_clock_synchronised,
        build_time: datetime = BUILD_DATE,
    ) -> None:
        self._mark = mark
        self._kernel_sync = kernel_sync
        self._build_time = build_time
        self._last_saved = mark.load()
        self.last: ClockVerdict | None = None
        if sys.platform.startswith("linux"):
            _adjtimex()  # libc looked up now, at start-up, not in the radar reader's thread

    @property
    def last_saved(self) -> datetime | None:
        return self._last_saved

    def verdict(self, wall: datetime) -> ClockVerdict:
        try:
            synced = self._kernel_sync()
        except Exception:  # a probe must never stop the schedule
            log.exception("clock sync probe failed")
            synced = None
        verdict = assess(
            wall, kernel_synced=synced, build_time=self._build_time, last_saved=self._last_saved
        )
        if self.last is None or verdict.trusted != self.last.trusted:
            level = logging.INFO if verdict.trusted else logging.WARNING
            log.log(
                level,
                "wall clock %s: %s",
                "trusted" if verdict.trusted else "NOT trusted",
                verdict.reason,
            )
        self.last = verdict
        return verdict

    def save(self, wall: datetime) -> bool:
        """Save ``wall`` as the mark if it is trusted and later than the mark; returns whether
        it was written. Slow (fsync): never call it on the warning path."""
        if not self.verdict(wall).trusted:
            return False
        if self._last_saved is not None and wall <= self._last_saved:
            return False
        try:
            self._mark.save(wall)
        except OSError as err:
            log.warning("cannot save the clock mark %s: %s", self._mark.path, err)
            return False
        self._last_saved = wall
        return True
