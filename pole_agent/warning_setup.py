"""Builds the warning outputs from the config and the board profile, for app.py to register.

Kept out of app.py so that the one wiring place stays short: this only constructs (the schedule
with its calendar and clock trust, the policy, the fail-safe machine, the sign, digits, speaker,
status LED and heartbeat, and the controller that applies decisions to them); app.py decides
when they start and stop.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pole_agent.audio.clips import CLIPS_DIR, ClipError, ClipLibrary
from pole_agent.audio.player import AplayBackend, Backend, ClipPlayer, RecordingBackend, SilentVoice
from pole_agent.board_profile import BoardProfile
from pole_agent.config import ConfigError, PoleConfig
from pole_agent.decisions.clock_trust import ClockTrust, TimeMark, kernel_clock_synchronised
from pole_agent.decisions.failsafe import FailSafe
from pole_agent.decisions.school_calendar import SchoolCalendar, load_calendar
from pole_agent.decisions.warning_policy import WarningPolicy
from pole_agent.decisions.zone_schedule import ZoneSchedule
from pole_agent.drivers.gpio_outputs import (
    GpioSignMessages,
    HeartbeatPin,
    NoSpeedDisplay,
    OutputLineSwitch,
    ShiftRegisterDisplay,
    StatusLed,
)
from pole_agent.drivers.serial_sign import SerialSignLink, SerialSignMessages
from pole_agent.health import HealthBoard, HealthState
from pole_agent.ports import BeaconOutput, Clock, SignOutput, SpeedDisplay, VoiceOutput
from pole_agent.remote.operator_message import OperatorSign
from pole_agent.warning_outputs import WarningOutputs

log = logging.getLogger(__name__)

CLOCK_MARK_FILE = "clock-mark"
CLOCK_SAVE_EVERY_S = 300.0


class SetupError(Exception):
    """A warning output cannot be built (the message says what to fix)."""


class ClockMarkSaver:
    """Saves the trusted wall time every few minutes (and at stop), in a thread of its own: an
    fsync has no place on the warning path."""

    def __init__(self, trust: ClockTrust, clock: Clock, every_s: float = CLOCK_SAVE_EVERY_S):
        self._trust = trust
        self._clock = clock
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clock-mark", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s / self._clock.factor):
            self._trust.save(self._clock.wall())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self._trust.save(self._clock.wall())


@dataclass
class WarningParts:
    """What was built, for app.py, status views and tests."""

    schedule: ZoneSchedule
    calendar: SchoolCalendar | None
    clock_trust: ClockTrust
    clock_saver: ClockMarkSaver
    policy: WarningPolicy
    failsafe: FailSafe
    sign: SignOutput
    display: SpeedDisplay
    speaker_amp: OutputLineSwitch
    heartbeat: HeartbeatPin
    voice: VoiceOutput
    recorder: RecordingBackend | None
    outputs: WarningOutputs
    """The controller: the pipeline's hook and the Detections port."""
    sign_link: SerialSignLink | None = None
    operator_sign: OperatorSign | None = None
    """The sign as the warning path sees it: the city's operator text below every warning
    (``set_message``, docs/remote.md); ``sign`` is the same object."""

    def start(self) -> None:
        """Start the background threads (clock mark saver, serial sign link)."""
        self.clock_saver.start()
        if self.sign_link is not None:
            self.sign_link.start()

    def stop(self) -> None:
        self.clock_saver.stop()

    def close(self) -> None:
        if self.operator_sign is not None:  # first: blanking must not bring the text back
            self.operator_sign.clear("agent stopping")
        self.outputs.close()
        for part in (self.sign, self.display, self.speaker_amp, self.heartbeat):
            try:
                part.close()
            except Exception:
                log.exception("closing %s failed", type(part).__name__)


