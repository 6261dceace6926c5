"""An OmniPreSense OPS243 Doppler radar at the wire: a pty that answers commands and reports.

The agent's real serial driver opens ``emulator.port`` with pyserial exactly as it opens
``/dev/radar`` on a pole; nothing in the agent knows it is simulated. What goes over the wire is
defined in ``simulator.ops243_protocol``; this module adds time, the world, noise and faults.

Two threads run while started:

- the frame thread wakes every ``1 / frame_rate_hz`` simulated seconds (sleeping with
  ``clock.sleep``, so a ``ScaledClock`` compresses it), asks the world for the strongest echo,
  adds gaussian noise, quantises and aliases it like the sensor's FFT, applies the filters and
  writes one report line (or a blank/zero line, or nothing, as the ``B`` setting says). If the
  machine is too loaded to keep up, missed frames are skipped, not replayed in a burst;
- the command thread reads what the host writes, frames it into commands and writes each echo.

Neither thread dies on an exception: it is logged, counted in ``errors`` and the loop goes on.
A write while unplugged is dropped silently, as bytes sent to a pulled cable are.

Fault semantics (the project's choices): ``set_silent(True)`` is a hung sensor: no reports, no
blank lines and no echoes; commands are still read and counted but neither applied nor answered.
``set_stuck(v)`` repeats a report of ``v`` km/h (true radial, then quantised and formatted) every
frame, whatever the world holds. ``replug()`` is a power cycle: settings come back from flash,
which holds the factory defaults unless the host saved others with ``A!``.

Spectrum output (``OF`` full, ``OB`` reduced band, ``Of``/``Ob`` off; off at power-on): after
each frame's reports the frame thread writes one spectrum line computed from the world's physics
by ``self.spectrum`` (``simulator.spectrum_source``; the line format is
``pole_agent.perception.spectrum``). A silent sensor sends none.

Clocks: use a ``SystemClock`` or a ``ScaledClock``. A ``ManualClock`` advances itself when slept
on, so the frame thread would drive it forward as fast as it loops.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from pole_agent.ports import Clock
from simulator.ops243_protocol import (
    LINE_END,
    CommandParser,
    DeviceState,
    Model,
    ObjectTrack,
    Ops243Settings,
    execute,
    format_detected_object,
    format_frame,
    format_object_report,
    format_range,
    format_report,
    measure_mps,
    measure_range_m,
    passes_filters,
)
from simulator.pty_link import LinkUnpluggedError, PtyLink
from simulator.spectrum_source import SpectrumSource
from simulator.world import World

log = logging.getLogger(__name__)

OnWrite = Callable[[bytes, int], None]
"""Called after a report line is written, with the line and ``perf_counter_ns()`` taken just
before the write."""

STUCK_MAGNITUDE = 100.0
OBJECT_END_S = 0.5
"""An object not reported for this long has left: its OC/ON report is written."""
_READ_TIMEOUT_S = 0.05  # real seconds the command thread waits per read, bounds stop() latency
_MAX_SLEEP_REAL_S = 0.05  # the frame thread sleeps at most this much real time at once


class Ops243Emulator:
    """A simulated OPS243 on a pty; start it, then open ``port`` with pyserial."""

    def __init__(
        self,
        world: World,
        clock: Clock,
        link_dir: str | Path,
        *,
        frame_rate_hz: float = 10.0,
        noise_kmh: float = 0.2,
        seed: int = 0,
        resolution_kmh: float | None = None,
        dropout_prob: float = 0.0,
        json_numbers_as_strings: bool = False,
        on_write: OnWrite | None = None,
        link_name: str = "radar",
        model: Model = "OPS243-A",
    ) -> None:
        """``resolution_kmh`` replaces the FFT bin width of the sampling rate (0: no
        quantisation); ``dropout_prob`` is the chance that a frame with a target reports nothing;
        ``json_numbers_as_strings`` writes ``{"speed":"12.34",...}`` as some firmware does;
        ``model`` "OPS243-C" adds range reports (``OD``) from the world's ranges."""
        if not frame_rate_hz > 0:
            raise ValueError(f"frame_rate_hz must be positive, got {frame_rate_hz}")
        if noise_kmh < 0:
            raise ValueError(f"noise_kmh must be >= 0, got {noise_kmh}")
        if not 0.0 <= dropout_prob < 1.0:
            raise ValueError(f"dropout_prob must be in [0, 1), got {dropout_prob}")
        if resolution_kmh is not None and resolution_kmh < 0:
            raise ValueError(f"resolution_kmh must be >= 0, got {resolution_kmh}")
        self.world = world
        self.clock = clock
        self.frame_rate_hz = frame_rate_hz
        self.noise_kmh = noise_kmh
        self.dropout_prob = dropout_prob
        self.json_numbers_as_strings = json_numbers_as_strings
        self.on_write = on_write
        self._resolution_mps = None if resolution_kmh is None else resolution_kmh / 3.6
        self._port = Path(link_dir) / link_name
        self._rng = random.Random(seed)
        uid = hashlib.sha1(f"ops243-sim-{seed}".encode()).hexdigest()[:24]
        self._state = DeviceState(uid=uid, power_on_s=clock.monotonic(), model=model)
        self._objects: dict[int, ObjectTrack] = {}
        self._parser = CommandParser()
        self._lock = threading.RLock()  # device state, rng, fault flags, counters
        self._link: PtyLink | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._silent = False
        self._stuck_kmh: float | None = None
        self._counted_ids: set[int] = set()
        self.lines_written = 0
        """Report lines written (speed, zero and blank lines; not echoes or injected bytes)."""
        self.commands_received = 0
        self.errors = 0
        """Exceptions caught (and logged) in the emulator's threads."""
        self.spectrum = SpectrumSource(world, seed=seed)
        """Spectrum settings and physics; replace it before ``start`` to change its policy."""
        self.spectrum_lines_written = 0

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """The stable path to open with pyserial (exists while started and plugged)."""
        return str(self._port)

    @property
    def link(self) -> PtyLink | None:
        return self._link

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def start(self) -> None:
        """Plug in and power up with factory settings (or those saved in flash)."""
        if self._threads:
            raise RuntimeError("emulator already started")
        self._link = PtyLink(self._port.parent, self._port.name)
        with self._lock:
            self._state.power_cycle(self.clock.monotonic())
            self.spectrum.reset()
        for target, name in ((self._frame_loop, "frames"), (self._command_loop, "commands")):
            thread = threading.Thread(target=target, name=f"ops243-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop both threads and remove the pty and its symlink; idempotent."""
        self._stop.set()
        if self._link is not None:
            self._link.close()  # wakes the command thread
        for thread in self._threads:
            thread.join(timeout=5.0)
            if thread.is_alive():
                log.error("emulator thread %s did not stop", thread.name)

    def __enter__(self) -> Ops243Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- inspection ------------------------------------------------------------------------
    @property
    def settings(self) -> Ops243Settings:
        """A copy of the live settings."""
        with self._lock:
            return self._state.settings.copy()

    @property
    def detected_count(self) -> int:
        with self._lock:
            return self._state.detected_count

    # -- faults ----------------------------------------------------------------------------
    def unplug(self) -> None:
        """Pull the cable: the reader's port fails and ``port`` disappears."""
        self._require_link().unplug()

    def replug(self) -> None:
        """Plug back in: a new pty behind the same ``port``, and a power cycle."""
        with self._lock:
            self._state.power_cycle(self.clock.monotonic())
            self._parser.reset()
            self._counted_ids.clear()
            self._objects.clear()
            self.spectrum.reset()
        self._require_link().replug()

    def set_silent(self, silent: bool) -> None:
        with self._lock:
            self._silent = silent

    def set_stuck(self, value_kmh: float | None) -> None:
        with self._lock:
            self._stuck_kmh = value_kmh

    def inject_line(self, data: bytes) -> int:
        """Write ``data`` exactly as given (no terminator added); returns bytes placed."""
        return self._write(data)

    def inject_garbage(self, nbytes: int, seed: int = 0) -> bytes:
        """What a wrong baud rate looks like: random high bytes, no line structure, then a
        newline. Returns the bytes written."""
        rng = random.Random(seed)
        data = bytes(rng.randrange(0x80, 0x100) for _ in range(nbytes)) + b"\n"
        self._write(data)
        return data

    def write_report_now(self, radial_kmh: float, magnitude: float = STUCK_MAGNITUDE) -> bytes:
        """Write one report line at once in the current format (quantised, no noise, no
        filters, even while silent or stuck), for benchmarks that feed lines as fast as the
        reader takes them. Returns the line, or b"" if unplugged. ``on_write`` runs in the
        caller's thread, and its exceptions reach the caller."""
        with self._lock:
            line = self._format(radial_kmh, magnitude, self.clock.monotonic(), filtered=False)
            stamp = None if line is None else self._write_report_locked(line)
        if line is None or stamp is None:
            return b""
        self._notify(line, stamp)
        return line

    # -- threads ---------------------------------------------------------------------------
    def _frame_loop(self) -> None:
        period = 1.0 / self.frame_rate_hz
        next_t = self.clock.monotonic() + period
        max_sleep = _MAX_SLEEP_REAL_S * self.clock.factor
        while not self._stop.is_set():
            try:
                delay = next_t - self.clock.monotonic()
                if delay > 0:
                    self.clock.sleep(min(delay, max_sleep))
                    continue
                next_t += period  # before emitting, so a failing frame cannot spin the loop
                frame_t = self.clock.monotonic()
                self._emit_frame(frame_t)
                self._emit_spectrum(frame_t)
                now = self.clock.monotonic()
                if now - next_t > 5 * period:
                    next_t = now + period
            except Exception:
                self._note_error("frame")
                self._stop.wait(0.001)

    def _command_loop(self) -> None:
        while not self._stop.is_set():
            link = self._link
            try:
                if link is None:
                    raise LinkUnpluggedError()
                data = link.read(4096, timeout_s=_READ_TIMEOUT_S)
                if data:
                    self._handle_input(data)
            except LinkUnpluggedError:
                self._stop.wait(0.01)
            except Exception:
                self._note_error("command")
                self._stop.wait(0.01)

    def _note_error(self, where: str) -> None:
        log.exception("OPS243 emulator %s thread error (continuing)", where)
        with self._lock:
            self.errors += 1

    # -- behaviour -------------------------------------------------------------------------
    def _handle_input(self, data: bytes) -> None:
        with self._lock:  # held while writing, so later reports follow the new settings
            echoes: list[bytes] = []
            for command in self._parser.feed(data):
                self.commands_received += 1
                if self._silent:
                    continue
                spectrum_echo = self.spectrum.command(command)
                if spectrum_echo is not None:
                    echoes += spectrum_echo
                    continue
                echoes += execute(command, self._state, self.clock.monotonic())
                if command[:2] == "N!":
                    self._counted_ids.clear()
            if echoes:
                self._write(b"".join(echoes))

    def _emit_frame(self, t: float) -> None:
        with self._lock:
            lines = self._frame_lines_locked(t)
            if not lines:
                return
            data = b"".join(lines)
            stamp = self._write_report_locked(data)
        if stamp is not None:
            self._notify(data, stamp)

    def _emit_spectrum(self, t: float) -> None:
        """The frame's spectrum line, after its reports; the physics runs outside the lock."""
        with self._lock:
            if self._silent or self.spectrum.mode == "off":
                return
            uptime = self._state.clock(t)
            rate = self._state.settings.sampling_rate_hz
        line = self.spectrum.line_at(t, uptime, rate)
        if line is not None:
            with self._lock:
                if self._write(line):
                    self.spectrum_lines_written += 1

    def frame_lines(self, t: float) -> list[bytes]:
        """The lines the sensor writes for its frame at simulated time ``t`` (advancing its
        noise and object state as a real frame does), without writing them: golden
        transcripts and benchmarks use it to get the wire format with no pty and no threads."""
        with self._lock:
            return self._frame_lines_locked(t)

    def _frame_lines_locked(self, t: float) -> list[bytes]:
        if self._silent or not self._state.settings.speed_output:
            return []
        if self._stuck_kmh is not None:
            line = self._format(self._stuck_kmh, STUCK_MAGNITUDE, t, filtered=True)
            lines = [] if line is None else [line]
        else:
            lines = self._measure(t)
        if not lines:
            blank = self._blank_line(t)
            lines = [] if blank is None else [blank]
        return lines

    def command(self, text: str, t: float | None = None) -> list[bytes]:
        """Apply one command as if received (no pty needed) and return its echo lines."""
        with self._lock:
            now = self.clock.monotonic() if t is None else t
            echoes = []
            for command in self._parser.feed(text.encode("latin-1")):
                spectrum_echo = self.spectrum.command(command)
                echoes += spectrum_echo or execute(command, self._state, now)
            return echoes

    def _measure(self, t: float) -> list[bytes]:
        """The report lines of a frame from the world: the first ``On`` targets (strongest
        first) with noise, quantised, filtered; then range (OPS243-C with ``OD``) and the
        object reports of objects that have left (``OC``/``ON``). Caller holds the lock."""
        settings = self._state.settings
        echoes: list[tuple[float, float]] = []
        ranges: list[float] = []
        for target in self.world.targets_at(t)[: settings.reports_per_frame]:
            if self._rng.random() < self.dropout_prob:
                continue
            noisy = target.radial_kmh + self._rng.gauss(0.0, self.noise_kmh)
            speed = measure_mps(noisy / 3.6, settings.sampling_rate_hz, self._resolution_mps)
            if not passes_filters(speed, target.magnitude, settings):
                continue
            echoes.append((speed, target.magnitude))
            ranges.append(measure_range_m(target.range_m))
            if target.vehicle_id not in self._counted_ids:
                self._counted_ids.add(target.vehicle_id)
                self._state.detected_count += 1
            track = self._objects.get(target.vehicle_id)
            if track is None:
                self._objects[target.vehicle_id] = ObjectTrack.first(t, speed, target.magnitude)
            else:
                track.add(t, speed, target.magnitude)
        uptime = self._state.clock(t)
        lines = format_frame(
            echoes, uptime, settings, numbers_as_strings=self.json_numbers_as_strings
        )
        if echoes and settings.range_output and self._state.model == "OPS243-C":
            lines.append(format_range(ranges, settings))
        for vehicle_id, track in list(self._objects.items()):
            if t - track.end_s > OBJECT_END_S:
                del self._objects[vehicle_id]
                if settings.object_output:
                    lines.append(format_object_report(track))
                if settings.detected_object_output:
                    lines.append(format_detected_object(track, settings))
        return lines

    def _format(
        self, radial_kmh: float, magnitude: float, t: float, *, filtered: bool
    ) -> bytes | None:
        settings = self._state.settings
        speed = measure_mps(radial_kmh / 3.6, settings.sampling_rate_hz, self._resolution_mps)
        if filtered and not passes_filters(speed, magnitude, settings):
            return None
        uptime = self._state.clock(t)
        return format_report(
            speed, magnitude, uptime, settings, numbers_as_strings=self.json_numbers_as_strings
        )

    def _blank_line(self, t: float) -> bytes | None:
        settings = self._state.settings
        if settings.blank_mode == "blank_lines":
            return LINE_END
        if settings.blank_mode == "zeros":
            uptime = self._state.clock(t)
            return format_report(
                None, 0.0, uptime, settings, numbers_as_strings=self.json_numbers_as_strings
            )
        return None

    # -- writing ---------------------------------------------------------------------------
    def _require_link(self) -> PtyLink:
        if self._link is None:
            raise RuntimeError("emulator not started")
        return self._link

    def _write(self, data: bytes) -> int:
        link = self._link
        if link is None:
            return 0
        try:
            return link.write(data)
        except LinkUnpluggedError:
            return 0

    def _write_report_locked(self, line: bytes) -> int | None:
        """Write a report line (caller holds the lock); its perf stamp, or None if unplugged."""
        link = self._link
        if link is None:
            return None
        stamp = time.perf_counter_ns()
        try:
            link.write(line)
        except LinkUnpluggedError:
            return None
        self.lines_written += 1
        return stamp

    def _notify(self, line: bytes, stamp: int) -> None:
        """Run the callback outside the lock, so it may call back into the emulator."""
        if self.on_write is not None:
            self.on_write(line, stamp)
