"""The board and radar steps of `pole-agent commission` (docs/installer.md): each checks one
thing with the installer, says what passed and what to do on failure, and returns its results.

The radar is opened through the agent's own driver with ``save_to_flash`` set: the driver applies
the pole's settings, saves them in the sensor's flash (``A!``) and re-reads them (``??``, ``?P``,
``?V``, ``?U``), so what was saved is what was verified."""

from __future__ import annotations

import glob
import grp
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pole_agent.board_profile import BoardProfile, resolve_profile
from pole_agent.config import PoleConfig, RadarConfig
from pole_agent.drivers.serial_radar import SerialRadar
from pole_agent.health import HealthBoard
from pole_agent.installer.prompts import Prompter
from pole_agent.installer.report import CheckResult
from pole_agent.perception.radar_lines import SpeedFrame
from pole_agent.ports import Clock

GROUPS = ("gpio", "dialout", "audio")


def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, outcome="pass", detail=detail)


def bad(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name=name, outcome="fail", detail=detail, fix=fix)


# -- 1. board, groups and permissions ------------------------------------------------------------


def board_step(
    config: PoleConfig, hw_dirs: list[Path]
) -> tuple[BoardProfile | None, list[CheckResult]]:
    try:
        profile = resolve_profile(config.outputs.board, hw_dirs)
    except Exception as err:
        return None, [bad("board profile", str(err), "set [outputs] board to a file in hw/boards")]
    results = [ok("board profile", f"{profile.name}: {len(profile.outputs)} output lines")]
    if os.getuid() == 0:
        results.append(ok("groups", "running as root"))
    else:
        mine = {grp.getgrgid(g).gr_name for g in os.getgroups()}
        missing = [g for g in GROUPS if g not in mine]
        results.append(
            bad("groups", f"not in {', '.join(missing)}", f"usermod -aG {','.join(missing)} $USER")
            if missing
            else ok("groups", ", ".join(GROUPS))
        )
    return profile, results


# -- 3. radar: find, identify, live read-out, drive-by -----------------------------------


def candidate_ports(configured: str) -> list[str]:
    """The configured port, then udev symlinks, then likely devices (in that order, once)."""
    found = [configured, "/dev/radar-road", *sorted(glob.glob("/dev/serial/by-id/*"))]
    found += sorted(glob.glob("/dev/ttyACM*")) + sorted(glob.glob("/dev/ttyUSB*"))
    return [p for i, p in enumerate(found) if p not in found[:i] and os.path.exists(p)]


@dataclass
class RadarSession:
    """A radar opened through the real driver for commissioning: identity and speed frames."""

    config: RadarConfig
    clock: Clock
    frames: list[SpeedFrame] = field(default_factory=list)
    health: HealthBoard = field(default_factory=HealthBoard)
    radar: SerialRadar | None = None

    def open(self, timeout_s: float) -> bool:
        """Start the driver; True once the start-up dialogue ended with an identity (settings
        verified or not: ``problems`` says which did not take)."""

        def on_parsed(parsed: object) -> None:
            if isinstance(parsed, SpeedFrame):
                self.frames.append(parsed)

        self.radar = SerialRadar(
            self.config, self.clock, on_parsed, lambda now: None, health=self.health
        )
        self.radar.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.health.get(self.radar.name)
            if (
                state is not None
                and state.state in ("ok", "degraded")
                and self.radar.identity is not None
            ):
                return True
            time.sleep(0.05)
        return False

    @property
    def problems(self) -> list[str]:
        return list(self.radar.stats.problems) if self.radar is not None else []

    def reason(self) -> str:
        state = self.health.get("radar.road")
        return state.reason if state is not None else "no answer"

    def close(self) -> None:
        if self.radar is not None:
            self.radar.stop()


def find_radar(
    config: PoleConfig, clock: Clock, timeout_s: float, say: Callable[[str], None]
) -> tuple[RadarSession | None, list[CheckResult]]:
    """Try the candidate ports; on the one that answers, apply the settings, save them to the
    sensor's flash and read them back."""
    tried: list[str] = []
    ports = candidate_ports(config.radars.road.port) or [config.radars.road.port]
    for number, port in enumerate(ports, start=1):
        radar_config = config.radars.road.model_copy(update={"port": port, "save_to_flash": True})
        session = RadarSession(radar_config, clock)
        say(f"   trying {port} ({number} of {len(ports)}, up to {timeout_s:g} s) ...")
        if session.open(timeout_s):
            return session, radar_results(session, port, tried)
        tried.append(f"{port}: {session.reason()}")
        session.close()
    return None, [
        bad(
            "radar found",
            "; ".join(tried) or f"no serial device ({config.radars.road.port} absent)",
            "check the radar's USB cable and power, and the udev rule (hw/udev/README.md)",
        )
    ]


