"""What remote management keeps across restarts, in ``<state_dir>/remote/`` (each file written
atomically, mode 0600):

- ``applied.json``: the remote config now in force (version and config) and the highest version
  ever accepted (a rolled-back version stays used: the city must send a higher one);
- ``last_good.json``: the last remote config that ran healthy through its grace period;
- ``commands.json``: the ids of commands already run, with their expiry (pruned once expired:
  an expired command is refused anyway, so its id need not be kept);
- ``trial.json``: the remote config on trial (applied, not yet last-known-good): its version,
  whether a process is running it (cleared by a clean stop) and how many runs of it ended
  uncleanly (killed, crashed) before its grace period was over; and a rollback made at start-up
  that is still to be reported;
- ``counters.json``: the remote counters of the health report (rejections by reason, configs
  applied and rolled back, commands run and failed) since the state was created (counters.py).

A file that cannot be read is logged and treated as absent, never a crash: the agent then runs its
local config, which is the safe default.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pole_agent.atomic_file import write_atomic

log = logging.getLogger(__name__)

MAX_REMEMBERED_COMMANDS = 10000


@dataclass(frozen=True)
class StoredConfig:
    version: int
    config: dict[str, Any]
    failed_before: frozenset[str] = frozenset()
    """Components already failed when it was applied (not its fault if they stay failed)."""


@dataclass(frozen=True)
class Trial:
    """A remote config on trial (docs/remote.md, "A config that crashes the agent")."""

    version: int
    running: bool = False
    """A process runs it now; still true at the next start: that run ended uncleanly."""
    unclean_ends: int = 0
    """Runs of it that ended uncleanly before its grace period was over."""


@dataclass(frozen=True)
class BootRollback:
    """A rollback made at start-up (before MQTT was up), reported once the agent runs."""

    version: int
    reason: str


class RemoteStore:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "remote"
        self._applied = self.directory / "applied.json"
        self._last_good = self.directory / "last_good.json"
        self._commands = self.directory / "commands.json"
        self._trial = self.directory / "trial.json"
        self._counters = self.directory / "counters.json"
        self.counters: dict[str, Any] = {}
        self.highest_version = 0
        self.trial: Trial | None = None
        self.boot_rollback: BootRollback | None = None
        self.applied: StoredConfig | None = None
        self.last_good: StoredConfig | None = None
        self.seen: dict[str, datetime] = {}
        self._load()

    # -- loading ---------------------------------------------------------------------------------

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.error("remote state %s unreadable, ignored: %s", path, err)
            return None
        if not isinstance(data, dict):
            log.error("remote state %s is not an object, ignored", path)
            return None
        return data

    @staticmethod
    def _config(data: dict[str, Any] | None) -> StoredConfig | None:
        if data is None:
            return None
        version, config = data.get("version"), data.get("config")
        failed = data.get("failed_before", [])
        if isinstance(version, int) and isinstance(config, dict) and isinstance(failed, list):
            return StoredConfig(version, config, frozenset(str(name) for name in failed))
        return None

    def _load(self) -> None:
        applied = self._read(self._applied)
        self.applied = self._config(applied)
        highest = applied.get("highest_version") if applied else None
        self.highest_version = highest if isinstance(highest, int) else 0
        self.last_good = self._config(self._read(self._last_good))
        trial = self._read(self._trial) or {}
        version, running, ends = (trial.get(k) for k in ("version", "running", "unclean_ends"))
        if isinstance(version, int) and isinstance(running, bool) and isinstance(ends, int):
            self.trial = Trial(version, running, ends)
        note = trial.get("boot_rollback")
        if isinstance(note, dict):
            version, reason = note.get("version"), note.get("reason")
            if isinstance(version, int) and isinstance(reason, str):
                self.boot_rollback = BootRollback(version, reason)
        self.counters = self._read(self._counters) or {}
        commands = self._read(self._commands) or {}
        for command_id, expiry in commands.items():
            try:
                self.seen[str(command_id)] = datetime.fromisoformat(str(expiry))
            except ValueError:
                continue

    # -- saving ----------------------------------------------------------------------------------

    @staticmethod
    def _dump(data: dict[str, Any]) -> bytes:
        return json.dumps(data, sort_keys=True, indent=1).encode()

    def save_applied(self, stored: StoredConfig) -> None:
        self.highest_version = max(self.highest_version, stored.version)
        self.applied = stored
        self._write_applied()

    def _write_applied(self) -> None:
        data: dict[str, Any] = {"highest_version": self.highest_version}
        if self.applied is not None:
            data |= {
                "version": self.applied.version,
                "config": self.applied.config,
                "failed_before": sorted(self.applied.failed_before),
            }
        write_atomic(self._applied, self._dump(data))

    def save_last_good(self, stored: StoredConfig) -> None:
        self.last_good = stored
        write_atomic(
            self._last_good, self._dump({"version": stored.version, "config": stored.config})
        )

    def roll_back(self) -> StoredConfig | None:
        """Make last-known-good the applied config again (None: back to the local file)."""
        self.applied = self.last_good
        self._write_applied()
        return self.applied

    def save_trial(self, trial: Trial | None) -> None:
        """Record the trial (None: no config on trial), keeping a boot rollback note."""
        self.trial = trial
        self._write_trial()

    def note_boot_rollback(self, note: BootRollback | None) -> None:
        self.boot_rollback = note
        self._write_trial()

    def _write_trial(self) -> None:
        data: dict[str, Any] = {}
        if self.trial is not None:
            data |= {
                "version": self.trial.version,
                "running": self.trial.running,
                "unclean_ends": self.trial.unclean_ends,
            }
        if self.boot_rollback is not None:
            data["boot_rollback"] = {
                "version": self.boot_rollback.version,
                "reason": self.boot_rollback.reason,
            }
        write_atomic(self._trial, self._dump(data))

    def save_counters(self, counters: dict[str, Any]) -> None:
        self.counters = counters
        write_atomic(self._counters, self._dump(counters))

    def remember_command(self, command_id: str, expires_at: datetime, now: datetime) -> None:
        self.seen = {k: v for k, v in self.seen.items() if v > now}
        self.seen[command_id] = expires_at
        if len(self.seen) > MAX_REMEMBERED_COMMANDS:  # bounded: the soonest to expire go first
            keep = sorted(self.seen.items(), key=lambda kv: kv[1])[-MAX_REMEMBERED_COMMANDS:]
            self.seen = dict(keep)
        write_atomic(self._commands, self._dump({k: v.isoformat() for k, v in self.seen.items()}))