def _voice(
    config: PoleConfig,
    clock: Clock,
    health: HealthBoard,
    amp: OutputLineSwitch,
) -> tuple[VoiceOutput, RecordingBackend | None]:
    audio = config.audio
    now = clock.monotonic()
    if audio.player == "off":
        health.report("audio", "degraded", "player off in the config", now)
        return SilentVoice(), None
    try:
        library = ClipLibrary(audio.clips_dir or CLIPS_DIR)
    except ClipError as err:
        health.report("audio", "failed", f"clips unusable: {err}", now)
        log.error("no spoken warnings: %s", err)
        return SilentVoice(), None
    missing = library.missing(config.child_warning.message)
    if missing:
        health.report("audio", "failed", f"child_warning.message: unknown clips {missing}", now)
        return SilentVoice(), None
    recorder: RecordingBackend | None = None
    backend: Backend
    if audio.player == "record":
        recorder = RecordingBackend(clock)
        backend = recorder
        health.report("audio", "ok", "recording what would play (no speaker)", now)
    else:
        backend = AplayBackend(audio.device)
        if shutil.which("aplay") is None:
            health.report("audio", "failed", "aplay not installed (alsa-utils)", now)
        else:
            health.report("audio", "ok", f"aplay on {audio.device}", now)

    def failed(reason: str) -> None:
        health.report("audio", "failed", reason, clock.monotonic())

    def played() -> None:
        health.report("audio", "ok", f"played through {audio.player}", clock.monotonic())

    player = ClipPlayer(
        library,
        backend,
        clock,
        amp=amp.set,
        amp_warmup_s=audio.amp_warmup_s,
        on_error=failed,
        on_ok=played,
    )
    return player, recorder


def build_warnings(
    config: PoleConfig,
    *,
    profile: BoardProfile,
    pin_factory: Any,
    clock: Clock,
    health: HealthBoard,
    beacons: BeaconOutput,
    status_led: StatusLed,
    kernel_clock_sync: Callable[[], bool | None] | None = None,
) -> WarningParts:
    """Raises SetupError (a bad calendar file, unusable pins); a missing speaker or clip only
    degrades the pole (health ``audio``)."""
    calendar = None
    if config.zone.calendar_file is not None:
        try:
            calendar = load_calendar(config.zone.calendar_file)
        except ConfigError as err:
            raise SetupError(f"zone.calendar_file: {err}") from None
    trust = ClockTrust(
        TimeMark(config.state_dir / CLOCK_MARK_FILE),
        kernel_sync=kernel_clock_sync or kernel_clock_synchronised,
    )
    schedule = ZoneSchedule(config.zone, calendar, trust=trust.verdict)
    policy = WarningPolicy(config.warning, config.sign, config.child_warning, config.audio)
    failsafe = FailSafe(
        start_t=clock.monotonic(),
        startup_grace_s=config.warning.startup_grace_s,
        recovery_s=config.warning.fail_safe_recovery_s,
    )
    try:
        sign: SignOutput = GpioSignMessages(profile, pin_factory)
        display: SpeedDisplay = NoSpeedDisplay()
        link: SerialSignLink | None = None
        if profile.speed_display.kind == "shift_register":
            display = ShiftRegisterDisplay(profile, pin_factory)
        elif profile.speed_display.kind == "serial":
            assert profile.speed_display.port is not None  # the profile's validator says so

            def sign_health(state: str, reason: str) -> None:
                level: HealthState = "ok" if state == "ok" else "failed"
                health.report("sign", level, reason, clock.monotonic())

            link = SerialSignLink(
                profile.speed_display.port, profile.speed_display.baud, on_health=sign_health
            )
            display = link
            if not profile.lines("sign_message"):
                sign = SerialSignMessages(link)
        amp = OutputLineSwitch(profile, pin_factory, "speaker_enable")
        heartbeat = HeartbeatPin(profile, pin_factory)
    except Exception as err:  # gpiozero raises many kinds when pins are unusable
        raise SetupError(f"outputs: cannot drive the GPIO pins: {err}") from err
    voice, recorder = _voice(config, clock, health, amp)
    # Only a serial sign controller can show a text; preset lines (GPIO) cannot.
    operator_sign = OperatorSign(sign, clock, shows_text=isinstance(sign, SerialSignMessages))
    sign = operator_sign
    outputs = WarningOutputs(
        clock=clock,
        policy=policy,
        failsafe=failsafe,
        schedule=schedule,
        health=health,
        beacons=beacons,
        sign=sign,
        display=display,
        voice=voice,
        status=status_led,
        heartbeat=heartbeat,
        audio=config.audio,
        heartbeat_hz=config.warning.heartbeat_hz,
        clock_trust=trust,
    )
    return WarningParts(
        schedule=schedule,
        calendar=calendar,
        clock_trust=trust,
        clock_saver=ClockMarkSaver(trust, clock),
        policy=policy,
        failsafe=failsafe,
        sign=sign,
        display=display,
        speaker_amp=amp,
        heartbeat=heartbeat,
        voice=voice,
        recorder=recorder,
        outputs=outputs,
        sign_link=link,
        operator_sign=operator_sign,
    )
