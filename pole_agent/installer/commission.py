"""`pole-agent commission`: brings a pole into service with the installer, step by step, or from
an answers file for fleets (docs/installer.md#commission-a-pole-pole-agent-commission).

Steps: board and permissions; outputs, each confirmed by the installer; the radar found,
identified and its settings verified, a live read-out during a drive-by and the mounting-angle
correction it implies; the zone; the network (broker with the pole's credentials, a test publish
seen back); secrets. It refuses to write the config with default secrets; it writes the config
atomically, and a report as JSON and HTML in ``<state_dir>/commissioning/``, published retained
on ``spole/<id>/commissioning`` when the broker is reachable. Exit 1 when a check failed.
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
from pole_agent.board_profile import default_hw_dirs
from pole_agent.clock import SystemClock
from pole_agent.config import INLINE_SECRET_KEYS, ConfigError, PoleConfig, load_config
from pole_agent.drivers.mqtt_link import MqttSubscriber
from pole_agent.installer import steps
from pole_agent.installer.prompts import AnswerError, AnswersPrompter, Prompt, TerminalPrompter
from pole_agent.installer.report import CheckResult, html_report, table, write_atomic
from pole_agent.installer.selftest import publish, seconds_arg
from pole_agent.installer.toml_out import TomlWriteError, dumps
from pole_agent.ports import Clock
from pole_agent.telemetry import topics

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommissioningReport(BaseModel):
    """The JSON report for the city (also published on ``spole/<id>/commissioning``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pole_id: str = Field(description="The pole.")
    version: str = Field(description="Agent version.")
    ts: str = Field(description="When commissioning ended (ISO 8601, UTC).")
    location: str = Field(description="Where the pole stands, as the installer said.")
    language: str = Field(description="Language of the voice, as the installer said.")
    ok: bool = Field(description="No check failed.")
    config_written: bool = Field(description="Whether the final config was written.")
    drive_by: dict[str, float] = Field(description="Drive-by figures (km/h, degrees).")
    checks: list[CheckResult] = Field(description="Every check, in order.")


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


def speed_limit(ask: Prompt, current: float) -> float:
    """The zone's limit, asked again until it is a speed (an answers file gets one chance)."""
    while True:
        text = ask.text("speed_limit_kmh", "Speed limit in the zone (km/h)?", f"{current:g}")
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if 5.0 <= value <= 130.0:
            return value
        if isinstance(ask, AnswersPrompter):
            raise AnswerError(f"answers file: zone.speed_limit_kmh {text!r} is not 5..130 km/h")
        ask.say(f"  not a speed limit in km/h (5..130): {text!r}")


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


def commission(
    config_path: Path,
    out_path: Path,
    ask: Prompt,
    *,
    clock: Clock,
    hw_dirs: list[Path] | None = None,
    radar_timeout_s: float = 15.0,
    drive_by_s: float = 20.0,
    broker_timeout_s: float = 15.0,
    pin_factory: Any = None,
) -> CommissioningReport:
    config = load_config(config_path)
    checks: list[CheckResult] = []

    def step(title: str, results: list[CheckResult]) -> None:
        ask.say(f"== {title}")
        for line in table(results)[2:]:
            ask.say("   " + line)
        checks.extend(results)

    ask.say(f"Commissioning pole {config.pole_id} (config {config_path})")
    profile, results = steps.board_step(config, hw_dirs or default_hw_dirs())
    step("1. board and permissions", results)
    if profile is not None:
        ask.say("== 2. outputs: look at each and answer")
        step("2. outputs", steps.outputs_step(config, profile, ask, pin_factory))
    ask.say("== 3. radar: looking for the sensor ...")
    session, results = steps.find_radar(config, clock, radar_timeout_s)
    drive: dict[str, float] = {}
    try:
        if session is not None:
            more, drive = steps.drive_by_step(session, ask, drive_by_s)
            results += more
    finally:
        if session is not None:
            session.close()
    step("3. radar", results)
    camera = config.camera
    step(
        "4. camera",
        [
            CheckResult(
                name="camera snapshot",
                outcome="skip",
                detail="no camera fitted"
                if camera is None or not camera.enabled
                else "not wired into commissioning yet (issue 5's take_road_snapshot)",
            )
        ],
    )
    pole_id = ask.text("pole_id", "Pole id?", config.pole_id)
    location = ask.text("location", "Location (street, landmark)?", "")
    limit = speed_limit(ask, config.zone.speed_limit_kmh)
    language = ask.text("language", "Language of the voice?", "ko")
    step(
        "5. zone",
        [
            CheckResult(
                name="zone",
                outcome="pass",
                detail=f"{pole_id} at {location or '?'}, {limit:g} km/h, voice {language}",
            )
        ],
    )
    nonce = clock.wall().isoformat()
    step(
        "6. network",
        [network_step(config, clock, f'{{"test": "{nonce}"}}'.encode(), broker_timeout_s)],
    )
    secrets = steps.secrets_step(config)
    step("7. secrets", secrets)
    written = False
    if secrets[0].outcome == "pass":
        changes: dict[str, Any] = {"pole_id": pole_id, "zone": {"speed_limit_kmh": limit}}
        if session is not None:
            changes["radars"] = {"road": {"port": session.config.port}}
        try:
            write_config(config_path, out_path, changes)
            written = True
            checks.append(CheckResult(name="config written", outcome="pass", detail=str(out_path)))
        except (ConfigError, TomlWriteError, OSError) as err:
            checks.append(
                CheckResult(
                    name="config written",
                    outcome="fail",
                    detail=str(err),
                    fix="fix the config by hand and run again",
                )
            )
    else:
        checks.append(
            CheckResult(
                name="config written",
                outcome="fail",
                detail="refused: secrets are not the pole's own",
                fix=secrets[0].fix,
            )
        )
    report = CommissioningReport(
        pole_id=pole_id,
        version=__version__,
        ts=clock.wall().isoformat(timespec="seconds"),
        location=location,
        language=language,
        ok=all(c.outcome != "fail" for c in checks),
        config_written=written,
        drive_by=drive,
        checks=checks,
    )
    folder = config.state_dir / "commissioning"
    write_atomic(folder / "report.json", report.model_dump_json(indent=2).encode(), 0o640)
    facts = {
        "pole": pole_id,
        "location": location,
        "when": report.ts,
        "agent": __version__,
        "limit": f"{limit:g} km/h",
        "voice": language,
        **{k: f"{v:.1f}" for k, v in drive.items()},
    }
    page = html_report(f"Commissioning report: pole {pole_id}", facts, checks)
    write_atomic(folder / "report.html", page.encode(), 0o640)
    if config.mqtt is not None:
        body = report.model_dump_json().encode()
        publish(
            config,
            lambda ok: body,
            clock,
            broker_timeout_s,
            topic=f"{topics.PREFIX}/{config.pole_id}/commissioning",
            tool="commission",
        )
    ask.say(f"report: {folder / 'report.html'}")
    ask.say("PASSED" if report.ok else "FAILED")
    return report


def cmd_commission(args: argparse.Namespace) -> int:
    try:
        ask: Prompt = AnswersPrompter.load(args.answers) if args.answers else TerminalPrompter()
        report = commission(
            args.config,
            args.out or args.config,
            ask,
            clock=SystemClock(),
            radar_timeout_s=args.radar_timeout,
            drive_by_s=args.drive_by,
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
    parser.add_argument("--radar-timeout", type=seconds_arg, default=15.0, help="seconds")
    parser.add_argument(
        "--drive-by", type=seconds_arg, default=20.0, help="seconds of live read-out"
    )
    parser.set_defaults(func=cmd_commission)
