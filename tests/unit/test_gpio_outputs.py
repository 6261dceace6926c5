"""GPIO beacons and status LED on gpiozero's mock pins, read back from the pins' history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.board_profile import BoardProfile, OutputLine, load_profile
from pole_agent.drivers.gpio_outputs import GpioBeacons, StatusLed, make_pin_factory

REPO = Path(__file__).resolve().parents[2]
SHIPPED = load_profile(REPO / "hw" / "boards" / "spole-rpi4-v1.toml")
LEFT, RIGHT, STATUS = 17, 27, 22


@pytest.fixture
def factory() -> Iterator[Any]:
    pins = MockFactory(pin_class=MockPWMPin)
    yield pins
    pins.reset()


@pytest.fixture
def beacons(factory: Any) -> Iterator[GpioBeacons]:
    out = GpioBeacons(SHIPPED, factory, flash_hz=4.0, duty=0.5)
    yield out
    out.close()


def is_active(beacons: GpioBeacons) -> bool:
    """The beacons' state (a call, so that mypy does not narrow it between steps)."""
    return beacons.active


def level(factory: Any, gpio: int) -> bool:
    return bool(factory.pin(gpio).state)


def changes(factory: Any, gpio: int, since: int = 0) -> list[bool]:
    """The pin's recorded levels from history index ``since``, with repeats collapsed."""
    levels = [bool(s.state) for s in factory.pin(gpio).states[since:]]
    return [v for i, v in enumerate(levels) if i == 0 or v != levels[i - 1]]


def test_make_pin_factory() -> None:
    mock = make_pin_factory("mock")
    try:
        assert isinstance(mock, MockFactory)
        assert mock.pin_class is MockPWMPin
    finally:
        mock.reset()
    assert make_pin_factory("auto") is None


def test_beacons_start_off(factory: Any, beacons: GpioBeacons) -> None:
    assert is_active(beacons) is False
    assert level(factory, LEFT) is False
    assert level(factory, RIGHT) is False


def test_activate_lights_both_beacons_before_returning(factory: Any, beacons: GpioBeacons) -> None:
    beacons.activate()
    assert level(factory, LEFT) is True
    assert level(factory, RIGHT) is True
    assert is_active(beacons) is True


def test_activated_beacons_flash_together(factory: Any, beacons: GpioBeacons) -> None:
    start_left = len(factory.pin(LEFT).states)
    start_right = len(factory.pin(RIGHT).states)
    beacons.activate()
    time.sleep(1.5)
    left = changes(factory, LEFT, start_left)
    right = changes(factory, RIGHT, start_right)
    # 4 Hz at 50 %: about 12 changes in 1.5 s; be loose about a busy machine.
    assert left[0] is True
    assert left.count(True) >= 3
    assert left.count(False) >= 3
    assert len(left) <= 20
    assert abs(len(left) - len(right)) <= 2


def test_deactivate_leaves_them_low_and_stops_flashing(factory: Any, beacons: GpioBeacons) -> None:
    beacons.activate()
    time.sleep(0.4)
    beacons.deactivate()
    assert is_active(beacons) is False
    assert level(factory, LEFT) is False
    assert level(factory, RIGHT) is False
    recorded = len(factory.pin(LEFT).states)
    time.sleep(0.6)
    assert len(factory.pin(LEFT).states) == recorded
    assert level(factory, LEFT) is False
    assert level(factory, RIGHT) is False


def test_activate_and_deactivate_are_idempotent(factory: Any, beacons: GpioBeacons) -> None:
    beacons.deactivate()
    assert level(factory, LEFT) is False
    beacons.activate()
    beacons.activate()
    assert is_active(beacons) is True
    beacons.deactivate()
    beacons.deactivate()
    assert is_active(beacons) is False
    assert level(factory, LEFT) is False


