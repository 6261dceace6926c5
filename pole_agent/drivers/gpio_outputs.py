"""GPIO outputs built from the board profile (gpiozero). The only module that imports gpiozero.

The pin factory is passed in: gpiozero's ``MockFactory(pin_class=MockPWMPin)`` in the simulator
and tests, the board's real pin library on a pole. ``activate`` lights the beacons synchronously
(it is on the warning path: no thread start between the decision and the pin); a single
long-lived flasher thread then toggles them until ``deactivate``. The other outputs (sign
message lines, shift-register speed digits, speaker amplifier enable, heartbeat) are set in the
caller's thread and only when their state changes.
"""

from __future__ import annotations

import threading
from typing import Any

from gpiozero import LED, DigitalOutputDevice
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.board_profile import BoardProfile, OutputLine, OutputRole


def make_pin_factory(kind: str) -> Any:
    """The gpiozero pin factory for ``outputs.pin_factory``: 'mock' or 'auto' (real pins)."""
    if kind == "mock":
        return MockFactory(pin_class=MockPWMPin)
    # None lets gpiozero pick the real library itself (lgpio on a Pi); off a board, building the
    # first device then raises BadPinFactory, which app wiring reports.
    return None


def _led(line: OutputLine, factory: Any) -> Any:
    return LED(line.gpio, active_high=line.active_high, initial_value=False, pin_factory=factory)


def _line(line: OutputLine, factory: Any) -> Any:
    return DigitalOutputDevice(
        line.gpio, active_high=line.active_high, initial_value=False, pin_factory=factory
    )


class GpioBeacons:
    """The beacon lines of a board, flashing together (BeaconOutput port)."""

    def __init__(
        self, profile: BoardProfile, factory: Any, *, flash_hz: float, duty: float
    ) -> None:
        self._leds = [_led(line, factory) for line in profile.lines("beacon")]
        self._on_s = duty / flash_hz
        self._off_s = (1.0 - duty) / flash_hz
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._active = False
        self._generation = 0
        self._closed = False
        self._thread = threading.Thread(target=self._flash_loop, name="beacon-flasher", daemon=True)
        self._thread.start()

    @property
    def active(self) -> bool:
        return self._active

    def activate(self) -> None:
        with self._lock:
            if self._active or self._closed:
                return
            for led in self._leds:
                led.on()
            self._active = True
            self._generation += 1
            self._wake.notify_all()

    def deactivate(self) -> None:
        with self._lock:
            if not self._active:
                return
            self._active = False
            self._generation += 1
            for led in self._leds:
                led.off()
            self._wake.notify_all()

    def _flash_loop(self) -> None:
        with self._lock:
            while not self._closed:
                if not self._active:
                    self._wake.wait()
                    continue
                generation = self._generation
                lit = True
                while self._active and generation == self._generation and not self._closed:
                    self._wake.wait(self._on_s if lit else self._off_s)
                    if not self._active or generation != self._generation or self._closed:
                        break
                    lit = not lit
                    for led in self._leds:
                        led.value = lit

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._active = False
            for led in self._leds:
                led.off()
            self._wake.notify_all()
        self._thread.join(timeout=2)
        for led in self._leds:
            led.close()


class StatusLed:
    """The cabinet's status LED: lit while the agent runs."""

    def __init__(self, profile: BoardProfile, factory: Any) -> None:
        self._leds = [_led(line, factory) for line in profile.lines("status_led")]

    def set(self, on: bool) -> None:
        for led in self._leds:
            led.value = on

    def close(self) -> None:
        for led in self._leds:
            led.off()
            led.close()

    def blink(self, on_s: float, off_s: float) -> None:
        """Blink in gpiozero's own background thread until ``set``."""
        for led in self._leds:
            led.blink(on_time=on_s, off_time=off_s, background=True)