def radar_results(session: RadarSession, port: str, tried: list[str]) -> list[CheckResult]:
    assert session.radar is not None and session.radar.identity is not None
    ident = session.radar.identity
    who = " ".join(x for x in (ident.product, ident.version, ident.uid) if x)
    flash = [p for p in session.problems if "A!" in p]
    settings = [p for p in session.problems if "A!" not in p]
    results = [
        ok("radar found", port + (f" (tried {', '.join(tried)})" if tried else "")),
        ok("radar identity", who or ident.model),
        bad(
            "radar settings",
            "not verified: " + "; ".join(settings),
            "check the sensor's firmware and model (radars.road.model); docs/radar.md",
        )
        if settings
        else ok("radar settings", "applied and read back: km/h, JSON, sampling rate, filters"),
    ]
    if flash:
        results.append(
            bad(
                "radar saved to flash",
                "; ".join(flash),
                "the agent still applies the settings at every start; if the sensor keeps "
                "refusing A!, update its firmware (docs/radar.md)",
            )
        )
    elif settings:
        results.append(
            bad(
                "radar saved to flash",
                "saved (A! answered), but the settings saved are not all the pole's",
                "fix the settings above and commission again",
            )
        )
    else:
        results.append(
            ok("radar saved to flash", "A! answered; the settings re-read after it are the pole's")
        )
    return results


def drive_by_step(
    session: RadarSession, ask: Prompter, seconds: float
) -> tuple[list[CheckResult], dict[str, float]]:
    """Live read-out while a test vehicle drives past, then the known speed: error and angle."""
    ask.say(f"Drive the test vehicle past now: reading the radar for {seconds:g} s ...")
    start = len(session.frames)
    deadline = time.monotonic() + seconds
    shown = start
    next_note = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if time.monotonic() >= next_note:
            next_note += 5.0
            ask.say(f"  ... {max(0.0, deadline - time.monotonic()):.0f} s left")
        fresh = session.frames[shown:]
        shown += len(fresh)
        if fresh:
            peak = max(abs(f.speed_kmh) for f in fresh)
            ask.say(
                f"  radial speed {peak:5.1f} km/h"
                + (f", range {fresh[-1].range_m:.1f} m" if fresh[-1].range_m else "")
            )
    seen = session.frames[start:]
    if not seen:
        return [
            bad("drive-by", "no vehicle seen", "drive past within the radar's beam and retry")
        ], {}
    radial = max(abs(f.speed_kmh) for f in seen)
    known = ask.number("known_speed_kmh", "What speed did the test vehicle drive (km/h)?")
    angle = session.config.mounting_angle_deg
    measured = radial / math.cos(math.radians(angle))
    error = measured - known
    data = {
        "radial_kmh": radial,
        "measured_kmh": measured,
        "known_kmh": known,
        "configured_angle_deg": angle,
        "error_kmh": error,
    }
    if known <= 0 or radial > known * 1.02:
        return [
            bad(
                "drive-by",
                f"radial {radial:.1f} km/h above the known {known:g} km/h",
                "check the known speed; the radar may be mis-set (units)",
            )
        ], data
    proposed = math.degrees(math.acos(min(1.0, radial / known)))
    data["proposed_angle_deg"] = proposed
    detail = (
        f"known {known:g} km/h, measured {measured:.1f} km/h at {angle:g} deg "
        f"(error {error:+.1f} km/h); the speeds fit a mounting angle of {proposed:.1f} deg"
    )
    if abs(error) <= max(2.0, 0.05 * known):
        return [ok("drive-by", detail)], data
    setting = f"radars.road.mounting_angle_deg = {proposed:.1f}"
    results = [
        CheckResult(name="drive-by", outcome="warn", detail=detail, fix=f"set {setting} (proposed)")
    ]
    if ask.confirm("radar.accept_angle", f"Write {setting} into the config?"):
        data["accepted_angle_deg"] = round(proposed, 1)
        results.append(
            ok("mounting angle", f"{angle:g} -> {proposed:.1f} deg, written to the config")
        )
    else:
        results.append(
            CheckResult(
                name="mounting angle",
                outcome="warn",
                detail=f"kept {angle:g} deg: speeds will read {error:+.1f} km/h at {known:g} km/h",
                fix=f"measure the angle again, or set {setting}",
            )
        )
    return results, data
