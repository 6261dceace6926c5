"""The checks `pole-agent selftest` runs (docs/installer.md#check-the-pole-pole-agent-selftest):
through the running agent's status socket when it answers, directly on the parts otherwise."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from pole_agent.board_profile import resolve_profile
from pole_agent.config import PoleConfig
from pole_agent.decisions.clock_trust import kernel_clock_synchronised
from pole_agent.drivers.gpio_outputs import GpioBeacons, StatusLed, make_pin_factory
from pole_agent.drivers.serial_radar import SerialRadar
from pole_agent.health import HealthBoard
from pole_agent.installer.report import CheckResult
from pole_agent.perception.radar_model import DEFAULT_MODEL, ModelError, RadarModel
from pole_agent.ports import Clock
from pole_agent.preflight import preflight
from pole_agent.status_socket import StatusSnapshot, StatusUnavailableError, query, socket_path

DISK_FAIL_FRACTION, DISK_WARN_FRACTION = 0.05, 0.15
OUTPUT_PARTS = ("outputs", "sign", "speaker", "voice", "audio", "heartbeat", "display")


def fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name=name, outcome="fail", detail=detail, fix=fix)


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, outcome="pass", detail=detail)


# -- checks through the running agent -----------------------------------------------------------


def radar_from_agent(snap: StatusSnapshot) -> CheckResult:
    name = "radar answers and reports"
    health = snap.health.get("radar.road") or snap.health.get("radar")
    road = next((r for r in snap.radars if r.role == "road"), None)
    if health is None or road is None:
        return fail(name, "the agent has no road radar state yet", "retry in a minute")
    if health.state != "ok":
        return fail(
            name,
            f"{road.port}: {health.state} ({health.reason})",
            "check the radar's cable and power; `pole-agent status` shows it live",
        )
    ident = road.identity or {}
    who = " ".join(str(ident[k]) for k in ("product", "version", "uid") if ident.get(k))
    return passed(name, f"{road.port}: {who or 'identity not read'}; {snap.frames} frames (agent)")


def outputs_from_agent(snap: StatusSnapshot) -> CheckResult:
    name = "outputs reachable"
    bad = [
        f"{n} {h.state} ({h.reason})"
        for n, h in snap.health.items()
        if any(n == p or n.startswith(p + ".") for p in OUTPUT_PARTS) and h.state == "failed"
    ]
    if bad:
        return fail(name, "; ".join(bad), "check the output wiring and fuses (docs/warnings.md)")
    if snap.mode == "fail_safe":
        return fail(name, f"pole in fail-safe: {snap.mode_reason}", "see `pole-agent status`")
    return passed(name, f"held by the agent, mode {snap.mode}")


def models_from_agent(snap: StatusSnapshot) -> CheckResult:
    name = "models load"
    bad = [
        f"{n}: {h.reason}"
        for n, h in snap.health.items()
        if n.startswith(("model", "camera")) and h.state == "failed"
    ]
    if bad:
        return fail(name, "; ".join(bad), "reinstall the release (models ship with it)")
    return passed(name, "no model reported failed by the agent")


def clock_from_agent(snap: StatusSnapshot) -> CheckResult:
    name = "clock trusted"
    if snap.clock_trusted is False:
        return CheckResult(
            name=name,
            outcome="warn",
            detail="not trusted: the pole runs its school-hours (conservative) schedule",
            fix="check NTP (timedatectl) and the network",
        )
    return passed(name, "trusted by the agent")


# -- checks with the agent stopped --------------------------------------------------------------


def radar_direct(config: PoleConfig, clock: Clock, timeout_s: float) -> CheckResult:
    """Open the road radar's port through the real driver and wait for a healthy start-up."""
    name = "radar answers and reports"
    health = HealthBoard()
    frames: list[float] = []
    radar = SerialRadar(
        config.radars.road,
        clock,
        lambda parsed: frames.append(1.0),
        lambda now: None,
        health=health,
    )
    radar.start()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            state = health.get(radar.name)
            if state is not None and state.state == "ok" and radar.identity is not None:
                break
            time.sleep(0.05)
    finally:
        radar.stop()
    state = health.get(radar.name)
    port = config.radars.road.port
    if radar.identity is None or state is None or state.state != "ok":
        why = state.reason if state is not None else f"no answer within {timeout_s:g} s"
        return fail(
            name,
            f"{port}: {why}",
            "check the radar's USB cable and power, and that the udev symlink exists",
        )
    ident = radar.identity
    who = " ".join(x for x in (ident.product, ident.version, ident.uid) if x)
    return passed(name, f"{port}: {who}; settings verified")


