"""What remote management keeps across restarts, in ``<state_dir>/remote/`` (each file written
atomically, mode 0600):

- ``applied.json``: the remote config now in force (version and config) and the highest version
  ever accepted (a rolled-back version stays used: the city must send a higher one);
- ``last_good.json``: the last remote config that ran healthy through its grace period;
- ``commands.json``: the ids of commands already run, with their expiry (pruned once expired:
  an expired command is refused anyway, so its id need not be kept).

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

from pole_agent.remote.atomic import write_atomic

log = logging.getLogger(__name__)

MAX_REMEMBERED_COMMANDS = 10000


@dataclass(frozen=True)
class StoredConfig:
    version: int
    config: dict[str, Any]
    failed_before: frozenset[str] = frozenset()
    """Components already failed when it was applied (not its fault if they stay failed)."""


class RemoteStore:
    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "remote"
        self._applied = self.directory / "applied.json"
        self._last_good = self.directory / "last_good.json"
        self._commands = self.directory / "commands.json"
        self.highest_version = 0
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

    def remember_command(self, command_id: str, expires_at: datetime, now: datetime) -> None:
        self.seen = {k: v for k, v in self.seen.items() if v > now}
        self.seen[command_id] = expires_at
        if len(self.seen) > MAX_REMEMBERED_COMMANDS:  # bounded: the soonest to expire go first
            keep = sorted(self.seen.items(), key=lambda kv: kv[1])[-MAX_REMEMBERED_COMMANDS:]
            self.seen = dict(keep)
        write_atomic(self._commands, self._dump({k: v.isoformat() for k, v in self.seen.items()}))
