"""GPIO beacons and status LED on gpiozero's mock pins, read back from the pins' history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.board_profile import BoardProfile, OutputLine, load_profile
from pole_agent.drivers.gpio_outputs import (
    GpioBeacons,
    GpioSignMessages,
    HeartbeatPin,
    OutputLineSwitch,
    ShiftRegisterDisplay,
    StatusLed,
    digit_patterns,
    make_pin_factory,
)

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


# -- the outputs of the rev 2 board: sign messages, speed digits, speaker, heartbeat ----------

V2 = load_profile(REPO / "hw" / "boards" / "spole-rpi4-v2.toml")
SLOW, CHILD, SCHOOL = 5, 6, 13
DATA, CLOCK, LATCH, ENABLE = 16, 26, 12, 25
AMP, HEARTBEAT = 24, 23


def test_sign_messages_break_before_make(factory: Any) -> None:
    from tests.decisions.pins import journal_factory

    pins = journal_factory()
    sign = GpioSignMessages(V2, pins)
    try:
        assert sign.messages == {"slow_down", "child_crossing", "school_zone"}
        assert not any(level(pins, g) for g in (SLOW, CHILD, SCHOOL))
        sign.show("slow_down")
        assert [level(pins, g) for g in (SLOW, CHILD, SCHOOL)] == [True, False, False]
        start = len(pins.journal)
        sign.show("child_crossing")
        assert [level(pins, g) for g in (SLOW, CHILD, SCHOOL)] == [False, True, False]
        # The old line went off before the new one came on.
        assert [(g, v) for _, g, v in pins.journal[start:]] == [(SLOW, False), (CHILD, True)]
        sign.show("child_crossing")
        assert len(pins.journal) == start + 2
        sign.show(None)
        assert not any(level(pins, g) for g in (SLOW, CHILD, SCHOOL))
        sign.show("school_zone")
    finally:
        sign.close()
        pins.reset()
    assert not level(pins, SCHOOL)


def test_a_board_without_sign_lines_selects_nothing(factory: Any) -> None:
    sign = GpioSignMessages(SHIPPED, factory)
    sign.show("slow_down")
    assert sign.current == "slow_down"
    assert sign.messages == frozenset()
    sign.close()


@pytest.mark.parametrize(
    ("kmh", "patterns"),
    [
        (None, [0, 0]),
        (0, [0, 0x3F]),
        (7, [0, 0x07]),
        (42, [0x66, 0x5B]),
        (99, [0x6F, 0x6F]),
        (100, [0, 0]),
        (-1, [0, 0]),
    ],
)
def test_digit_patterns(kmh: int | None, patterns: list[int]) -> None:
    assert digit_patterns(kmh, 2) == patterns


def test_shift_register_display_read_back_as_a_74hc595_chain() -> None:
    from tests.decisions.pins import Chain595, journal_factory

    pins = journal_factory()
    display = ShiftRegisterDisplay(V2, pins)
    try:
        for value in (42, 42, 7, None, 99, 130, 31):
            display.show(value)
        shown = Chain595(DATA, CLOCK, LATCH, 2, enable=ENABLE).replay(pins.journal)
        texts = [text for _, text in shown]
        # Blank at start; 42 (once: a repeat shifts nothing), 7, dark, 99, dark (3 digits do
        # not fit), 31. Each latch shows what was shifted; /OE follows whether a value is shown.
        latched = [text for text in texts if text is not None]
        assert latched == ["42", "7", "99", "31"]
        assert texts[-1] == "31"
        assert display.shifts == 7  # the initial blank and six changes
        assert level(pins, ENABLE) is False  # /OE low: lit
    finally:
        display.close()
        pins.reset()
    # Dark after close: /OE was driven high (off) before the line was released.
    enable = [v for _, gpio, v in pins.journal if gpio == ENABLE]
    assert enable[-2:] == [True, False]  # driven high, then released (an input: pulled up)


def test_common_anode_digits_are_inverted() -> None:
    from tests.decisions.pins import Chain595, journal_factory

    profile = V2.model_copy(
        update={
            "speed_display": V2.speed_display.model_copy(update={"segments_active_high": False})
        }
    )
    pins = journal_factory()
    display = ShiftRegisterDisplay(profile, pins)
    try:
        display.show(8)
        chain = Chain595(DATA, CLOCK, LATCH, 2)
        chain.replay(pins.journal)
        assert chain.shift == [0xFF ^ 0x7F, 0xFF]  # right digit 8, left digit dark
    finally:
        display.close()
        pins.reset()


def test_speaker_enable_and_heartbeat(factory: Any) -> None:
    amp = OutputLineSwitch(V2, factory, "speaker_enable")
    beat = HeartbeatPin(V2, factory)
    try:
        assert amp.fitted and beat.fitted
        amp.set(True)
        assert level(factory, AMP) is True
        amp.set(False)
        assert level(factory, AMP) is False
        for _ in range(4):
            beat.toggle()
        assert changes(factory, HEARTBEAT) == [False, True, False, True, False]
        assert beat.toggles == 4
    finally:
        amp.close()
        beat.close()
    assert level(factory, AMP) is False


def test_outputs_missing_from_a_board_do_nothing(factory: Any) -> None:
    amp = OutputLineSwitch(SHIPPED, factory, "speaker_enable")
    beat = HeartbeatPin(SHIPPED, factory)
    assert not amp.fitted and not beat.fitted
    amp.set(True)
    beat.toggle()
    amp.close()
    beat.close()


def test_status_led_blinks(factory: Any) -> None:
    led = StatusLed(SHIPPED, factory)
    try:
        led.blink(0.05, 0.05)
        time.sleep(0.5)
        assert changes(factory, STATUS).count(True) >= 2
        led.set(True)
        assert level(factory, STATUS) is True
    finally:
        led.close()
