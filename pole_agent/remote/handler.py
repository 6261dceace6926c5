"""The pole's side of remote management: checks what the city sends, applies it, answers.

A message on ``config/desired`` or ``cmd/<name>`` is checked in this order, and the first failure
is the reason reported (docs/remote.md): ``malformed`` (not a JSON object), ``unsigned`` /
``bad-signature`` (when a fleet key is configured), ``invalid`` (does not fit the message model or,
for a config, the pole's config model; the detail names the key), ``wrong-pole``, ``expired``,
``too-far-ahead`` (a command whose expiry is beyond the allowed horizon, so its id need not be
remembered for ever), ``older-version`` (config) / ``replayed`` (command), ``unknown-command``.

A valid config is stored atomically, applied through the ``apply`` port (a NextConfig of kind
``apply``: the runner rebuilds the agent with it, rebuild.py) and reported; it becomes
last-known-good once the agent stayed healthy through the grace period (``tick``); if a component
that was not failed before the change becomes ``failed`` in that period (the ``failed`` port), or
``apply`` fails, the
last-known-good config (or the local file's) is applied again (kind ``rollback``) and the rollback
reported. A valid
command's id is stored before it runs, so it runs at most once, across restarts too.

``on_message`` never raises: every failure is logged, counted by reason and reported.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from pole_agent.config import ConfigError, PoleConfig, parse_config, validation_problems
from pole_agent.ports import Clock
from pole_agent.remote.boot import effective_config
from pole_agent.remote.counters import RemoteCounters
from pole_agent.remote.envelope import (
    Command,
    DesiredConfig,
    Rejected,
    check_fresh,
    parse_json,
    verify,
)
from pole_agent.remote.rebuild import NextConfig
from pole_agent.remote.store import RemoteStore, StoredConfig, Trial
from pole_agent.telemetry import topics

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, bool], None]
"""``(topic, payload, retain)``."""


class CommandFailedError(Exception):
    """A command's action could not do what was asked (bad arguments, not possible now).
    ``result``, when given, goes with the ``failed`` answer (e.g. each problem of a file)."""

    def __init__(self, detail: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.result = result


Reply = Callable[[str, str, dict[str, Any] | None], None]
"""``(status, detail, result)``: a command's final answer, for actions that answer later."""


@dataclass(frozen=True)
class CommandCall:
    """One accepted command, as its action sees it."""

    id: str
    name: str
    args: dict[str, Any]
    reply: Reply
    """For an action that runs on (returns None): its final answer, ``ok`` or ``failed``."""


CommandAction = Callable[[CommandCall], str | None]
"""Runs a command; returns a short detail, or None when it goes on in the background and will
answer through ``call.reply`` (``running`` is answered at once). Raises CommandFailedError (it
could not do it: answered ``failed``) or Rejected (bad arguments, busy: answered ``rejected``
and counted by reason)."""


@dataclass
class _Pending:
    stored: StoredConfig
    applied_at: float


