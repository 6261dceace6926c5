"""The running agent's state for local tools (`pole-agent status`, `watch`, `selftest`): a UNIX
socket, owner-only, that answers one JSON snapshot per connection.

Why a socket and not a JSON file replaced every second: the snapshot is built when asked, so it is
never stale and a dead agent cannot be mistaken for a live one (a left-over file would be; a
socket with no one listening refuses the connection); and nothing is written to the SD card every
second for years. Access control: the socket is bound in the agent's state dir with mode 0600
before ``listen()`` (no connection can arrive before the mode is set), and each peer's uid is
checked with SO_PEERCRED: only the agent's own user and root are answered.

Protocol: the client sends one line, ``status`` (or nothing, then half-closes), and reads one JSON
object (:class:`StatusSnapshot`) until the server closes. Any other request gets
``{"error": ...}`` and is counted. The server is a component started and stopped by app.py; a
failure to bind is logged and reported as the ``status`` health component, never a start-up
error: the pole warns without it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from pole_agent import __version__
from pole_agent.telemetry.messages import HealthStateName, Payload

if TYPE_CHECKING:
    from pole_agent.app import Agent
    from pole_agent.remote.operator_message import OperatorSign

log = logging.getLogger(__name__)

SOCKET_NAME = "status.sock"
MAX_REQUEST = 256
UNIX_PATH_MAX = 107
SNAPSHOT_VERSION = 2
"""2: ``operator_text`` added."""

# The snapshot's parts are the telemetry payloads' kind (telemetry/messages.py: strict, frozen)
# but not the same models: a local view counts ages on the monotonic clock, where the city's
# reports carry wall-clock times (which may be wrong while the clock is not trusted).


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
    last_frame_age_s: float | None = Field(description="Seconds since the reader's last tick.")
    last_speed_kmh: float | None = Field(description="Last speed seen (None when untrusted).")
    transits_reported: int = Field(description="Transits reported since start.")
    warnings_given: int = Field(description="Warnings given since start.")
    recent_transits: list[TransitItem] = Field(description="Last transits, newest first.")
    recent_warnings: list[WarningItem] = Field(description="Last decisions, newest first.")
    spool_depth: int = Field(description="Messages waiting in the telemetry spool.")
    spool_state: str = Field(description="The spool's state.")
    spool_dropped: dict[str, int] = Field(description="Messages dropped by reason.")
    broker: str | None = Field(description="Broker host:port (None: offline pole).")
    broker_link: str = Field(description="connected, unreachable, ... or offline.")
    broker_delivered: int = Field(description="Messages acknowledged since start.")


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
    stats = agent.outbox.stats()
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
        wall=agent.clock.wall().isoformat(timespec="seconds"),
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
        spool_depth=stats.depth,
        spool_state=stats.state,
        spool_dropped=dict(stats.dropped),
        broker=None if mqtt is None else f"{mqtt.host}:{mqtt.port}",
        broker_link=link.state if link is not None else "offline",
        broker_delivered=link.delivered if link is not None else 0,
    )


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def _answers(path: Path) -> bool:
    """Whether something listens on the socket at ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class StatusServer:
    """Serves ``snapshot()`` on a 0600 UNIX socket from a thread of its own."""

    def __init__(
        self,
        path: Path,
        snapshot: Callable[[], BaseModel],
        *,
        on_problem: Callable[[str], object] | None = None,
    ) -> None:
        self.path = path
        self._snapshot = snapshot
        self._on_problem = on_problem
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.served = 0
        self.refused = 0
        """Connections refused (another user) or requests rejected (unknown request)."""

    def start(self) -> None:
        try:
            self._sock = self._bind()
        except OSError as err:
            message = f"status socket {self.path}: {err.strerror or err}"
            log.error("%s: `pole-agent status` will not work", message)
            if self._on_problem is not None:
                self._on_problem(message)
            return
        self._thread = threading.Thread(target=self._run, name="status-socket", daemon=True)
        self._thread.start()

    def _bind(self) -> socket.socket:
        if len(os.fsencode(self.path)) > UNIX_PATH_MAX:
            raise OSError(0, f"path longer than {UNIX_PATH_MAX} bytes")
        if self.path.is_symlink() or (
            self.path.exists() and not stat.S_ISSOCK(self.path.lstat().st_mode)
        ):
            raise OSError(0, "exists and is not a socket: refusing to replace it")
        if self.path.exists() and _answers(self.path):
            raise OSError(0, "another agent is serving this state dir: not taking it over")
        self.path.unlink(missing_ok=True)  # a left-over from a run that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(8)
        sock.settimeout(0.5)
        return sock

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with conn:
                try:
                    self._serve(conn)
                except Exception:
                    log.exception("status socket: request failed")

    def _serve(self, conn: socket.socket) -> None:
        uid = _peer_uid(conn)
        if uid not in (os.getuid(), 0):
            self.refused += 1
            log.warning("status socket: refused uid %d", uid)
            return
        conn.settimeout(2.0)
        request = b""
        try:
            while b"\n" not in request and len(request) <= MAX_REQUEST:
                chunk = conn.recv(MAX_REQUEST)
                if not chunk:
                    break
                request += chunk
        except TimeoutError:
            pass
        text = request.strip().decode("utf-8", "replace")
        if text not in ("", "status"):
            self.refused += 1
            conn.sendall(b'{"error": "unknown request: expected \\"status\\""}\n')
            return
        try:
            payload = self._snapshot().model_dump_json().encode()
        except Exception as err:
            log.exception("status socket: building the snapshot failed")
            payload = json.dumps({"error": f"snapshot failed: {err}"}).encode()
        conn.sendall(payload + b"\n")
        self.served += 1

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._sock is not None:
            self.path.unlink(missing_ok=True)
        self._sock = None


class StatusUnavailableError(Exception):
    """No running agent answered on the socket (the message says why)."""


def query(path: Path, timeout: float = 5.0) -> StatusSnapshot:
    """Ask the running agent for its snapshot. Raises StatusUnavailableError."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except FileNotFoundError:
            raise StatusUnavailableError(
                f"{path}: no such socket (is the agent running?)"
            ) from None
        except ConnectionRefusedError:
            raise StatusUnavailableError(
                f"{path}: nobody listening (the agent is not running)"
            ) from None
        except PermissionError:
            raise StatusUnavailableError(
                f"{path}: permission denied (run as the agent's user, e.g. sudo -u pole-agent)"
            ) from None
        except OSError as err:
            raise StatusUnavailableError(f"{path}: {err.strerror or err}") from None
        sock.sendall(b"status\n")
        chunks: list[bytes] = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as err:
        raise StatusUnavailableError(f"{path}: {err.strerror or err}") from None
    finally:
        sock.close()
    data = b"".join(chunks)
    if not data:
        raise StatusUnavailableError(f"{path}: the agent closed without answering (another user?)")
    if data.startswith(b'{"error"'):
        raise StatusUnavailableError(f"{path}: the agent answered: {data.decode(errors='replace')}")
    try:
        return StatusSnapshot.model_validate_json(data)
    except ValueError as err:
        raise StatusUnavailableError(f"{path}: not a status snapshot: {err}") from None
