"""Applies the warning decisions to the pole's outputs, runs the fail-safe state machine, and is
the Detections port. The non-pure half of the warning path (the pure half is decisions/).

``refresh`` is called by the radar pipeline in the radar reader's thread after every frame and
every tick: it keeps the zone and the clock's verdict current (once a second), evaluates the
fail-safe mode, sets each output to what the policy's plan says (pins change only when their
state does), hands spoken messages to the speaker thread (never played here), publishes
decision records, and toggles the heartbeat while the agent is healthy. Detections from other
threads go through the same lock and light outputs at once.

Nothing here blocks: GPIO writes, a queue put, a callback per record. An exception on this path
is caught, makes the agent unhealthy for ``FAULT_HOLD_S`` (the heartbeat stops, so the pole's
independent flasher takes over) and never reaches the reader thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import time
from typing import Protocol
from zoneinfo import ZoneInfo

from pole_agent.config import AudioConfig
from pole_agent.decisions.clock_trust import TRUSTED, ClockTrust, ClockVerdict
from pole_agent.decisions.failsafe import FailSafe, FailSafeInputs, Mode, ModeTransition
from pole_agent.decisions.warning_policy import RULE_MODE, DecisionRecord, WarningPolicy
from pole_agent.decisions.zone_schedule import ZoneSchedule, ZoneState
from pole_agent.health import HealthBoard, HealthState
from pole_agent.ports import (
    BeaconOutput,
    Clock,
    PedestrianSeen,
    SignOutput,
    SpeedDisplay,
    VehicleApproaching,
    VoiceOutput,
)

log = logging.getLogger(__name__)

CONTEXT_REFRESH_S = 1.0
FAILSAFE_EVERY_S = 0.1
FAULT_HOLD_S = 10.0
DecisionListener = Callable[[DecisionRecord], None]


class StatusIndicator(Protocol):
    def set(self, on: bool) -> None: ...

    def blink(self, on_s: float, off_s: float) -> None: ...


class Heartbeat(Protocol):
    def toggle(self) -> None: ...


def in_daily_window(start: time, end: time, local: time) -> bool:
    """Whether ``local`` is in the daily window (end before start spans midnight; equal: all
    day)."""
    if start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


class WarningOutputs:
    def __init__(
        self,
        *,
        clock: Clock,
        policy: WarningPolicy,
        failsafe: FailSafe,
        schedule: ZoneSchedule,
        health: HealthBoard,
        beacons: BeaconOutput,
        sign: SignOutput,
        display: SpeedDisplay,
        voice: VoiceOutput,
        status: StatusIndicator,
        heartbeat: Heartbeat,
        audio: AudioConfig,
        heartbeat_hz: float,
        clock_trust: ClockTrust | None = None,
    ) -> None:
        self._clock = clock
        self._policy = policy
        self._failsafe = failsafe
        self._schedule = schedule
        self._health = health
        self._beacons = beacons
        self._sign = sign
        self._display = display
        self._voice = voice
        self._status = status
        self._heartbeat = heartbeat
        self._audio = audio
        self._half_period = 0.5 / heartbeat_hz
        self._trust = clock_trust
        self._lock = threading.RLock()
        self._listeners: list[DecisionListener] = []
        self._context_t = float("-inf")
        self._failsafe_t = float("-inf")
        self._next_beat = float("-inf")
        self._fault_until = float("-inf")
        self._fault_reason = ""
        self.zone: ZoneState | None = None
        self.clock_verdict: ClockVerdict = (
            TRUSTED if clock_trust is None else ClockVerdict(False, "none", "not checked yet")
        )
        self.quiet = False
        self.records: deque[DecisionRecord] = deque(maxlen=200)
        self.transitions: deque[ModeTransition] = deque(maxlen=50)
        self.voice_refused = 0
        self.faults = 0

    # -- what other parts read and subscribe to ----------------------------------------------

    @property
    def mode(self) -> Mode | None:
        return self._failsafe.mode

    @property
    def clock_trusted(self) -> bool:
        return self.clock_verdict.trusted

    def subscribe(self, listener: DecisionListener) -> None:
        """Called with every decision record, in the thread that made it: hand it on quickly
        (telemetry queues it)."""
        with self._lock:
            self._listeners.append(listener)

    # -- the pipeline's hook (radar reader thread) ----------------------------------------------

    def refresh(self, now: float) -> None:
        with self._lock:
            try:
                self._refresh(now)
            except Exception as err:
                self._fault(now, f"warning path error: {err!r}")

    def _refresh(self, now: float) -> None:
        if self.zone is not None:
            self._apply(now)  # first: what the frame just decided reaches the pins at once
        updated = False
        if now - self._context_t >= CONTEXT_REFRESH_S:
            self._context_t = now
            self._update_context(now)
            updated = True
        if now - self._failsafe_t >= FAILSAFE_EVERY_S:
            self._failsafe_t = now
            self._update_mode(now)
            updated = True
        if updated:
            self._apply(now)
        if self._failsafe.heartbeat and now >= self._next_beat:
            self._heartbeat.toggle()
            # Keep the square wave's phase (ticks are not a multiple of the half period).
            self._next_beat += self._half_period
            if self._next_beat <= now:
                self._next_beat = now + self._half_period

    # -- Detections port (any thread) ---------------------------------------------------------

    def pedestrian(self, seen: PedestrianSeen) -> None:
        with self._lock:
            try:
                self._policy.on_pedestrian(seen)
                self._apply(self._clock.monotonic())
            except Exception as err:
                self._fault(self._clock.monotonic(), f"pedestrian detection error: {err!r}")

    def vehicle(self, approaching: VehicleApproaching) -> None:
        with self._lock:
            try:
                self._policy.on_vehicle(approaching)
                self._apply(self._clock.monotonic())
            except Exception as err:
                self._fault(self._clock.monotonic(), f"vehicle detection error: {err!r}")

    # -- internals ------------------------------------------------------------------------------

    def _update_context(self, now: float) -> None:
        wall = self._clock.wall()
        verdict = TRUSTED if self._trust is None else self._trust.verdict(wall)
        self.clock_verdict = verdict
        self.zone = self._schedule.at(wall, verdict)
        local = wall.astimezone(ZoneInfo(self._schedule.config.timezone)).time()
        quiet = self._audio.quiet_hours
        self.quiet = verdict.trusted and in_daily_window(quiet.start, quiet.end, local)
        if self._trust is not None:
            state: HealthState = "ok" if verdict.trusted else "degraded"
            self._health.report("clock", state, verdict.reason, now)

    def _update_mode(self, now: float) -> None:
        zone = self.zone
        assert zone is not None
        snapshot = self._health.snapshot()
        agent_ok, reason = now >= self._fault_until, self._fault_reason
        for name, item in snapshot.items():
            if (name == "agent" or name.startswith("agent.")) and item.state == "failed":
                agent_ok, reason = False, f"{name}: {item.reason}"
        inputs = FailSafeInputs(now, snapshot, zone, self.clock_verdict, agent_ok, reason)
        transition = self._failsafe.update(inputs)
        mode = self._failsafe.mode
        assert mode is not None
        self._policy.on_tick(now, zone=zone, mode=mode, quiet=self.quiet)
        if transition is not None:
            self._on_transition(transition, zone)

    def _on_transition(self, transition: ModeTransition, zone: ZoneState) -> None:
        self.transitions.append(transition)
        level = logging.INFO if transition.mode in ("normal", "off_hours") else logging.WARNING
        log.log(level, "mode %s -> %s: %s", transition.previous, transition.mode, transition.reason)
        outputs: list[str] = []
        if transition.mode == "fail_safe":
            outputs += ["display:blank", "voice:off"]
            outputs.append("beacons:flash" if zone.active else "beacons:off (zone not active)")
            if not transition.heartbeat:
                outputs.append("heartbeat:stopped")
            self._status.blink(0.2, 0.2)
        elif transition.mode == "degraded":
            self._status.blink(1.0, 1.0)
        else:
            self._status.set(True)
        self._publish(
            DecisionRecord(
                t=transition.t,
                kind="mode",
                rule=RULE_MODE,
                trigger=f"{transition.previous or 'start'} -> {transition.mode}: "
                f"{transition.reason}",
                inputs={
                    "previous": transition.previous,
                    "mode": transition.mode,
                    "reason": transition.reason,
                    "heartbeat": transition.heartbeat,
                    "clock_trusted": self.clock_verdict.trusted,
                    "zone_active": zone.active,
                    "zone_window": zone.window,
                    "limit_kmh": zone.limit_kmh,
                },
                outputs=tuple(outputs),
            )
        )

    def _apply(self, now: float) -> None:
        plan = self._policy.plan(now)
        if plan.beacons and not self._beacons.active:
            self._beacons.activate()
        elif not plan.beacons and self._beacons.active:
            self._beacons.deactivate()
        self._sign.show(plan.message)
        for item in self._policy.take_announcements():
            if not self._voice.play(item.clips, item.volume, item.reason):
                self.voice_refused += 1
                log.warning("spoken warning not played (speaker busy or off): %s", item.clips)
        self._display.show(plan.speed_kmh)
        for record in self._policy.take_records():
            self._publish(record)

    def _publish(self, record: DecisionRecord) -> None:
        self.records.append(record)
        if record.kind != "mode":
            log.info(
                "decision %s: %s -> %s", record.rule, record.trigger, ", ".join(record.outputs)
            )
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:
                log.exception("decision listener failed")

    def _fault(self, now: float, reason: str) -> None:
        self.faults += 1
        self._fault_until = now + FAULT_HOLD_S
        self._fault_reason = reason
        log.exception("warning path: %s", reason)
        try:
            self._update_mode(now)
        except Exception:
            log.exception("warning path: fail-safe evaluation failed too")

    def close(self) -> None:
        """Leave every output this object drives off (the beacons are closed by their owner)."""
        actions: list[Callable[[], None]] = [
            lambda: self._sign.show(None),
            lambda: self._display.show(None),
            self._voice.close,
        ]
        with self._lock:
            for action in actions:
                try:
                    action()
                except Exception:
                    log.exception("closing a warning output failed")