class RemoteHandler:
    def __init__(
        self,
        *,
        local_config: PoleConfig,
        store: RemoteStore,
        clock: Clock,
        publish: Publish,
        apply: Callable[[NextConfig], None],
        failed: Callable[[], frozenset[str]],
        commands: dict[str, CommandAction],
        keys: list[Ed25519PublicKey],
        grace_s: float = 120.0,
        max_command_ttl_s: float = 86400.0,
    ) -> None:
        self._local = local_config
        self.pole_id = local_config.pole_id
        self._store = store
        self._clock = clock
        self._publish = publish
        self._apply = apply
        self._failed = failed
        self._commands = commands
        self._keys = keys
        self._grace_s = grace_s
        self._max_ttl = timedelta(seconds=max_command_ttl_s)
        self._lock = threading.Lock()
        self._pending: _Pending | None = None
        self.counts = RemoteCounters(store, clock)
        self.rejected = self.counts.rejected

    # -- start-up --------------------------------------------------------------------------------

    def start(self) -> None:
        """After a restart, a stored config not yet proven healthy gets a new grace period (and
        is marked as running, so that an unclean end counts against it: boot.py); a rollback
        made at start-up (boot.py) is reported now that the broker can be reached."""
        store = self._store
        applied, good = store.applied, store.last_good
        if applied is not None and (good is None or good.version != applied.version):
            with self._lock:
                self._pending = _Pending(applied, self._clock.monotonic())
                trial = store.trial
                ends = trial.unclean_ends if trial and trial.version == applied.version else 0
                store.save_trial(Trial(applied.version, running=True, unclean_ends=ends))
        note = store.boot_rollback
        if note is None:
            self._report_config("running", "")
            return
        self.counts.rolled_back += 1
        store.note_boot_rollback(None)
        self._report_config("rolled-back", note.reason, note.version)

    def stop(self, *, new_config_follows: bool) -> None:
        """A clean stop: the config on trial did not crash the agent. Not when the agent stops
        only to be rebuilt with a config just applied (its trial goes on)."""
        self.counts.save(force=True)
        if new_config_follows:
            return
        with self._lock:
            trial = self._store.trial
            if trial is not None and trial.running:
                self._store.save_trial(Trial(trial.version, False, trial.unclean_ends))

    def counters(self) -> dict[str, Any]:
        """For the health report (counters.py)."""
        return self.counts.as_dict()

    def effective_config(self) -> PoleConfig:
        return effective_config(self._store, self._local)

    @property
    def applied_version(self) -> int:
        stored = self._store.applied
        return stored.version if stored is not None else 0

    # -- messages --------------------------------------------------------------------------------

    def on_message(self, topic: str, payload: bytes) -> None:
        try:
            kind = topics.parse_remote(self.pole_id, topic)
            if kind is None:
                self._count("malformed", f"not a remote-management topic of this pole: {topic!r}")
                return
            if kind[0] == "config":
                self._on_config(payload)
            else:
                self._on_command(kind[1], payload)
        except Exception:  # a bug here must never take down the MQTT thread or the agent
            log.exception("remote message on %s could not be handled", topic)
            self.rejected["internal-error"] += 1

    def _count(self, reason: str, detail: str) -> None:
        self.rejected[reason] += 1
        log.warning("remote message rejected: %s: %s", reason, detail)

    def _checked(self, payload: bytes) -> dict[str, Any]:
        data = parse_json(payload)
        verify(data, self._keys)
        return data

    def _on_config(self, payload: bytes) -> None:
        version: int | None = None
        try:
            data = self._checked(payload)
            raw_version = data.get("version")
            version = raw_version if isinstance(raw_version, int) else None
            try:
                desired = DesiredConfig.model_validate(data)
            except ValidationError as err:
                raise Rejected("invalid", "; ".join(validation_problems(err))) from None
            if desired.pole_id != self.pole_id:
                raise Rejected("wrong-pole", f"addressed to {desired.pole_id}, not {self.pole_id}")
            check_fresh(desired.expires_at, self._clock.wall())
            if desired.version <= self._store.highest_version:
                raise Rejected(
                    "older-version",
                    f"version {desired.version} is not above {self._store.highest_version}",
                )
            body = {**desired.config, "config_version": desired.version}
            try:
                config = parse_config(body, f"desired config v{desired.version}")
            except ConfigError as err:
                raise Rejected("invalid", "; ".join(err.problems)) from None
            if config.pole_id != self.pole_id:
                raise Rejected("wrong-pole", f"config.pole_id is {config.pole_id}")
            self._check_keeps_control(config)
        except Rejected as rejected:
            self._count(rejected.reason, rejected.detail)
            self._report_config("rejected", f"{rejected.reason}: {rejected.detail}", version)
            return
        self._take(StoredConfig(desired.version, body), config)

    def _check_keeps_control(self, config: PoleConfig) -> None:
        """A remote config must not cut the city off from the pole or move its state."""
        if not config.remote.enabled or config.mqtt is None:
            raise Rejected("invalid", "remote.enabled and [mqtt] cannot be turned off remotely")
        if config.state_dir != self._local.state_dir:
            raise Rejected("invalid", "state_dir cannot be changed remotely")
        flashing = [
            role
            for role, radar in (("road", config.radars.road), ("kerb", config.radars.kerb))
            if radar is not None and radar.save_to_flash
        ]
        if flashing:  # it would write the sensor's flash at every start, and wear it out
            keys = ", ".join(f"radars.{role}.save_to_flash" for role in flashing)
            raise Rejected("invalid", f"{keys}: only `pole-agent commission` saves to the flash")

    def _take(self, stored: StoredConfig, config: PoleConfig) -> None:
        with self._lock:
            stored = StoredConfig(stored.version, stored.config, self._failed())
            self._store.save_applied(stored)
            # Running from now on: if the process dies before the grace period is over (in the
            # rebuild or after), the next start counts it (boot.py).
            self._store.save_trial(Trial(stored.version, running=True))
            try:
                self._apply(NextConfig("apply", config))
            except Exception as err:  # the agent could not start with it: roll back now
                log.exception("applying remote config v%s failed", stored.version)
                self._roll_back_locked(f"apply failed: {err}", stored.version)
                return
            self.counts.applied += 1
            self._pending = _Pending(stored, self._clock.monotonic())
        log.info("remote config v%s applied", stored.version)
        self._report_config("applied", "")

    # -- grace period ----------------------------------------------------------------------------

    def tick(self) -> None:
        """Call often (the agent's timer): rolls back an unhealthy new config, or promotes a
        healthy one to last-known-good once its grace period is over; keeps the counters."""
        self.counts.save()
        with self._lock:
            pending = self._pending
            if pending is None:
                return
            newly = self._failed() - pending.stored.failed_before
            if newly:
                self._roll_back_locked(
                    f"agent unhealthy within {self._grace_s:g} s: {', '.join(sorted(newly))} "
                    "failed",
                    pending.stored.version,
                )
                return
            if self._clock.monotonic() - pending.applied_at >= self._grace_s:
                self._store.save_last_good(pending.stored)
                self._store.save_trial(None)
                self._pending = None
                log.info("remote config v%s is now last-known-good", pending.stored.version)

    def _roll_back_locked(self, why: str, bad_version: int) -> None:
        self._pending = None
        back = self._store.roll_back()
        self._store.save_trial(None)
        config: PoleConfig | None = None  # None: the local file's config
        if back is not None:
            try:
                config = parse_config(back.config, f"last-known-good v{back.version}")
            except ConfigError as err:
                log.error("last-known-good config invalid, using the local file: %s", err)
        try:
            self._apply(NextConfig("rollback", config))
        except Exception:
            log.exception("re-applying the last-known-good config failed")
        self.counts.rolled_back += 1
        log.error("remote config v%s rolled back: %s", bad_version, why)
        self._report_config("rolled-back", why, bad_version)

    def _report_config(self, status: str, reason: str, version: int | None = None) -> None:
        message: dict[str, Any] = {
            "pole_id": self.pole_id,
            "status": status,
            "version": self.applied_version,
            "last_good_version": self._store.last_good.version if self._store.last_good else 0,
            "at": self._clock.wall().isoformat(),
        }
        if reason:
            message["reason"] = reason
        if version is not None and status != "applied":
            message["rejected_version"] = version
        payload = json.dumps(message, sort_keys=True).encode()
        self._publish(topics.config_reported(self.pole_id), payload, True)

    # -- commands --------------------------------------------------------------------------------

    def _on_command(self, name: str, payload: bytes) -> None:
        command_id: str | None = None
        try:
            data = self._checked(payload)
            raw_id = data.get("id")
            command_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
            try:
                command = Command.model_validate(data)
            except ValidationError as err:
                raise Rejected("invalid", "; ".join(validation_problems(err))) from None
            if command.pole_id != self.pole_id:
                raise Rejected("wrong-pole", f"addressed to {command.pole_id}, not {self.pole_id}")
            if command.name != name:
                raise Rejected("wrong-pole", f"command {command.name!r} sent on cmd/{name}")
            now = self._clock.wall()
            check_fresh(command.expires_at, now)
            if command.expires_at - now > self._max_ttl:
                raise Rejected("too-far-ahead", f"expiry more than {self._max_ttl} ahead")
            if command.id in self._store.seen:
                raise Rejected("replayed", f"command {command.id} was already received")
            action = self._commands.get(command.name)
            if action is None:
                raise Rejected(
                    "unknown-command", f"{command.name!r}; known: {sorted(self._commands)}"
                )
            self._store.remember_command(command.id, command.expires_at, now)
        except Rejected as rejected:
            self._count(rejected.reason, rejected.detail)
            self._report_command(name, command_id, "rejected", rejected.reason, rejected.detail)
            return
        self._run(action, command)

    def _run(self, action: CommandAction, command: Command) -> None:
        name, command_id = command.name, command.id
        answered = threading.Event()  # a background action's answer comes after 'running'

        def reply(status: str, detail: str, result: dict[str, Any] | None) -> None:
            answered.wait(10.0)
            self.answer_later(name, command_id, status, detail, result)

        try:
            detail = action(CommandCall(command_id, name, dict(command.args), reply))
            if detail is None:
                self._report_command(name, command_id, "running", "", "started; result follows")
        except Rejected as rejected:  # bad arguments, or busy: refused like a bad message
            self._count(rejected.reason, rejected.detail)
            self._report_command(name, command_id, "rejected", rejected.reason, rejected.detail)
            return
        except CommandFailedError as err:
            self.counts.commands_failed += 1
            self._report_command(name, command_id, "failed", "failed", str(err), err.result)
            return
        except Exception as err:
            log.exception("command %s failed", name)
            self.counts.commands_failed += 1
            self._report_command(name, command_id, "failed", "failed", f"internal error: {err}")
            return
        finally:
            answered.set()
        if detail is not None:
            reply("ok", detail, None)

    def answer_later(
        self,
        name: str,
        command_id: str,
        status: str,
        detail: str,
        result: dict[str, Any] | None = None,
    ) -> None:
        """A command's final answer after its first one: a background action's (after
        ``running``), or a ``reload`` whose rebuild failed (answered by the agent rebuilt
        instead: wiring.py). Counted as run or failed."""
        if status == "ok":
            self.counts.commands_run += 1
        else:
            self.counts.commands_failed += 1
        log.info("command %s (%s) %s: %s", name, command_id, status, detail)
        self._report_command(name, command_id, status, "", detail, result)

    def _report_command(  # noqa: PLR0917 (one call site a status, all of them used)
        self,
        name: str,
        command_id: str | None,
        status: str,
        reason: str,
        detail: str,
        result: dict[str, Any] | None = None,
    ) -> None:
        message: dict[str, Any] = {
            "pole_id": self.pole_id,
            "id": command_id,
            "name": name,
            "status": status,
            "detail": detail,
            "at": self._clock.wall().isoformat(),
        }
        if reason:
            message["reason"] = reason
        if result is not None:
            message["result"] = result
        payload = json.dumps(message, sort_keys=True).encode()
        self._publish(topics.command_result(self.pole_id, name), payload, False)
