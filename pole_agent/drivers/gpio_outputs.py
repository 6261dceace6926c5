"""GPIO outputs built from the board profile (gpiozero). The only module that imports gpiozero.

The pin factory is passed in: gpiozero's ``MockFactory(pin_class=MockPWMPin)`` in the simulator
and tests, the board's real pin library on a pole. ``activate`` lights the beacons synchronously
(it is on the warning path: no thread start between the decision and the pin); a single
long-lived flasher thread then toggles them until ``deactivate``.
"""

from __future__ import annotations

import threading
from typing import Any

from gpiozero import LED
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.board_profile import BoardProfile, OutputLine


def make_pin_factory(kind: str) -> Any:
    """The gpiozero pin factory for ``outputs.pin_factory``: 'mock' or 'auto' (real pins)."""
    if kind == "mock":
        return MockFactory(pin_class=MockPWMPin)
    # None lets gpiozero pick the real library itself (lgpio on a Pi); off a board, building the
    # first device then raises BadPinFactory, which app wiring reports.
    return None


def _led(line: OutputLine, factory: Any) -> Any:
    return LED(line.gpio, active_high=line.active_high, initial_value=False, pin_factory=factory)


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
