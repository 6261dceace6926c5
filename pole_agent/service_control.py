"""The agent's systemd service as the updater sees it: restart it, read its state.

The only module that runs ``systemctl``. The state comes from ``systemctl show``: whether the
unit is active and running, its main process, how often systemd restarted it, and the STATUS text
the agent sends (``version=... watchdog=...``, see pole_agent/daemon.py).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

UNIT = "pole-agent.service"


@dataclass(frozen=True, slots=True)
class ServiceState:
    """A service's state at one moment."""

    active: bool
    main_pid: int
    restarts: int
    status_text: str
    detail: str = ""

    def field(self, key: str) -> str | None:
        """A ``key=value`` word of the STATUS text (``version``, ``watchdog``)."""
        for word in self.status_text.split():
            name, sep, value = word.partition("=")
            if sep and name == key:
                return value
        return None


class ServiceError(Exception):
    """systemctl failed."""


class SystemdService:
    """A systemd unit driven with ``systemctl``."""

    def __init__(self, unit: str = UNIT, systemctl: str = "systemctl") -> None:
        self.unit = unit
        self._systemctl = systemctl

    def _run(self, *args: str, check: bool = True) -> str:
        try:
            result = subprocess.run(
                [self._systemctl, *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ServiceError(f"systemctl {' '.join(args)}: {err}") from None
        if check and result.returncode != 0:
            raise ServiceError(
                f"systemctl {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout

    def restart(self) -> None:
        """Clear a start-limit failure (a rollback must be able to start the unit again), then
        restart without waiting: the caller watches the state."""
        self._run("reset-failed", self.unit, check=False)
        self._run("restart", "--no-block", self.unit)

    def state(self) -> ServiceState:
        out = self._run(
            "show",
            self.unit,
            "--property=ActiveState,SubState,MainPID,NRestarts,StatusText",
        )
        props = dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)
        try:
            main_pid = int(props.get("MainPID", "0") or 0)
            restarts = int(props.get("NRestarts", "0") or 0)
        except ValueError:
            main_pid, restarts = 0, 0
        active, sub = props.get("ActiveState", ""), props.get("SubState", "")
        return ServiceState(
            active=active == "active" and sub == "running",
            main_pid=main_pid,
            restarts=restarts,
            status_text=props.get("StatusText", ""),
            detail=f"{active}/{sub}",
        )
