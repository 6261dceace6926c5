"""The pole's side of remote management: checks what the city sends, applies it, answers.

A message on ``config/desired`` or ``cmd/<name>`` is checked in this order, and the first failure
is the reason reported (docs/remote.md): ``malformed`` (not a JSON object), ``unsigned`` /
``bad-signature`` (when a fleet key is configured), ``invalid`` (does not fit the message model or,
for a config, the pole's config model; the detail names the key), ``wrong-pole``, ``expired``,
``too-far-ahead`` (a command whose expiry is beyond the allowed horizon, so its id need not be
remembered for ever), ``older-version`` (config) / ``replayed`` (command), ``unknown-command``.

A valid config is stored atomically, applied through the ``apply`` port and reported; it becomes
last-known-good once the agent stayed healthy through the grace period (``tick``); if a component
that was not failed before the change becomes ``failed`` in that period (the ``failed`` port), or
``apply`` fails, the
last-known-good config (or the local file's) is applied again and the rollback reported. A valid
command's id is stored before it runs, so it runs at most once, across restarts too.

``on_message`` never raises: every failure is logged, counted by reason and reported.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from pole_agent.config import ConfigError, PoleConfig, parse_config, validation_problems
from pole_agent.ports import Clock
from pole_agent.remote.envelope import (
    Command,
    DesiredConfig,
    Rejected,
    check_fresh,
    parse_json,
    verify,
)
from pole_agent.remote.store import RemoteStore, StoredConfig
from pole_agent.telemetry import topics

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, bool], None]
"""``(topic, payload, retain)``."""


class CommandFailedError(Exception):
    """A command's action could not do what was asked (bad arguments, not possible now)."""


CommandAction = Callable[[dict[str, Any]], str]
"""Runs a command with its ``args``; returns a short detail; raises CommandFailedError."""


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
        apply: Callable[[PoleConfig | None], None],
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
        self.rejected: Counter[str] = Counter()
        self.applied = 0
        self.rolled_back = 0
        self.commands_run = 0

    # -- start-up --------------------------------------------------------------------------------

    def effective_config(self) -> PoleConfig:
        return effective_config(self._store, self._local)

    def start(self) -> None:
        """After a restart, a stored config not yet proven healthy gets a new grace period."""
        applied, good = self._store.applied, self._store.last_good
        if applied is not None and (good is None or good.version != applied.version):
            with self._lock:
                self._pending = _Pending(applied, self._clock.monotonic())
        self._report_config("running", "")

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

    def _take(self, stored: StoredConfig, config: PoleConfig) -> None:
        with self._lock:
            stored = StoredConfig(stored.version, stored.config, self._failed())
            self._store.save_applied(stored)
            try:
                self._apply(config)
            except Exception as err:  # the agent could not start with it: roll back now
                log.exception("applying remote config v%s failed", stored.version)
                self._roll_back_locked(f"apply failed: {err}", stored.version)
                return
            self.applied += 1
            self._pending = _Pending(stored, self._clock.monotonic())
        log.info("remote config v%s applied", stored.version)
        self._report_config("applied", "")

    # -- grace period ----------------------------------------------------------------------------

    def tick(self) -> None:
        """Call often (the agent's timer): rolls back an unhealthy new config, or promotes a
        healthy one to last-known-good once its grace period is over."""
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
                self._pending = None
                log.info("remote config v%s is now last-known-good", pending.stored.version)

    def _roll_back_locked(self, why: str, bad_version: int) -> None:
        self._pending = None
        back = self._store.roll_back()
        config: PoleConfig | None = None  # None: the local file's config
        if back is not None:
            try:
                config = parse_config(back.config, f"last-known-good v{back.version}")
            except ConfigError as err:
                log.error("last-known-good config invalid, using the local file: %s", err)
        try:
            self._apply(config)
        except Exception:
            log.exception("re-applying the last-known-good config failed")
        self.rolled_back += 1
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
        try:
            detail = action(command.args)
        except CommandFailedError as err:
            self._report_command(name, command.id, "failed", "failed", str(err))
            return
        except Exception as err:
            log.exception("command %s failed", name)
            self._report_command(name, command.id, "failed", "failed", f"internal error: {err}")
            return
        self.commands_run += 1
        log.info("command %s (%s) done: %s", name, command.id, detail)
        self._report_command(name, command.id, "ok", "", detail)

    def _report_command(
        self, name: str, command_id: str | None, status: str, reason: str, detail: str
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
        payload = json.dumps(message, sort_keys=True).encode()
        self._publish(topics.command_result(self.pole_id, name), payload, False)


def effective_config(store: RemoteStore, local: PoleConfig) -> PoleConfig:
    """The config to run: the stored remote config, else the local file's. A stored config that
    no longer validates (an upgrade changed the model) falls back to last-known-good, then to the
    local file."""
    for stored in (store.applied, store.last_good):
        if stored is None:
            continue
        try:
            config = parse_config(stored.config, f"remote config v{stored.version}")
        except ConfigError as err:
            log.error("stored remote config no longer valid: %s", err)
            continue
        if config.pole_id == local.pole_id:
            return config
    return local