def outputs_direct(config: PoleConfig, hw_dirs: list[Path]) -> CheckResult:
    name = "outputs reachable"
    try:
        profile = resolve_profile(config.outputs.board, hw_dirs)
        factory = make_pin_factory(config.outputs.pin_factory)
        beacons = GpioBeacons(
            profile, factory, flash_hz=config.warning.flash_hz, duty=config.warning.flash_duty
        )
        led = StatusLed(profile, factory)
    except Exception as err:  # gpiozero raises many kinds when pins are unusable
        return fail(name, f"cannot drive the GPIO pins: {err}", "check groups (gpio) and board")
    beacons.close()
    led.close()
    return passed(name, f"board {config.outputs.board}: beacon and status LED pins claimed")


def models_direct(config: PoleConfig) -> CheckResult:
    name = "models load"
    loaded: list[str] = []
    kerb = config.radars.kerb
    if kerb is not None and config.kerb_model.enabled:
        path = config.kerb_model.path or DEFAULT_MODEL
        try:
            RadarModel.load(path, sampling_rate_hz=kerb.sample_rate_hz)
        except ModelError as err:
            return fail(name, f"kerb model: {err}", "reinstall the release (models ship with it)")
        loaded.append(path.name)
    camera = config.camera
    if camera is not None and camera.enabled:
        for item in (camera.model_path, camera.label_map):
            if item is not None and not item.is_file():
                return fail(name, f"camera: {item} missing", "reinstall the camera model files")
            if item is not None:
                loaded.append(item.name)
    if not loaded:
        return CheckResult(name=name, outcome="skip", detail="no model configured")
    return passed(name, ", ".join(loaded))


def clock_direct(sync: Callable[[], bool | None]) -> CheckResult:
    name = "clock trusted"
    synced = sync()
    if synced:
        return passed(name, "kernel clock synchronised")
    return CheckResult(
        name=name,
        outcome="warn",
        detail="kernel clock " + ("not synchronised" if synced is False else "state unknown"),
        fix="check NTP (timedatectl) and the network; the agent keeps a conservative schedule",
    )


# -- checks either way --------------------------------------------------------------------------


def disk_check(state_dir: Path) -> CheckResult:
    name = "disk"
    try:
        usage = shutil.disk_usage(state_dir)
    except OSError as err:
        return fail(name, f"{state_dir}: {err.strerror or err}", "create the state dir")
    free = usage.free / usage.total if usage.total else 0.0
    detail = f"{state_dir}: {usage.free / 1e6:.0f} MB free ({free:.0%})"
    if free < DISK_FAIL_FRACTION:
        return fail(name, detail, "free space: old logs, `pole-agent update` leftovers")
    if free < DISK_WARN_FRACTION:
        return CheckResult(name=name, outcome="warn", detail=detail, fix="free some space soon")
    return passed(name, detail)


def run_checks(
    config: PoleConfig,
    *,
    clock: Clock,
    hw_dirs: list[Path],
    kernel_clock_sync: Callable[[], bool | None] = kernel_clock_synchronised,
    radar_timeout_s: float = 15.0,
) -> tuple[bool, list[CheckResult]]:
    """Every check but the broker's; returns (agent running, checks)."""
    problems = preflight(config, hw_dirs)
    checks = [
        fail("config", "; ".join(problems), "fix the config (`pole-agent config check`)")
        if problems
        else passed("config", "valid, files present with safe modes")
    ]
    try:
        snap: StatusSnapshot | None = query(socket_path(config.state_dir))
    except StatusUnavailableError:
        snap = None
    if snap is not None:
        checks += [
            passed("agent", f"running, pid {snap.pid}, mode {snap.mode}"),
            radar_from_agent(snap),
            outputs_from_agent(snap),
            models_from_agent(snap),
            clock_from_agent(snap),
        ]
    else:
        checks += [
            CheckResult(
                name="agent", outcome="warn", detail="not running: checking parts directly"
            ),
            radar_direct(config, clock, radar_timeout_s),
            outputs_direct(config, hw_dirs),
            models_direct(config),
            clock_direct(kernel_clock_sync),
        ]
    checks.append(disk_check(config.state_dir))
    return snap is not None, checks
