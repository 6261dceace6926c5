"""`pole-agent commission`: brings a pole into service with the installer, step by step, or from
an answers file for fleets (docs/installer.md#commission-a-pole-pole-agent-commission).

Steps: board and permissions; outputs, each confirmed by the installer (beacons, status LED,
heartbeat, sign messages, a speed on the digits, the spoken warning); the radar found, its
settings applied, saved to its flash and read back, a live read-out during a drive-by and the
mounting-angle correction it implies; the camera's road snapshot and ground-plane points; the zone
and site; secrets (the pole's own password, shared with no other pole); the network (broker with
the pole's credentials, a test publish seen back). It refuses to write the config with default or
shared secrets; it writes the config atomically, and a report as JSON and HTML in
``<state_dir>/commissioning/``, published retained on ``spole/<id>/commissioning`` (the JSON with
the HTML page in ``page_html``) when the broker is reachable. Exit 1 when a check failed.
"""

from __future__ import annotations

import argparse
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pole_agent import __version__
from pole_agent.atomic_file import write_atomic
from pole_agent.board_profile import default_hw_dirs
from pole_agent.clock import SystemClock
from pole_agent.config import INLINE_SECRET_KEYS, ConfigError, PoleConfig, load_config
from pole_agent.drivers.mqtt_link import MqttSubscriber
from pole_agent.installer import steps
from pole_agent.installer.camera_step import CameraOutcome, camera_step
from pole_agent.installer.output_checks import outputs_step
from pole_agent.installer.prompts import AnswerError, AnswersPrompter, Prompter, TerminalPrompter
from pole_agent.installer.report import (
    CheckResult,
    RoadPicture,
    html_report,
    table,
)
from pole_agent.installer.secret_checks import secrets_step
from pole_agent.installer.selftest import publish, seconds_arg
from pole_agent.installer.toml_out import TomlWriteError, dumps
from pole_agent.installer.zone_step import ZoneAnswers, zone_step
from pole_agent.perception.camera.detection import Detector
from pole_agent.ports import Clock
from pole_agent.telemetry import topics

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommissioningReport(BaseModel):
    """The JSON report for the city (``report.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pole_id: str = Field(description="The pole.")
    version: str = Field(description="Agent version.")
    ts: str = Field(description="When commissioning ended (ISO 8601, UTC).")
    location: str = Field(description="The place name the installer gave.")
    latitude: float | None = Field(description="WGS84 latitude, if given.")
    longitude: float | None = Field(description="WGS84 longitude, if given.")
    language: str = Field(description="Languages of the voice, '+'-joined (e.g. 'ko+en').")
    ok: bool = Field(description="No check failed.")
    config_written: bool = Field(description="Whether the final config was written.")
    drive_by: dict[str, float] = Field(description="Drive-by figures (km/h, degrees).")
    snapshot: str | None = Field(description="The road snapshot's file name, if one was taken.")
    checks: list[CheckResult] = Field(description="Every check, in order.")


class PublishedReport(CommissioningReport):
    """What is published on ``spole/<id>/commissioning``: the report and its HTML page."""

    page_html: str = Field(
        default="",
        description="report.html, self-contained (snapshot inline); empty in the Last Will.",
    )


def network_step(config: PoleConfig, clock: Clock, payload: bytes, timeout_s: float) -> CheckResult:
    """Publish ``payload`` retained on the commissioning topic with the pole's credentials and see
    it come back through a subscription."""
    if config.mqtt is None:
        return CheckResult(
            name="network",
            outcome="fail",
            detail="no [mqtt] configured",
            fix="configure the broker",
        )
    topic = f"{topics.PREFIX}/{config.pole_id}/commissioning"
    seen = threading.Event()
    password = None
    if config.mqtt.password_file is not None:
        try:
            password = config.mqtt.password_file.read_text(encoding="utf-8").strip()
        except OSError:
            password = None
    tls = config.mqtt.tls
    watcher = MqttSubscriber(
        host=config.mqtt.host,
        port=config.mqtt.port,
        client_id=f"spole-{config.pole_id}-commission-watch",
        filters=[topic],
        on_message=lambda t, p, r: seen.set() if p == payload else None,
        username=config.mqtt_username or config.pole_id,
        password=password,
        ca_file=tls.ca_file if tls is not None else None,
        session_expiry_s=0,
    )
    watcher.start()
    try:
        watcher.wait_subscribed(timeout_s)
        result = publish(
            config, lambda ok: payload, clock, timeout_s, topic=topic, tool="commission"
        )
        if result.outcome == "pass" and not seen.wait(timeout_s):
            return CheckResult(
                name="network",
                outcome="fail",
                detail="published but not seen back",
                fix="check the broker's ACL for spole/<id>/#",
            )
    finally:
        watcher.stop()
    return (
        result.model_copy(update={"name": "network", "detail": result.detail + ", seen back"})
        if result.outcome == "pass"
        else result.model_copy(update={"name": "network"})
    )


def write_config(source: Path, dest: Path, changes: dict[str, dict[str, Any] | Any]) -> PoleConfig:
    """Apply ``changes`` (top-level keys or one level of tables) to the source TOML, check that
    the result loads, and replace ``dest`` atomically (0600 when it would hold a secret inline,
    else 0640). Raises ConfigError or TomlWriteError; ``dest`` is untouched then."""
    data: dict[str, Any] = tomllib.loads(source.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict):
            table = data.setdefault(key, {})
            for sub, item in value.items():
                if isinstance(item, dict):
                    table.setdefault(sub, {}).update(item)
                else:
                    table[sub] = item
        else:
            data[key] = value
    # Relative paths in the source are relative to it: keep them so by writing beside it first.
    text = dumps(data)
    trial = dest.with_name(f".{dest.name}.check")
    write_atomic(trial, text.encode(), 0o600)
    try:
        config = load_config(trial)
    finally:
        trial.unlink(missing_ok=True)
    secret = any(k in INLINE_SECRET_KEYS for k in _all_keys(data))
    write_atomic(dest, text.encode(), 0o600 if secret else 0o640)
    return config


def _all_keys(data: dict[str, Any]) -> list[str]:
    keys: list[str] = []
    for key, value in data.items():
        keys.append(key)
        if isinstance(value, dict):
            keys += _all_keys(value)
    return keys


class _Run:
    """One commissioning run: the steps print as they go and collect their checks."""

    def __init__(self, ask: Prompter) -> None:
        self.ask = ask
        self.checks: list[CheckResult] = []

    def step(self, title: str, results: list[CheckResult]) -> None:
        self.ask.say(f"== {title}")
        for line in table(results)[2:]:
            self.ask.say("   " + line)
        self.checks.extend(results)


def commission(
    config_path: Path,
    out_path: Path,
    ask: Prompter,
    *,
    clock: Clock,
    hw_dirs: list[Path] | None = None,
    radar_timeout_s: float = 15.0,
    drive_by_s: float = 20.0,
    broker_timeout_s: float = 15.0,
    pin_factory: Any = None,
    fleet_passwords: Path | None = None,
    camera_detector: Detector | None = None,
) -> CommissioningReport:
    """Run every step; write the config (unless secrets fail) and the report."""
    config = load_config(config_path)
    run = _Run(ask)
    ask.say(f"Commissioning pole {config.pole_id} (config {config_path})")
    profile, results = steps.board_step(config, hw_dirs or default_hw_dirs())
    run.step("1. board and permissions", results)
    if profile is not None:
        ask.say("== 2. outputs: each is switched on in turn; look (or listen) and answer")
        run.step("2. outputs", outputs_step(config, profile, ask, clock, pin_factory))
    ask.say("== 3. radar: looking for the sensor, applying and saving its settings ...")
    session, results = steps.find_radar(config, clock, radar_timeout_s, ask.say)
    drive: dict[str, float] = {}
    try:
        if session is not None:
            more, drive = steps.drive_by_step(session, ask, drive_by_s)
            results += more
    finally:
        if session is not None:
            session.close()
    run.step("3. radar", results)
    ask.say("== 4. camera")
    results, camera = camera_step(config, ask, detector=camera_detector)
    run.step("4. camera", results)
    ask.say("== 5. zone and site: Enter keeps the value shown")
    results, zone = zone_step(config, ask)
    run.step("5. zone and site", results)
    final = config.model_copy(update={"pole_id": zone.pole_id})
    secrets = secrets_step(final, ask, fleet_passwords)
    run.step("6. secrets", secrets)
    ask.say("== 7. network: connecting with the pole's credentials ...")
    nonce = clock.wall().isoformat()
    payload = f'{{"test": "{nonce}"}}'.encode()
    run.step("7. network", [network_step(final, clock, payload, broker_timeout_s)])
    written = _write(run, config_path, out_path, secrets, _changes(zone, session, drive, camera))
    report = _report(
        run,
        final,
        zone,
        clock=clock,
        timeout_s=broker_timeout_s,
        written=written,
        drive=drive,
        camera=camera,
    )
    ask.say(f"report: {final.state_dir / 'commissioning' / 'report.html'}")
    ask.say("PASSED" if report.ok else "FAILED")
    return report


def _changes(
    zone: ZoneAnswers,
    session: steps.RadarSession | None,
    drive: dict[str, float],
    camera: CameraOutcome,
) -> dict[str, Any]:
    changes = zone.changes()
    road: dict[str, Any] = {}
    if session is not None:
        road["port"] = session.config.port
    if "accepted_angle_deg" in drive:
        road["mounting_angle_deg"] = drive["accepted_angle_deg"]
    if road:
        changes["radars"] = {"road": road}
    if camera.calibration is not None:
        changes["camera"] = {"calibration": camera.calibration}
    return changes


def _write(
    run: _Run,
    source: Path,
    dest: Path,
    secrets: list[CheckResult],
    changes: dict[str, Any],
) -> bool:
    refused = next((c for c in secrets if c.outcome == "fail"), None)
    if refused is not None:
        run.checks.append(
            CheckResult(
                name="config written",
                outcome="fail",
                detail="refused: the secrets are not the pole's own",
                fix=refused.fix,
            )
        )
        return False
    try:
        write_config(source, dest, changes)
    except (ConfigError, TomlWriteError, OSError) as err:
        run.checks.append(
            CheckResult(
                name="config written",
                outcome="fail",
                detail=str(err),
                fix="fix the config by hand and run again",
            )
        )
        return False
    run.checks.append(CheckResult(name="config written", outcome="pass", detail=str(dest)))
    return True


def _report(
    run: _Run,
    config: PoleConfig,
    zone: ZoneAnswers,
    *,
    clock: Clock,
    timeout_s: float,
    written: bool,
    drive: dict[str, float],
    camera: CameraOutcome,
) -> CommissioningReport:
    position = zone.position or (None, None)
    report = CommissioningReport(
        pole_id=zone.pole_id,
        version=__version__,
        ts=clock.wall().isoformat(timespec="seconds"),
        location=zone.place,
        latitude=position[0],
        longitude=position[1],
        language="+".join(zone.languages),
        ok=all(c.outcome != "fail" for c in run.checks),
        config_written=written,
        drive_by=drive,
        snapshot=camera.snapshot.name if camera.snapshot is not None else None,
        checks=run.checks,
    )
    folder = config.state_dir / "commissioning"
    write_atomic(folder / "report.json", report.model_dump_json(indent=2).encode(), 0o640)
    picture = None
    if camera.snapshot is not None and camera.image_size is not None:
        picture = RoadPicture(camera.snapshot.read_bytes(), *camera.image_size, camera.points)
    facts = {"pole": zone.pole_id, **zone.facts, "when": report.ts, "agent": __version__}
    page = html_report(
        f"Commissioning report: pole {zone.pole_id}",
        facts,
        run.checks,
        picture=picture,
        drive_by=drive,
    )
    write_atomic(folder / "report.html", page.encode(), 0o640)
    if config.mqtt is not None:
        body = PublishedReport(**report.model_dump(), page_html=page).model_dump_json().encode()
        # The Last Will (at most 64 kB) is the report without its page: should the link drop
        # while the page is sent, the city still gets the checks.
        will = report.model_dump_json().encode()
        sent = publish(
            config,
            lambda ok: body if ok else will,
            clock,
            timeout_s,
            topic=f"{topics.PREFIX}/{config.pole_id}/commissioning",
            tool="commission",
        )
        run.ask.say(f"report published: {sent.outcome.upper()} {sent.detail}")
    return report


def cmd_commission(args: argparse.Namespace) -> int:
    try:
        ask: Prompter = AnswersPrompter.load(args.answers) if args.answers else TerminalPrompter()
        fleet = args.fleet_passwords
        if (
            fleet is None
            and isinstance(ask, AnswersPrompter)
            and ask.has("secrets.fleet_passwords")
        ):
            fleet = Path(str(ask.get("secrets.fleet_passwords")))
        report = commission(
            args.config,
            args.out or args.config,
            ask,
            clock=SystemClock(),
            radar_timeout_s=args.radar_timeout,
            drive_by_s=args.drive_by,
            fleet_passwords=fleet,
        )
    except ConfigError as err:
        print(f"{args.config}: {'; '.join(err.problems)}", file=sys.stderr)
        return EXIT_FAILED
    except AnswerError as err:
        print(f"commission stopped: {err}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if report.ok else EXIT_FAILED


def add_commission_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("commission", help="bring a pole into service, step by step")
    parser.add_argument("--config", "-c", type=Path, required=True, help="the pole's config")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: --config)")
    parser.add_argument("--answers", type=Path, default=None, help="answers file (TOML)")
    parser.add_argument(
        "--fleet-passwords",
        type=Path,
        default=None,
        help="the city's Mosquitto password file (or a list of $7$ hashes): refuse a password "
        "another pole uses",
    )
    parser.add_argument("--radar-timeout", type=seconds_arg, default=15.0, help="seconds")
    parser.add_argument(
        "--drive-by", type=seconds_arg, default=20.0, help="seconds of live read-out"
    )
    parser.set_defaults(func=cmd_commission)
