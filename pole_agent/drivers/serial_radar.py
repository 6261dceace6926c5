"""The OPS243 radar on a serial port (pyserial). The only module that imports pyserial.

One thread owns the port: it opens it (again and again, with backoff, when the sensor is
unplugged), sends the start-up sequence, splits what arrives into lines and hands each line with
its arrival time to the pipeline, and calls the pipeline's tick at a steady pace even while the
port is gone, so that transits end and beacons stop on time whatever the sensor does.
Lines go to the handler in this same thread: nothing is queued between a line and the warning.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import serial

from pole_agent.config import RadarConfig
from pole_agent.health import HealthBoard, HealthState
from pole_agent.ports import Clock, LineHandler

log = logging.getLogger(__name__)

_RATE_COMMANDS = {1000: "SI", 5000: "SV", 10000: "SX", 20000: "S2", 50000: "SL", 100000: "SC"}

#: A line longer than this is not a report: the buffer is dropped and the overflow counted.
MAX_BUFFER = 4096


def startup_commands(config: RadarConfig) -> list[str]:
    """The commands sent after each open: km/h, JSON reports, the sampling rate, and no
    direction filter (direction is decided in software so both directions are counted)."""
    return ["UK", "OJ", _RATE_COMMANDS[config.sample_rate_hz], "R|"]


@dataclass
class RadarLinkStats:
    state: str = "starting"
    opens: int = 0
    failures: int = 0
    lines: int = 0
    overflows: int = 0
    echoes_missing: int = 0
    last_error: str = ""


class SerialRadar:
    """Reads an OPS243 over serial and feeds lines and ticks to the pipeline."""

    def __init__(
        self,
        config: RadarConfig,
        clock: Clock,
        on_line: LineHandler,
        on_tick: Callable[[float], None],
        *,
        health: HealthBoard | None = None,
        name: str = "radar",
        tick_s: float = 0.05,
        echo_timeout_s: float = 1.0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._on_line = on_line
        self._on_tick = on_tick
        self._tick_s = tick_s
        self._echo_timeout_s = echo_timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="radar-reader", daemon=True)
        self._last_tick = float("-inf")
        self._health = health
        self.name = name
        self.stats = RadarLinkStats()

    def _report(self, state: HealthState, reason: str) -> None:
        if self._health is not None:
            self._health.report(self.name, state, reason, self._clock.monotonic())

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)

    # -- the reader thread -------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.25
        while not self._stop.is_set():
            port = self._open()
            if port is None:
                self._idle(backoff)
                backoff = min(backoff * 2, self._config.reopen_max_s)
                continue
            backoff = 0.25
            try:
                self._configure(port)
                self.stats.state = "reading"
                self._report("ok", f"reading {self._config.port}")
                self._read_loop(port)
            except (serial.SerialException, OSError) as err:
                self.stats.failures += 1
                self.stats.last_error = str(err)
                self.stats.state = "disconnected"
                self._report("failed", f"link lost: {err}")
                log.warning("radar link lost on %s: %s", self._config.port, err)
            finally:
                with contextlib.suppress(serial.SerialException, OSError):
                    port.close()
        self.stats.state = "stopped"

    def _open(self) -> serial.Serial | None:
        try:
            port = serial.Serial(self._config.port, self._config.baud, timeout=self._tick_s)
        except (serial.SerialException, OSError, ValueError) as err:
            if self.stats.state != "unavailable":
                log.warning("radar port %s unavailable: %s", self._config.port, err)
            self.stats.state = "unavailable"
            self._report("failed", f"cannot open {self._config.port}: {err}")
            self.stats.last_error = str(err)
            self.stats.failures += 1
            return None
        self.stats.opens += 1
        log.info("radar port %s open (attempt %d)", self._config.port, self.stats.opens)
        return port

    def _idle(self, seconds: float) -> None:
        """Wait while keeping the pipeline's ticks going."""
        end = self._clock.monotonic() + seconds * self._clock.factor
        while not self._stop.is_set():
            now = self._clock.monotonic()
            self._on_tick(now)
            if now >= end:
                return
            self._stop.wait(self._tick_s)

    def _configure(self, port: serial.Serial) -> None:
        """Send the start-up commands, waiting for each one's JSON echo (reports meanwhile are
        passed on as usual)."""
        self.stats.state = "configuring"
        buf = bytearray()
        for command in startup_commands(self._config):
            port.write(command.encode("ascii"))
            port.flush()
            deadline = self._clock.monotonic() + self._echo_timeout_s * self._clock.factor
            echoed = False
            while not echoed and self._clock.monotonic() < deadline and not self._stop.is_set():
                for line, t in self._read_lines(port, buf):
                    if line.startswith(b"{") and b"speed" not in line.lower():
                        echoed = True
                    self._on_line(line, t)
            if not echoed:
                self.stats.echoes_missing += 1
                log.warning("radar did not echo %s within %.1f s", command, self._echo_timeout_s)

    def _read_lines(self, port: serial.Serial, buf: bytearray) -> list[tuple[bytes, float]]:
        chunk = port.read(max(1, port.in_waiting))
        now = self._clock.monotonic()
        if now - self._last_tick >= self._tick_s * self._clock.factor:
            self._last_tick = now
            self._on_tick(now)
        if not chunk:
            return []
        buf += chunk
        lines: list[tuple[bytes, float]] = []
        while True:
            end = buf.find(b"\n")
            if end < 0:
                break
            line = bytes(buf[:end]).rstrip(b"\r")
            del buf[: end + 1]
            lines.append((line, now))
        if len(buf) > MAX_BUFFER:
            self.stats.overflows += 1
            buf.clear()
        self.stats.lines += len(lines)
        return lines

    def _read_loop(self, port: serial.Serial) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            for line, t in self._read_lines(port, buf):
                self._on_line(line, t)
