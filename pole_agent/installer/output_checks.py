"""Step 2 of `pole-agent commission`: every warning output driven in turn while the installer
looks (or listens) and answers y/n. A "no" is a failure in the report, with what to check.

The outputs are built by the agent's own wiring (``warning_setup.build_warnings``), so the
installer tests the sign, digits and speaker exactly as the agent will drive them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, get_args

from pole_agent.audio.player import ClipPlayer
from pole_agent.board_profile import BoardProfile
from pole_agent.config import PoleConfig, SignMessage
from pole_agent.drivers.gpio_outputs import GpioBeacons, StatusLed, make_pin_factory
from pole_agent.health import HealthBoard
from pole_agent.installer.prompts import Prompter
from pole_agent.installer.report import CheckResult
from pole_agent.ports import Clock
from pole_agent.warning_setup import SetupError, WarningParts, build_warnings

#: The speed shown on the digits: two different digits, so a dead segment shows.
TEST_SPEED_KMH = 42
#: How long to wait for the spoken message to finish playing (real seconds).
VOICE_WAIT_S = 60.0

WIRING_FIX = {
    "beacons": "check the output board channel, the 24 V fuse and the lamps",
    "status LED": "check the LED and its wiring in the cabinet",
    "heartbeat": "check the watchdog relay board's input and its supply",
    "sign": "check the sign controller's preset inputs and the output board channels",
    "speed display": "check the display's cable (data, clock, latch) and its supply",
    "voice": "check the amplifier (enable line, supply), the speaker cable and the volume",
}


Action = Callable[[], None]
Drive = Callable[[], str | None]
"""Switches an output on; may return what the tool measured (said in the report) or raise
OutputError for a fault it saw itself."""


class _Checks:
    """Runs the look-and-answer checks, each output switched off whatever the answer."""

    def __init__(self, ask: Prompter) -> None:
        self.ask = ask
        self.results: list[CheckResult] = []

    def check(self, key: str, name: str, question: str, on: Drive, off: Action) -> None:
        """Drive the output with ``on``, ask, then ``off`` (whatever happens). A fault the tool
        saw is a failure even if the installer answers yes (the question is still asked)."""
        problem: str | None = None
        detail = "confirmed by the installer"
        try:
            measured = on()
            if measured:
                detail = f"{measured}; {detail}"
        except OutputError as err:
            problem = str(err)
        try:
            seen = self.ask.confirm(key, question)
        finally:
            off()
        family = "sign" if name.startswith("sign") else name
        fix = WIRING_FIX.get(family, "check the wiring")
        if problem is not None:
            self.results.append(CheckResult(name=name, outcome="fail", detail=problem, fix=fix))
        elif seen:
            self.results.append(CheckResult(name=name, outcome="pass", detail=detail))
        else:
            self.results.append(
                CheckResult(
                    name=name, outcome="fail", detail="the installer did not see it", fix=fix
                )
            )


class OutputError(Exception):
    """The tool itself saw the output fail (the speaker refused or failed to play)."""


def sign_messages(profile: BoardProfile, parts: WarningParts) -> list[str]:
    """The messages this pole's sign can show: its preset lines, or all on a serial sign."""
    wired: list[str] = sorted(
        {line.message for line in profile.lines("sign_message") if line.message}
    )
    if wired:
        return wired
    return list(get_args(SignMessage)) if parts.sign_link is not None else []


def play_and_wait(voice: object, clips: tuple[str, ...], volume: float) -> str:
    """Play the message and wait until it has played: its length and level, or OutputError."""
    if not isinstance(voice, ClipPlayer):
        raise OutputError("no speaker: the audio player is off or the clips are unusable")
    before, failures = len(voice.played), voice.failures
    if not voice.play(clips, volume, "commissioning"):
        raise OutputError(f"the speaker refused {' + '.join(clips)} (unknown clip?)")
    deadline = time.monotonic() + VOICE_WAIT_S
    while time.monotonic() < deadline:
        if voice.failures > failures:
            raise OutputError("playback failed (the log says why: aplay, ALSA device)")
        if len(voice.played) > before:
            played = voice.played[-1]
            return (
                f"played {' + '.join(played.clips)}: {played.duration_s:.1f} s, "
                f"level {played.rms:.3f} rms"
            )
        time.sleep(0.05)
    raise OutputError(f"the message had not played after {VOICE_WAIT_S:g} s")


def outputs_step(
    config: PoleConfig,
    profile: BoardProfile,
    ask: Prompter,
    clock: Clock,
    pin_factory: Any = None,
) -> list[CheckResult]:
    """Beacons, status LED, heartbeat, each sign message, a speed on the digits and the child
    warning's spoken message on the speaker."""
    factory = pin_factory or make_pin_factory(config.outputs.pin_factory)
    try:
        beacons = GpioBeacons(
            profile, factory, flash_hz=config.warning.flash_hz, duty=config.warning.flash_duty
        )
        led = StatusLed(profile, factory)
        parts = build_warnings(
            config,
            profile=profile,
            pin_factory=factory,
            clock=clock,
            health=HealthBoard(),
            beacons=beacons,
            status_led=led,
        )
    except (SetupError, Exception) as err:  # gpiozero raises many kinds when pins are unusable
        return [
            CheckResult(
                name="outputs",
                outcome="fail",
                detail=f"cannot drive the outputs: {err}",
                fix="check the board profile ([outputs] board) and the user's gpio group",
            )
        ]
    checks = _Checks(ask)
    if parts.sign_link is not None:
        parts.sign_link.start()
    try:
        _each_output(checks, config, profile, parts, beacons, led)
    finally:
        parts.close()  # the sign link too: it is the display on a serial sign
        beacons.close()
        led.close()
    return checks.results


def _each_output(  # noqa: PLR0917 - one call site, all parts of one step
    checks: _Checks,
    config: PoleConfig,
    profile: BoardProfile,
    parts: WarningParts,
    beacons: GpioBeacons,
    led: StatusLed,
) -> None:
    checks.check(
        "beacons", "beacons", "Are the beacons flashing?", beacons.activate, beacons.deactivate
    )
    checks.check(
        "status_led",
        "status LED",
        "Is the status LED on?",
        lambda: led.set(True),
        lambda: led.set(False),
    )
    if profile.lines("heartbeat"):
        heart = parts.heartbeat

        def pulse() -> None:  # slow enough to see: 2 blinks over 2 s
            for _ in range(4):
                heart.toggle()
                time.sleep(0.5)

        checks.check(
            "heartbeat", "heartbeat", "Did the heartbeat LED/relay pulse?", pulse, lambda: None
        )
    for message in sign_messages(profile, parts):

        def show(m: str = message) -> None:
            parts.sign.show(m)

        checks.check(
            f"outputs.sign.{message}",
            f"sign {message}",
            f"Does the sign show {message!r}?",
            show,
            lambda: parts.sign.show(None),
        )
    if profile.speed_display.kind != "none":
        checks.check(
            "speed_display",
            "speed display",
            f"Does the speed display show {TEST_SPEED_KMH}?",
            lambda: parts.display.show(TEST_SPEED_KMH),
            lambda: parts.display.show(None),
        )
    clips = config.child_warning.message
    checks.ask.say(f"   playing the child warning ({' + '.join(clips)}) ...")
    checks.check(
        "voice",
        "voice",
        "Did the speaker just say the child warning, clearly?",
        lambda: play_and_wait(parts.voice, clips, config.audio.volume),
        lambda: None,
    )
