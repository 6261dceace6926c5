"""What the running agent is doing now, as one JSON object (:class:`StatusSnapshot`): built from
the agent's parts when a local tool asks (``pole-agent status``, ``watch``, ``selftest``; served by
status_socket.py), and read back, of this version or an older one.

Reading older versions: during an update the newly installed ``pole-agent`` may ask an agent that
has not been restarted yet. :meth:`StatusSnapshot.from_answer` reads versions 1 and 2 into this
version's shape (null for what they did not send; their flat spool fields as
:class:`OlderSpool`) and refuses a newer version with a message that says so.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr

from pole_agent import __version__
from pole_agent.telemetry.health_report import spool_report
from pole_agent.telemetry.messages import HealthStateName, Payload
from pole_agent.telemetry.report_messages import SpoolReport

if TYPE_CHECKING:
    from pole_agent.app import Agent
    from pole_agent.remote.operator_message import OperatorSign

SNAPSHOT_VERSION = 3
"""2: ``operator_text`` added. 3: ``spool`` (the health report's SpoolReport) replaces
``spool_depth``, ``spool_state`` and ``spool_dropped``; ``clutter_frames`` added."""
OLDER_VERSIONS = (1, 2)
"""Versions the reader still reads (their spool fields are kept as :class:`OlderSpool`)."""

# The snapshot's parts are the telemetry payloads' kind (telemetry/messages.py: strict, frozen)
# but not the same models: a local view counts ages on the monotonic clock, where the city's
# reports carry wall-clock times (which may be wrong while the clock is not trusted). The spool is
# the exception: it is the health report's SpoolReport itself (one model, read the same way in
# both places; its oldest_s and drop times are on the wall clock, as in the health report).


class HealthItem(Payload):
    state: HealthStateName = Field(description="ok, degraded or failed")
    reason: str = Field(description="Why, in words.")
    age_s: float = Field(description="Seconds since this state began (monotonic).")


class TransitItem(Payload):
    age_s: float = Field(description="Seconds since the transit ended.")
    direction: str = Field(description="approaching or receding")
    peak_kmh: float = Field(description="Peak ground speed.")
    limit_kmh: float = Field(description="The limit in force then.")
    warned: bool = Field(description="Whether the pole warned.")


class WarningItem(Payload):
    age_s: float = Field(description="Seconds since the decision.")
    rule: str = Field(description="The rule that decided.")
    trigger: str = Field(description="What triggered it.")
    outputs: list[str] = Field(description="What the pole did.")


class RadarItem(Payload):
    role: str = Field(description="road or kerb")
    port: str = Field(description="Configured serial port.")
    identity: dict[str, Any] | None = Field(description="As the sensor answered at start-up.")


class OperatorTextItem(Payload):
    """The city's text on the LED sign (the ``set_message`` command; docs/remote.md)."""

    text: str = Field(description="The text.")
    seconds_left: float = Field(description="Seconds until it ends by itself (monotonic).")
    until: str = Field(description="When it ends (ISO 8601, UTC, the agent's wall clock).")
    command_id: str = Field(description="The command that set it.")
    shown: bool = Field(
        description="Whether the sign shows it now (false while a warning holds the sign; it "
        "comes back after the warning)."
    )


class OlderSpool(Payload):
    """What an agent serving snapshot version 1 or 2 said of its spool (reader side only: a
    current agent sends ``spool``, the health report's SpoolReport)."""

    depth: int = Field(description="Messages waiting (its spool_depth).")
    state: str = Field(description="ok or failed (its spool_state).")
    dropped: dict[str, int] = Field(description="Messages dropped, by stream (its spool_dropped).")


def operator_text_item(sign: OperatorSign | None, now: float) -> OperatorTextItem | None:
    """The operator text in force at ``now`` (monotonic), None when there is none."""
    item = sign.operator_text if sign is not None else None
    if sign is None or item is None or now >= item.until:
        return None
    return OperatorTextItem(
        text=item.text,
        seconds_left=round(item.until - now, 1),
        until=item.until_wall.isoformat(timespec="seconds"),
        command_id=item.command_id,
        shown=sign.warning_shown is None,
    )


class StatusSnapshot(Payload):
    """What the running agent is doing now (the socket's answer)."""

    snapshot_version: int = Field(description="Format version of this snapshot.")
    pole_id: str = Field(description="The pole's id.")
    boot_id: str = Field(description="This run's boot id.")
    version: str = Field(description="Agent version.")
    pid: int = Field(description="The agent's process id.")
    wall: str = Field(description="The agent's wall clock (ISO 8601, UTC).")
    uptime_s: float = Field(description="Seconds since the agent was built.")
    mode: str | None = Field(description="normal, degraded, fail_safe, off_hours (None: not yet).")
    mode_reason: str = Field(description="Why the pole is in this mode.")
    mode_source: str = Field(description="'failsafe' (the agent's state machine) or 'health'.")
    zone_active: bool | None = Field(description="Whether the school zone is active.")
    limit_kmh: float | None = Field(description="The limit in force.")
    zone_reason: str = Field(description="Why the zone is in this state.")
    operator_text: OperatorTextItem | None = Field(
        default=None, description="The city's text on the sign (None: none; the local rules)."
    )
    clock_trusted: bool | None = Field(description="Whether the wall clock is trusted.")
    overall: str = Field(description="Worst component health.")
    health: dict[str, HealthItem] = Field(description="Every component's health.")
    radars: list[RadarItem] = Field(description="The radars and their identities.")
    frames: int = Field(description="Speed frames read from the road radar.")
    clutter_frames: int | None = Field(
        description="Of them, frames no vehicle's track confirmed (rain, spikes, a swaying sign, "
        "a badly aimed sensor), counted when the track they made ended. Null only when read "
        "from an agent serving version 1 or 2."
    )
    last_frame_age_s: float | None = Field(description="Seconds since the reader's last tick.")
    last_speed_kmh: float | None = Field(description="Last speed seen (None when untrusted).")
    transits_reported: int = Field(description="Transits reported since start.")
    warnings_given: int = Field(description="Warnings given since start.")
    recent_transits: list[TransitItem] = Field(description="Last transits, newest first.")
    recent_warnings: list[WarningItem] = Field(description="Last decisions, newest first.")
    spool: SpoolReport | None = Field(
        description="The telemetry spool: the same object as the health report's ``spool`` "
        "(docs/mqtt.md). Always sent by the agent; null only when read from an agent serving "
        "version 1 or 2 (see ``older_spool``)."
    )
    broker: str | None = Field(description="Broker host:port (None: offline pole).")
    broker_link: str = Field(description="connected, unreachable, ... or offline.")
    broker_delivered: int = Field(description="Messages acknowledged since start.")

    _older_spool: OlderSpool | None = PrivateAttr(default=None)

    @property
    def older_spool(self) -> OlderSpool | None:
        """The spool as an agent serving version 1 or 2 gave it (None from a current agent)."""
        return self._older_spool

    @classmethod
    def from_answer(cls, data: bytes) -> StatusSnapshot:
        """The agent's answer, of this version or an older one (``OLDER_VERSIONS``: read into
        this version's shape, with null for what it did not send). Raises ValueError."""
        parsed = json.loads(data)
        if not isinstance(parsed, dict):
            raise ValueError(f"not a JSON object but {type(parsed).__name__}")
        version = parsed.get("snapshot_version")
        if type(version) is int and version > SNAPSHOT_VERSION:
            raise NewerSnapshotError(
                f"the agent serves snapshot version {version}, newer than this pole-agent "
                f"reads ({SNAPSHOT_VERSION}): use the pole-agent installed with the agent"
            )
        older = None
        if version in OLDER_VERSIONS:
            missing = {"spool_depth", "spool_state", "spool_dropped"} - parsed.keys()
            if missing:
                raise ValueError(f"version {version} snapshot without {', '.join(sorted(missing))}")
            older = OlderSpool(
                depth=parsed.pop("spool_depth"),
                state=parsed.pop("spool_state"),
                dropped=parsed.pop("spool_dropped"),
            )
            parsed.update(spool=None, clutter_frames=None)
        snap = cls.model_validate(parsed)
        snap._older_spool = older
        return snap


class NewerSnapshotError(ValueError):
    """The agent serves a snapshot version newer than this reader knows."""


def _copy(items: Any) -> list[Any]:
    """A list copy of a deque another thread appends to (retried if it moved under us)."""
    for _ in range(5):
        try:
            return list(items)
        except RuntimeError:
            continue
    return []


def build_snapshot(agent: Agent) -> StatusSnapshot:
    """Read the agent's parts (from the server's thread: only copies and plain reads)."""
    now = agent.clock.monotonic()
    wall = agent.clock.wall()
    health = agent.health.snapshot()
    warnings = agent.warnings
    pipeline = agent.pipeline
    zone = (warnings.outputs.zone if warnings is not None else None) or pipeline.zone
    if warnings is not None and warnings.failsafe.mode is not None:
        mode: str | None = warnings.failsafe.mode
        reason, source = warnings.failsafe.reason, "failsafe"
    else:
        mode, reason, source = None, "the fail-safe machine has not evaluated yet", "health"
        if warnings is None:
            overall = agent.health.overall()
            mode = {"ok": "normal", "degraded": "degraded", "failed": "fail_safe"}[overall]
            reason = f"derived from health ({overall}): no fail-safe machine"
    recent = _copy(pipeline.recent)[-5:]
    records = _copy(warnings.outputs.records)[-5:] if warnings is not None else []
    radars: list[RadarItem] = []
    for role, identity in agent.radar_identities.items():
        cfg = agent.config.radars.road if role == "road" else agent.config.radars.kerb
        radars.append(
            RadarItem(
                role=role,
                port=str(cfg.port) if cfg is not None else "",
                identity=None if identity is None else identity.as_dict(),
            )
        )
    link = agent.mqtt.link_report() if agent.mqtt is not None else None
    mqtt = agent.config.mqtt
    return StatusSnapshot(
        snapshot_version=SNAPSHOT_VERSION,
        pole_id=agent.config.pole_id,
        boot_id=agent.boot_id,
        version=__version__,
        pid=os.getpid(),
        wall=wall.isoformat(timespec="seconds"),
        uptime_s=max(0.0, now - agent.reporter.started_mono),
        mode=mode,
        mode_reason=reason,
        mode_source=source,
        zone_active=zone.active,
        limit_kmh=zone.limit_kmh,
        zone_reason=zone.reason or zone.window,
        operator_text=operator_text_item(
            warnings.operator_sign if warnings is not None else None, now
        ),
        clock_trusted=warnings.outputs.clock_trusted if warnings is not None else None,
        overall=agent.health.overall(),
        health={
            name: HealthItem(state=h.state, reason=h.reason, age_s=max(0.0, now - h.since))
            for name, h in sorted(health.items())
        },
        radars=radars,
        frames=pipeline.frames,
        clutter_frames=pipeline.clutter_frames,
        last_frame_age_s=None if pipeline.last_tick is None else max(0.0, now - pipeline.last_tick),
        last_speed_kmh=pipeline.last_speed_kmh,
        transits_reported=pipeline.transits_reported,
        warnings_given=pipeline.warnings_given,
        recent_transits=[
            TransitItem(
                age_s=max(0.0, now - seen.transit.end_t),
                direction=str(seen.transit.direction),
                peak_kmh=round(seen.transit.peak_kmh, 1),
                limit_kmh=seen.limit_kmh,
                warned=seen.warned,
            )
            for seen in reversed(recent)
        ],
        recent_warnings=[
            WarningItem(
                age_s=max(0.0, now - rec.t),
                rule=rec.rule,
                trigger=rec.trigger,
                outputs=list(rec.outputs),
            )
            for rec in reversed(records)
        ],
        spool=spool_report(agent.outbox.stats(), wall.timestamp()),
        broker=None if mqtt is None else f"{mqtt.host}:{mqtt.port}",
        broker_link=link.state if link is not None else "offline",
        broker_delivered=link.delivered if link is not None else 0,
    )
