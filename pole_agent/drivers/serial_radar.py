"""The OPS243 radar on a serial port (pyserial). The only module that imports pyserial.

One thread owns the port: it opens it (again and again, with backoff, when the sensor is
unplugged), runs the start-up dialogue (``ops243_session``: commands built from config, each
JSON echo awaited with a timeout, then ``??``/``?P``/``?V``/``?U`` to read the identity and
verify the settings took), splits what arrives into lines, parses each one once and hands the
result to the handler, and calls the tick at a steady pace even while the port is gone, so that
transits end and beacons stop on time whatever the sensor does. Lines go to the handler in this
same thread: nothing is queued between a line and the warning, and nothing on that path waits on
anything but the line itself (the dialogue's waits are between reads, never inside a handler).

Health (``HealthBoard``, component ``radar.<role>``): ``failed`` while the port cannot be
opened, the link is lost, the sensor is stale (silent past ``stale_after_s``) or stuck;
``degraded`` while a setting did not take; ``ok`` when it measures as configured.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

from pole_agent.config import RadarConfig
from pole_agent.drivers.ops243_session import (
    MODULE_INFO_LAST_KEY,
    VERIFY_QUERIES,
    Command,
    RadarIdentity,
    SessionAnswers,
    startup_commands,
)
from pole_agent.drivers.radar_watch import RadarWatch
from pole_agent.health import HealthBoard, HealthState
from pole_agent.perception.radar_lines import (
    MAX_SPECTRUM_BYTES,
    REPORT_TYPES,
    InfoLine,
    ParsedLine,
    Rejected,
    parse_line,
)
from pole_agent.ports import Clock

log = logging.getLogger(__name__)

#: A partial line longer than this is not a report (the longest, a spectrum line, is shorter):
#: the buffer is dropped and counted as an overflow.
MAX_BUFFER = 2 * MAX_SPECTRUM_BYTES
#: A sensor stale this many times its timeout is reopened (the start-up sequence re-sent).
STALE_REOPEN_FACTOR = 5.0

ParsedHandler = Callable[[ParsedLine], None]
RawTap = Callable[[bytes, float], None]


@dataclass
class RadarLinkStats:
    state: str = "starting"
    opens: int = 0
    failures: int = 0
    lines: int = 0
    reports: int = 0
    overflows: int = 0
    echoes_missing: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    last_error: str = ""
    problems: list[str] = field(default_factory=list)
    """Settings that did not take at the last start-up."""


class SerialRadar:
    """Reads an OPS243 over serial, parses its lines and feeds them and ticks onward."""

    def __init__(
        self,
        config: RadarConfig,
        clock: Clock,
        on_parsed: ParsedHandler,
        on_tick: Callable[[float], None],
        *,
        health: HealthBoard | None = None,
        name: str = "radar.road",
        tick_s: float = 0.05,
        raw_tap: RawTap | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._on_parsed = on_parsed
        self._on_tick = on_tick
        self._tick_s = tick_s
        self._raw_tap = raw_tap
        self._max_kmh = config.max_speed_kmh
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-reader", daemon=True)
        self._last_tick = float("-inf")
        self._stale = False
        self._health = health
        self._watch = RadarWatch(config.stale_after_s, config.stuck_after_s)
        self._link_health: tuple[HealthState, str] | None = None
        """None until the first start-up ends (or the port fails): nothing to report yet."""
        self._identity: RadarIdentity | None = None
        self._answers: SessionAnswers | None = None
        self.name = name
        self.stats = RadarLinkStats()

    @property
    def config(self) -> RadarConfig:
        return self._config

    @property
    def identity(self) -> RadarIdentity | None:
        """The sensor's identity read at the last start-up (None before the first one)."""
        return self._identity

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- health ------------------------------------------------------------------------------

    def _set_link(self, state: HealthState, reason: str) -> None:
        self._link_health = (state, reason)
        self._report_health(self._clock.monotonic())

    def _report_health(self, now: float) -> None:
        state, reason = self._link_health or ("ok", "")
        if self.stats.state in ("configuring", "reading"):
            verdict = self._watch.check(now)
            self._stale = verdict.state == "stale"
            if verdict.state != "ok":
                state, reason = "failed", verdict.reason
            elif self._link_health is None:
                return  # still starting up, and not stale: nothing to say yet
        if self._health is not None:
            self._health.report(self.name, state, reason, now)

    # -- the reader thread -------------------------------------------------------------------

    def _run(self) -> None:
        first_backoff = min(0.25, self._config.reopen_max_s)
        backoff = first_backoff
        while not self._stop.is_set():
            port = self._open()
            if port is None:
                self._idle(backoff)
                backoff = min(backoff * 2, self._config.reopen_max_s)
                continue
            backoff = first_backoff
            try:
                self._watch.restart(self._clock.monotonic())
                self._session(port)
            except (serial.SerialException, OSError) as err:
                self.stats.failures += 1
                self.stats.last_error = str(err)
                self.stats.state = "disconnected"
                self._set_link("failed", f"link lost: {err}")
                log.warning("%s: link lost on %s: %s", self.name, self._config.port, err)
            finally:
                with contextlib.suppress(serial.SerialException, OSError):
                    port.close()
        self.stats.state = "stopped"

    def _open(self) -> serial.Serial | None:
        try:
            port = serial.Serial(self._config.port, self._config.baud, timeout=self._tick_s)
        except (serial.SerialException, OSError, ValueError) as err:
            if self.stats.state != "unavailable":
                log.warning("%s: port %s unavailable: %s", self.name, self._config.port, err)
            self.stats.state = "unavailable"
            self.stats.last_error = str(err)
            self.stats.failures += 1
            self._set_link("failed", f"cannot open {self._config.port}: {err}")
            return None
        self.stats.opens += 1
        log.info("%s: port %s open (attempt %d)", self.name, self._config.port, self.stats.opens)
        return port

    def _idle(self, seconds: float) -> None:
        """Wait ``seconds`` of real time while keeping the ticks going."""
        end = self._clock.monotonic() + seconds * self._clock.factor
        while not self._stop.is_set():
            now = self._clock.monotonic()
            self._on_tick(now)
            if now >= end:
                return
            self._stop.wait(self._tick_s)

    def _session(self, port: serial.Serial) -> None:
        """Configure, verify, then read until the link fails, the sensor stays stale too long
        or the driver stops."""
        self.stats.state = "configuring"
        self._answers = answers = SessionAnswers()
        buf = bytearray()
        epoch = int(self._clock.wall().timestamp())
        for command in startup_commands(self._config, epoch):
            if not self._exchange(port, buf, command, None):
                self.stats.echoes_missing += 1
                answers.problems.append(f"no echo to {command.text} ({command.why})")
        for query in VERIFY_QUERIES:
            last = MODULE_INFO_LAST_KEY if query.text == "??" else None
            if not self._exchange(port, buf, query, last):
                answers.problems.append(f"no answer to {query.text} ({query.why})")
        self._identity = answers.identity(self._config)
        problems = answers.verify(self._config)
        self.stats.problems = problems
        self._answers = None
        self.stats.state = "reading"
        if problems:
            log.warning("%s: settings not verified: %s", self.name, "; ".join(problems))
            self._set_link("degraded", "settings not verified: " + "; ".join(problems))
        else:
            log.info("%s: %s", self.name, self._identity)
            self._set_link("ok", f"reading {self._config.port}")
        reopen_after = self._config.stale_after_s * STALE_REOPEN_FACTOR
        while not self._stop.is_set():
            self._pump(port, buf)
            if self._clock.monotonic() - self._watch.last_report_t > reopen_after:
                log.warning("%s: stale for %.0f s; reopening the port", self.name, reopen_after)
                self._set_link("failed", f"stale: reopened after {reopen_after:g} s of silence")
                return

    def _exchange(
        self, port: serial.Serial, buf: bytearray, command: Command, until_key: str | None
    ) -> bool:
        """Send one command and read (passing reports on as usual) until its answer arrives or
        the echo timeout passes. ``until_key``: a multi-line answer is complete at that key."""
        port.write(command.wire)
        port.flush()
        deadline = self._clock.monotonic() + self._config.echo_timeout_s * self._clock.factor
        answered = False
        while not self._stop.is_set() and self._clock.monotonic() < deadline:
            for parsed in self._pump(port, buf):
                if not isinstance(parsed, InfoLine) or not parsed.fields:
                    continue
                first = next(iter(parsed.fields))
                if first == "error" and self._answers is not None:
                    self._answers.problems.append(f"{command.text} refused: {parsed.fields}")
                    return True
                if until_key is None and first in command.echo_keys:
                    answered = True
                if until_key is not None and until_key in parsed.fields:
                    return True
            if answered:
                return True
        return answered

    def _pump(self, port: serial.Serial, buf: bytearray) -> list[InfoLine]:
        """Read what is there (up to one tick), handle every complete line; return the info
        lines (for the start-up dialogue). Ticks go out at least every ``tick_s``."""
        chunk = port.read(max(1, port.in_waiting))
        now = self._clock.monotonic()
        infos: list[InfoLine] = []
        if chunk:
            buf += chunk
            start = 0
            while True:
                end = buf.find(b"\n", start)
                if end < 0:
                    break
                line = bytes(buf[start:end])
                start = end + 1
                if line.endswith(b"\r"):
                    line = line[:-1]
                parsed = self._handle(line, now)
                if isinstance(parsed, InfoLine):
                    infos.append(parsed)
            if start:
                del buf[:start]
            if len(buf) > MAX_BUFFER:
                self.stats.overflows += 1
                self.stats.rejected["overflow"] += 1
                buf.clear()
        if now - self._last_tick >= self._tick_s * self._clock.factor:
            self._last_tick = now
            self._on_tick(now)
            self._report_health(now)
        return infos

    def _handle(self, line: bytes, now: float) -> ParsedLine:
        self.stats.lines += 1
        if self._raw_tap is not None:
            self._raw_tap(line, now)
        parsed = parse_line(line, now, self._max_kmh)
        if isinstance(parsed, Rejected):
            self.stats.rejected[parsed.reason] += 1
        elif isinstance(parsed, InfoLine):
            if self._answers is not None:
                self._answers.take(parsed.fields)
        else:
            self.stats.reports += 1
        self._watch.observe(parsed)
        if self._stale and isinstance(parsed, REPORT_TYPES):
            # Reports flow again: say so before this one is handled, so that the pipeline does
            # not discard the first frames of a vehicle as coming from a failed sensor.
            self._report_health(now)
        self._on_parsed(parsed)
        return parsed
