"""Mock pins that keep one ordered journal per factory, and a 74HC595 chain that replays it.

gpiozero's mock pins record their own histories, but not the order of changes across pins; a
shift register's meaning is exactly that order (data sampled on each clock's rising edge, shown
on the latch's). ``JournalPin`` appends every change to ``factory.journal``; ``Chain595`` plays
the journal as the hardware would, so a test reads the digits the way a driver sees them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPWMPin

from pole_agent.drivers.gpio_outputs import SEGMENTS


class JournalPin(MockPWMPin):  # type: ignore[misc]  # gpiozero is untyped
    def __init__(self, factory: Any, info: Any) -> None:
        if not hasattr(factory, "journal"):
            factory.journal = []
        self._journal: list[tuple[float, int, bool]] = factory.journal
        super().__init__(factory, info)

    def _change_state(self, value: Any) -> bool:
        changed = bool(super()._change_state(value))
        if changed:
            # Stamped on the factory's clock when it has one (a scenario's simulated clock).
            clock = getattr(self.factory, "clock", None)
            t = clock.monotonic() if clock is not None else time.monotonic()
            self._journal.append((t, int(self.info.name[4:]), bool(value)))
        return changed


def journal_factory(clock: Any = None) -> Any:
    """Mock pins journaled in order, stamped with ``clock.monotonic()`` when a clock is given."""
    factory = MockFactory(pin_class=JournalPin)
    factory.journal = []
    factory.clock = clock
    return factory


DECODE = {pattern: str(digit) for digit, pattern in enumerate(SEGMENTS)}
DECODE[0] = " "


@dataclass
class Chain595:
    """A chain of 74HC595 fed by (data, clock, latch) pins, with an optional active-low /OE."""

    data: int
    clock: int
    latch: int
    registers: int
    enable: int | None = None
    shift: list[int] = field(default_factory=list)
    shown: list[tuple[float, str | None]] = field(default_factory=list)
    """Each latch pulse (and /OE change): the time and the text, None while dark."""

    def replay(self, journal: list[tuple[float, int, bool]]) -> list[tuple[float, str | None]]:
        level = {self.data: False, self.clock: False, self.latch: False}
        enabled = self.enable is None
        latched: list[int] = [0] * self.registers
        self.shift = [0] * self.registers
        for t, gpio, value in journal:
            if gpio == self.enable:
                enabled = not value  # /OE is active low
                self.shown.append((t, self._text(latched) if enabled else None))
                continue
            if gpio not in level:
                continue
            rising = value and not level[gpio]
            level[gpio] = value
            if rising and gpio == self.clock:
                # As one bit string, far register first: the new bit enters the first
                # register's Q0, every bit moves one place on, the far register's Q7 falls off.
                bits = "".join(f"{b:08b}" for b in reversed(self.shift))
                bits = (bits + ("1" if level[self.data] else "0"))[1:]
                chunks = [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]
                self.shift = list(reversed(chunks))
            elif rising and gpio == self.latch:
                latched = list(self.shift)
                self.shown.append((t, self._text(latched) if enabled else None))
        return self.shown

    @staticmethod
    def _text(latched: list[int]) -> str | None:
        # shift[0] holds the last byte shifted (the right digit); shift[-1] the far register.
        text = "".join(DECODE.get(byte, "?") for byte in reversed(latched))
        return None if text.strip() == "" else text.strip()