class GpioSignMessages:
    """The sign's preset-message inputs, one line per message (SignOutput port).

    Break before make: the old message's line goes off before the new one's goes on. A message
    the board has no line for selects nothing (and is remembered, for status views).
    """

    def __init__(self, profile: BoardProfile, factory: Any) -> None:
        self._lines = {
            str(line.message): _led(line, factory) for line in profile.lines("sign_message")
        }
        self.current: str | None = None

    @property
    def messages(self) -> frozenset[str]:
        return frozenset(self._lines)

    def show(self, message: str | None) -> None:
        if message == self.current:
            return
        for name, led in self._lines.items():
            if name != message:
                led.off()
        if message is not None and message in self._lines:
            self._lines[message].on()
        self.current = message

    def close(self) -> None:
        for led in self._lines.values():
            led.off()
            led.close()


#: Seven-segment patterns, bit 0 = segment a ... bit 6 = segment g (bit 7, the dot, unused).
SEGMENTS = (0x3F, 0x06, 0x5B, 0x4F, 0x66, 0x6D, 0x7D, 0x07, 0x7F, 0x6F)


def digit_patterns(kmh: int | None, digits: int) -> list[int]:
    """Segment bytes, leftmost digit first: blank for None or a value that does not fit, and
    no leading zeros."""
    if kmh is None or kmh < 0 or kmh >= 10**digits:
        return [0] * digits
    text = str(kmh).rjust(digits)
    return [0 if ch == " " else SEGMENTS[int(ch)] for ch in text]


class ShiftRegisterDisplay:
    """The "your speed" digits through a chain of 74HC595 (SpeedDisplay port).

    Each digit is one byte shifted out most significant bit first (so Q0 holds segment a), the
    leftmost digit first (it ends in the register at the far end of the chain), then one latch
    pulse shows them all at once. The optional enable line (the registers' /OE) is on only while
    a value is shown, so a blank display is dark even if the registers hold garbage.
    """

    def __init__(self, profile: BoardProfile, factory: Any) -> None:
        self.digits = profile.speed_display.digits
        self._invert = not profile.speed_display.segments_active_high
        (self._data,) = [_line(line, factory) for line in profile.lines("display_data")]
        (self._clock,) = [_line(line, factory) for line in profile.lines("display_clock")]
        (self._latch,) = [_line(line, factory) for line in profile.lines("display_latch")]
        self._enable = [_line(line, factory) for line in profile.lines("display_enable")]
        self.current: int | None = None
        self.shifts = 0
        self._write(None)

    def show(self, kmh: int | None) -> None:
        if kmh == self.current:
            return
        self._write(kmh)

    def _write(self, kmh: int | None) -> None:
        for pattern in digit_patterns(kmh, self.digits):
            byte = pattern ^ 0xFF if self._invert else pattern
            for bit in range(7, -1, -1):
                self._data.value = (byte >> bit) & 1
                self._clock.on()
                self._clock.off()
        self._latch.on()
        self._latch.off()
        for line in self._enable:
            line.value = kmh is not None
        self.current = kmh
        self.shifts += 1

    def close(self) -> None:
        self._write(None)
        for line in [self._data, self._clock, self._latch, *self._enable]:
            line.off()
            line.close()


class NoSpeedDisplay:
    """A board without speed digits: remembers what would have been shown."""

    def __init__(self) -> None:
        self.current: int | None = None

    def show(self, kmh: int | None) -> None:
        self.current = kmh

    def close(self) -> None:
        self.current = None


class OutputLineSwitch:
    """A single on/off line by role (speaker_enable): off when the board has none."""

    def __init__(self, profile: BoardProfile, factory: Any, role: OutputRole) -> None:
        self._lines = [_line(line, factory) for line in profile.lines(role)]
        self.fitted = bool(self._lines)
        self.on = False

    def set(self, on: bool) -> None:
        if on == self.on:
            return
        for line in self._lines:
            line.value = on
        self.on = on

    def close(self) -> None:
        for line in self._lines:
            line.off()
            line.close()


class HeartbeatPin:
    """The square wave that keeps the external watchdog relay on the agent's side."""

    def __init__(self, profile: BoardProfile, factory: Any) -> None:
        self._lines = [_line(line, factory) for line in profile.lines("heartbeat")]
        self.fitted = bool(self._lines)
        self.level = False
        self.toggles = 0

    def toggle(self) -> None:
        self.level = not self.level
        self.toggles += 1
        for line in self._lines:
            line.value = self.level

    def close(self) -> None:
        for line in self._lines:
            line.off()
            line.close()
