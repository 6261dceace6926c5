"""Remote management built for one agent (app.py calls ``build_remote``): the handler, the
topics the MQTT link subscribes to, the commands it knows and a thread that runs the grace-period
check, ends operator texts that expired and removes them when the broker has been unreachable
for ``[remote].comms_loss_s``. A config change is applied by restarting the agent in-process with
it: ``RemoteParts.next_config`` says what to rebuild with (rebuild.py), and ``pole-agent run``
rebuilds the agent when it is set. A ``reload`` command reads and checks the local file first
(``load_local``, set by the runner): a file with problems is answered ``failed`` naming each key
and nothing stops; a good one becomes the next config.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pole_agent.config import ConfigError, PoleConfig
from pole_agent.health import HealthBoard
from pole_agent.installer.selftest import SelftestReport
from pole_agent.ports import Clock, VoiceOutput
from pole_agent.remote.envelope import load_public_key
from pole_agent.remote.handler import (
    CommandAction,
    CommandCall,
    CommandFailedError,
    Publish,
    RemoteHandler,
)
from pole_agent.remote.operator_message import OperatorSign, parse_set_message
from pole_agent.remote.rebuild import FailedReload, NextConfig
from pole_agent.remote.selftest_command import SelftestCommand
from pole_agent.remote.store import RemoteStore
from pole_agent.systemd_notify import SystemdNotifier
from pole_agent.telemetry import topics

log = logging.getLogger(__name__)

TICK_S = 0.5


class RemoteSetupError(Exception):
    """The [remote] section cannot be used (the fleet key file is unreadable ...)."""


LoadLocal = Callable[[], PoleConfig]
"""Reads and checks the local config file as a start would (validation and preflight); raises
ConfigError naming every problem."""


@dataclass
class RemoteParts:
    handler: RemoteHandler
    subscriptions: tuple[str, ...]
    next_config: NextConfig | None = None
    """Set when the agent must be rebuilt (a remote config applied or rolled back, a ``reload``):
    with what (rebuild.py)."""
    failed_reload: FailedReload | None = None
    """Set by the runner on the agent rebuilt after a ``reload`` that could not be built: that
    command is answered again, ``failed``, once this agent runs."""
    on_restart: Callable[[], None] = lambda: None
    """Set by the runner (``pole-agent run``): stops the running agent so it can be rebuilt."""
    load_local: LoadLocal | None = None
    """Set by the runner: reads and checks the file the agent was started from. None (an agent
    not started from a file): ``reload`` fails, there is nothing to reload."""
    link_state: Callable[[], str] = lambda: "connected"
    """The broker link's state (``connected`` or what else), for the comms-loss rule."""
    operator_sign: Callable[[], OperatorSign | None] = lambda: None
    comms_loss_s: float = 300.0
    clock: Clock | None = None
    selftest: SelftestCommand | None = None
    lost_since: float | None = None
    """Monotonic time the broker link was first seen down (None: connected)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def restart_pending(self) -> bool:
        return self.next_config is not None

    def request(self, wanted: NextConfig) -> None:
        """Ask the runner to rebuild the agent. A ``reload`` never replaces a remote config
        applied or rolled back and not yet rebuilt (that one is what the city asked for last);
        otherwise the latest request wins."""
        pending = self.next_config
        if not (wanted.kind == "reload" and pending is not None and pending.kind != "reload"):
            self.next_config = wanted
        self.on_restart()

    def reload(self, command_id: str | None = None) -> PoleConfig:
        """The ``reload`` command: check the local file BEFORE anything stops (a pole must not
        stop warning over a broken file: reliability row 14), then rebuild with it. Raises
        CommandFailedError naming each problem; the running agent is then left alone."""
        if self.load_local is None:
            raise CommandFailedError(
                "this agent was not started from a config file (`pole-agent run`): "
                "nothing to reload"
            )
        try:
            config = self.load_local()
            fleet_keys(config)  # the rebuilt agent would not start without its key
        except ConfigError as err:
            problems = err.problems
            source = err.source
        except RemoteSetupError as err:
            problems, source = [str(err)], "the local config file"
        else:
            self.request(NextConfig("reload", config, command_id))
            return config
        for problem in problems:
            log.error("reload refused: config %s: %s (kept the running config)", source, problem)
        raise CommandFailedError(
            f"{source}: {len(problems)} problem(s); the running config stays: "
            + "; ".join(problems),
            {"file": source, "problems": problems},
        )

    def start(self) -> None:
        self.handler.start()
        failed = self.failed_reload
        if failed is not None:
            self.handler.answer_later(
                "reload", failed.command_id, "failed", failed.detail, {"error": failed.error}
            )
        self._thread = threading.Thread(target=self._run, name="remote", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        wanted = self.next_config
        self.handler.stop(new_config_follows=wanted is not None and wanted.keeps_trial)

    def tick(self) -> None:
        """The grace-period check, then the operator text's expiry and comms-loss rule."""
        self.handler.tick()
        sign = self.operator_sign()
        if sign is None or self.clock is None:
            return
        now = self.clock.monotonic()
        if self.link_state() == "connected":
            self.lost_since = None
        elif self.lost_since is None:
            self.lost_since = now
        if self.lost_since is not None and now - self.lost_since >= self.comms_loss_s:
            why = f"broker unreachable for {now - self.lost_since:.0f} s (comms loss)"
            if sign.clear(why):
                log.warning("operator text removed from the sign: %s", why)
        sign.expire()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick()
            except Exception:
                log.exception("remote tick failed")