def test_reactivate_after_deactivate_flashes_again(factory: Any, beacons: GpioBeacons) -> None:
    beacons.activate()
    beacons.deactivate()
    since = len(factory.pin(LEFT).states)
    beacons.activate()
    assert level(factory, LEFT) is True
    time.sleep(0.7)
    assert changes(factory, LEFT, since).count(False) >= 1


def test_close_leaves_pins_off_and_activate_does_nothing_after(factory: Any) -> None:
    beacons = GpioBeacons(SHIPPED, factory, flash_hz=4.0, duty=0.5)
    beacons.activate()
    time.sleep(0.2)
    beacons.close()
    assert is_active(beacons) is False
    assert level(factory, LEFT) is False
    assert level(factory, RIGHT) is False
    recorded = len(factory.pin(LEFT).states)
    beacons.activate()
    beacons.deactivate()
    time.sleep(0.3)
    assert is_active(beacons) is False
    assert level(factory, LEFT) is False
    assert len(factory.pin(LEFT).states) == recorded


def test_close_while_idle(factory: Any) -> None:
    beacons = GpioBeacons(SHIPPED, factory, flash_hz=4.0, duty=0.5)
    beacons.close()
    assert level(factory, LEFT) is False
    assert level(factory, RIGHT) is False


def _active_low_profile() -> BoardProfile:
    return BoardProfile(
        name="active-low",
        outputs=(
            OutputLine(name="beacon_low", role="beacon", gpio=5, active_high=False),
            OutputLine(name="beacon_high", role="beacon", gpio=6, active_high=True),
            OutputLine(name="status", role="status_led", gpio=13, active_high=False),
        ),
    )


def test_active_low_line_is_driven_low_when_on(factory: Any) -> None:
    beacons = GpioBeacons(_active_low_profile(), factory, flash_hz=4.0, duty=0.5)
    try:
        # Off at start: the active-low line sits high.
        assert level(factory, 5) is True
        assert level(factory, 6) is False
        beacons.activate()
        assert level(factory, 5) is False
        assert level(factory, 6) is True
        time.sleep(0.4)
        assert changes(factory, 5).count(True) >= 2  # it flashes too
        beacons.deactivate()
        assert level(factory, 5) is True
        assert level(factory, 6) is False
    finally:
        beacons.close()


# Releasing a line makes it an input: on a board the I/O board's pull resistor then holds it at
# its off level (hw/README.md: every output needs one). What the agent owes is to drive the off
# level before it lets go.


def test_close_drives_an_active_low_beacon_off_before_release(factory: Any) -> None:
    beacons = GpioBeacons(_active_low_profile(), factory, flash_hz=4.0, duty=0.5)
    beacons.activate()
    beacons.close()
    assert level(factory, 6) is False  # the active-high line is off
    driven = factory.pin(5).states
    assert driven[-2].state, "the active-low line was driven high (off) before release"
    assert factory.pin(5).function == "input"


def test_status_led(factory: Any) -> None:
    led = StatusLed(SHIPPED, factory)
    assert level(factory, STATUS) is False
    led.set(True)
    assert level(factory, STATUS) is True
    led.set(False)
    assert level(factory, STATUS) is False
    led.set(True)
    led.close()
    assert level(factory, STATUS) is False


def test_active_low_status_led(factory: Any) -> None:
    led = StatusLed(_active_low_profile(), factory)
    try:
        assert level(factory, 13) is True
        led.set(True)
        assert level(factory, 13) is False
        led.set(False)
        assert level(factory, 13) is True
    finally:
        led.close()


def test_close_drives_an_active_low_status_led_off_before_release(factory: Any) -> None:
    led = StatusLed(_active_low_profile(), factory)
    led.set(True)
    led.close()
    assert factory.pin(13).states[-2].state
    assert factory.pin(13).function == "input"


def test_status_led_and_beacons_share_a_factory(factory: Any, beacons: GpioBeacons) -> None:
    led = StatusLed(SHIPPED, factory)
    try:
        led.set(True)
        beacons.activate()
        beacons.deactivate()
        assert level(factory, STATUS) is True
    finally:
        led.close()
