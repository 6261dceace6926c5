"""The demo's live terminal view: redrawn in place a few times a second (plain ANSI, no curses).

It reads the running agent's state and the mock GPIO pins back, so what it shows is what the
pole's outputs and links are doing, not what the simulator intended.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import deque
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pole_agent.app import Agent
from pole_agent.board_profile import default_hw_dirs, resolve_profile
from simulator.broker import MosquittoBroker
from simulator.monitor import BrokerMonitor
from simulator.ops243_emulator import Ops243Emulator

CLEAR = "\x1b[H\x1b[2J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
BOLD, RED, GREEN, YELLOW, DIM, RESET = (
    "\x1b[1m",
    "\x1b[31m",
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[2m",
    "\x1b[0m",
)


def describe(topic: str, payload: bytes) -> str:
    """A short line for a published message: its topic and the fields a person looks at."""
    try:
        data = json.loads(payload)
    except ValueError:
        return f"{topic} {payload[:60]!r}"
    if not isinstance(data, dict):
        return f"{topic} {payload[:60]!r}"
    short = topic.split("/", 2)[-1]
    if "speed_kmh" in data and "direction" in data:
        warned = " warned" if data.get("warned") else ""
        return (
            f"{short:16} seq={data.get('seq')} {data['direction']} {data['speed_kmh']} km/h "
            f"limit {data.get('limit_kmh')}{warned}"
        )
    if "state" in data:
        return f"{short:16} seq={data.get('seq', '-')} {data['state']} boot {data.get('boot_id')}"
    return f"{short:16} seq={data.get('seq', '-')}"


class RingLogHandler(logging.Handler):
    """Keeps the last log lines for the view instead of scribbling over it."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname.lower():7} {record.getMessage()}")


class LiveView:
    def __init__(
        self,
        agent: Agent,
        emulator: Ops243Emulator,
        factory: Any,
        *,
        monitor: BrokerMonitor | None,
        ring: RingLogHandler,
        broker: MosquittoBroker | None,
    ) -> None:
        self._agent = agent
        self._emulator = emulator
        self._factory = factory
        self._monitor = monitor
        self._ring = ring
        self._broker = broker
        profile = resolve_profile(agent.config.outputs.board, default_hw_dirs())
        self._pins = [(line.name, line.gpio) for line in profile.outputs]
        self._tz = ZoneInfo(agent.config.zone.timezone)
        sys.stdout.write(HIDE_CURSOR)

    def close(self) -> None:
        sys.stdout.write(SHOW_CURSOR + "\n")
        sys.stdout.flush()

    def render(self) -> None:
        sys.stdout.write(CLEAR + "\n".join(self.lines()) + "\n")
        sys.stdout.flush()

    def lines(self) -> list[str]:
        agent, pipeline = self._agent, self._agent.pipeline
        clock = agent.clock
        zone = pipeline.zone
        sim_time = timedelta(seconds=int(clock.monotonic()))
        zone_text = f"{GREEN}ACTIVE{RESET}" if zone.active else f"{DIM}off-hours{RESET}"
        out = [
            f"{BOLD}S-Pole simulator{RESET}  pole {agent.config.pole_id}  boot {agent.boot_id}  "
            f"sim time {sim_time} (x{clock.factor:g})",
            f"zone {zone_text}  limit {zone.limit_kmh:g} km/h   "
            f"zone time {clock.wall().astimezone(self._tz).strftime('%a %H:%M:%S')}",
            "",
            f"radar   {agent.radar.stats.state:12} lines {agent.radar.stats.lines:7}  "
            f"frames {pipeline.frames:7}  rejected {pipeline.rejected.total()}  "
            f"port {self._emulator.port}",
        ]
        broker = agent.publisher.link_state()
        where = f"{self._broker.host}:{self._broker.port}" if self._broker else "-"
        out.append(
            f"broker  {broker:12} {where}  queued {len(agent.outbox)}  "
            f"dropped {agent.outbox.dropped}"
        )
        pins = []
        for name, gpio in self._pins:
            state = self._factory.pin(gpio).state
            lamp = f"{YELLOW}●{RESET}" if state else f"{DIM}○{RESET}"
            pins.append(f"{name}(GPIO{gpio}) {lamp}")
        beacon = f"{RED}{BOLD}WARNING{RESET}" if agent.beacons.active else "idle"
        out.append(f"beacons {beacon:12}  " + "  ".join(pins))
        speed = pipeline.last_speed_kmh
        out.append(f"last frame {speed:+.1f} km/h (+ approaching)" if speed is not None else "")
        out += ["", f"{BOLD}recent transits{RESET}"]
        for seen in list(pipeline.recent)[-8:]:
            t = seen.transit
            flag = f"{RED}WARNED{RESET}" if seen.warned else ""
            over = f"{YELLOW}over{RESET}" if t.peak_kmh > seen.limit_kmh else "    "
            out.append(
                f"  #{t.transit_id:<5} {t.direction:11} {t.peak_kmh:6.1f} km/h  "
                f"limit {seen.limit_kmh:g} {over} {flag}"
            )
        out += ["", f"{BOLD}published (as received by the broker){RESET}"]
        if self._monitor is None:
            for topic, payload in agent.reporter.published[-5:]:
                out.append(f"  {DIM}(queued){RESET} {describe(topic, payload)}")
        else:
            for item in self._monitor.messages()[-5:]:
                out.append(f"  {describe(item.topic, item.payload)}")
        out += ["", f"{BOLD}log{RESET}"]
        out += [f"  {DIM}{line[:110]}{RESET}" for line in list(self._ring.lines)[-6:]]
        out += ["", "Ctrl-C to stop"]
        return out