class RestartAwareNotifier(SystemdNotifier):
    """The systemd notifier for ``pole-agent run``: when the agent stops only to be rebuilt
    with another config (``restarting()`` is true), systemd is told ``RELOADING=1`` (the next
    ``READY=1`` ends the reload) rather than ``STOPPING=1``, which would have it stop the unit."""

    restarting: Callable[[], bool] = staticmethod(lambda: False)

    def stopping(self, status: str | None = None) -> bool:
        if not self.restarting():
            return super().stopping(status)
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        text = " ".join((status or "reloading a remote config").split())
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", f"STATUS={text[:200]}")


def fleet_keys(config: PoleConfig) -> list[Ed25519PublicKey]:
    path = config.remote.fleet_public_key_file
    if path is None:
        return []
    try:
        return [load_public_key(path)]
    except ValueError as err:
        raise RemoteSetupError(f"remote.fleet_public_key_file: {err}") from None


def build_remote(
    local: PoleConfig,
    *,
    clock: Clock,
    health: HealthBoard,
    publish: Publish,
    rebirth: Callable[[], None],
    voice: Callable[[], VoiceOutput | None],
    volume: float,
    operator_sign: Callable[[], OperatorSign | None] = lambda: None,
    link_state: Callable[[], str] = lambda: "connected",
    selftest: Callable[[], SelftestReport] | None = None,
) -> RemoteParts | None:
    """None when remote management is off (or there is no broker)."""
    if not local.remote.enabled or local.mqtt is None:
        return None
    keys = fleet_keys(local)
    if not keys:
        log.warning("remote management without a fleet key: unsigned config and commands accepted")
    holder: dict[str, RemoteParts] = {}

    def announce(call: CommandCall) -> str:
        clips = call.args.get("clips", list(local.child_warning.message))
        if not isinstance(clips, list) or not all(isinstance(c, str) for c in clips) or not clips:
            raise CommandFailedError("args.clips must be a non-empty list of clip names")
        speaker = voice()
        if speaker is None:
            raise CommandFailedError("no speaker on this pole")
        if not speaker.play(tuple(clips), volume, "remote announce test"):
            raise CommandFailedError("the speaker refused (busy, off or unknown clip)")
        return f"playing {', '.join(clips)}"

    def reload(call: CommandCall) -> str:
        holder["parts"].reload(call.id)
        return "restarting the agent with the local config file (and the stored remote config)"

    def do_rebirth(call: CommandCall) -> str:
        rebirth()
        return "birth and discovery published again"

    def set_message(call: CommandCall) -> str:
        remote = local.remote
        args = parse_set_message(
            call.args, max_chars=remote.message_max_chars, max_s=remote.message_max_s
        )
        sign = operator_sign()
        if args.clear:
            if sign is None or not sign.clear(f"cleared by command {call.id}"):
                return "no operator text was on the sign"
            return "operator text removed; the sign follows the local rules"
        assert args.text is not None and args.duration_s is not None  # parse_set_message
        if sign is None or not sign.shows_text:
            raise CommandFailedError(
                "this pole's sign has only preset inputs (GPIO lines): it cannot show a text"
            )
        shown = sign.set_text(args.text, args.duration_s, call.id)
        after = sign.warning_shown
        return f"showing {args.text!r} until {shown.until_wall.isoformat(timespec='seconds')}" + (
            f" (after the current warning {after})" if after else ""
        )

    commands: dict[str, CommandAction] = {
        "announce": announce,
        "reload": reload,
        "rebirth": do_rebirth,
        "set_message": set_message,
    }
    runner = SelftestCommand(selftest) if selftest is not None else None
    if runner is not None:
        commands["selftest"] = runner
    handler = RemoteHandler(
        local_config=local,
        store=RemoteStore(local.state_dir),
        clock=clock,
        publish=publish,
        apply=lambda wanted: holder["parts"].request(wanted),  # noqa: PLW0108 (late binding)
        failed=lambda: frozenset(
            name for name, part in health.snapshot().items() if part.state == "failed"
        ),
        commands=commands,
        keys=keys,
        grace_s=local.remote.grace_s,
        max_command_ttl_s=local.remote.max_command_ttl_s,
    )
    parts = RemoteParts(
        handler=handler,
        subscriptions=(
            topics.config_desired(local.pole_id),
            topics.commands_filter(local.pole_id),
        ),
        link_state=link_state,
        operator_sign=operator_sign,
        comms_loss_s=local.remote.comms_loss_s,
        clock=clock,
        selftest=runner,
    )
    holder["parts"] = parts
    return parts
