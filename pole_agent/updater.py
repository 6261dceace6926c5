"""Updates on the pole: install beside, switch, watch, keep or roll back.

The layout (under a root, ``/`` on a pole, a throwaway folder in tests)::

    /opt/pole-agent/releases/<version>/   one virtual environment per release, .release.json last
    /opt/pole-agent/current -> releases/<version>    what systemd runs (ExecStart goes through it)
    /opt/pole-agent/previous -> releases/<version>   the release before: the rollback target
    /etc/pole-agent/release-keys/*.pub                the keys whose signatures the pole accepts
    /var/lib/pole-agent-update/pending.json           an update switched to and not yet confirmed
    /var/lib/pole-agent-update/history.jsonl          one line per update, rollback or recovery

``apply`` verifies the artefact (nothing changes if it is refused), installs the new release
beside the running one, records the update as pending, switches ``current``, restarts the service
and watches it for a grace period: the new version must report itself ready (its STATUS text says
``version=<new>``) and stay up (same main process, no restart by systemd, watchdog not withheld).
If it does, the pending record is removed and old releases pruned; if not, ``current`` goes back,
the service is restarted on the previous release and the failed one is removed. A pole that
reboots while an update is pending (power cut, or systemd's start-limit reboot) rolls back at boot:
``recover`` runs before the agent from the *previous* release (pole-agent-update-recover.service).

The updater runs from the release that is running when it starts (the known-good one), so the
code that rolls back is never the code being tried.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pole_agent.ports import Clock
from pole_agent.release_layout import (
    MARKER,
    Layout,
    ReleaseInstallError,
    install_release,
    remove_pending,
    switch_link,
    write_json_atomic,
)
from pole_agent.service_control import ServiceState

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 90.0
DEFAULT_POLL_S = 1.0


class UpdateError(Exception):
    """The update cannot go on; nothing was switched (the message says what to do)."""


class ServiceManager(Protocol):
    """The agent's service: systemd on a pole (SystemdService), a supervisor in tests.

    ``restart`` (re)starts the service from whatever ``current`` points to and returns without
    waiting for it; ``state`` reads its state now.
    """

    def restart(self) -> None: ...

    def state(self) -> ServiceState: ...


@dataclass(frozen=True, slots=True)
class HealthResult:
    healthy: bool
    reason: str


@dataclass(frozen=True, slots=True)
class UpdateResult:
    outcome: Literal["committed", "unchanged", "rolled-back", "rollback-unhealthy"]
    version: str
    previous: str | None
    reason: str


def release_key(version: str) -> tuple[tuple[int, ...], str]:
    """Orders versions by their numeric release part (``0.10.0`` after ``0.9.1``)."""
    match = re.match(r"^([0-9]+(?:\.[0-9]+)*)(.*)$", version)
    if match is None:
        return ((), version)
    return (tuple(int(x) for x in match.group(1).split(".")), match.group(2))


# -- watching the service ----------------------------------------------------------------------


def wait_healthy(
    service: ServiceManager, clock: Clock, version: str, *, grace_s: float, poll_s: float
) -> HealthResult:
    """Watch the service for ``grace_s``: it must report ``version`` ready and then stay up (same
    main process, no restart by systemd, watchdog not withheld) until the grace period ends."""
    deadline = clock.monotonic() + grace_s
    pid: int | None = None
    baseline: int | None = None
    last = "no state read"
    while True:
        state = service.state()
        last = f"{state.detail or ('active' if state.active else 'inactive')} {state.status_text}"
        if baseline is None:
            baseline = state.restarts
        if state.restarts > baseline:
            return HealthResult(
                False, f"{version} was restarted during the grace period ({last.strip()})"
            )
        reports = state.active and state.main_pid > 0 and state.field("version") == version
        if pid is None and reports:
            pid = state.main_pid
        elif pid is not None:
            if not state.active or state.main_pid == 0:
                return HealthResult(False, f"{version} stopped running: {last}")
            if state.main_pid != pid:
                return HealthResult(False, f"{version} was restarted during the grace period")
            if not reports:
                return HealthResult(False, f"{version} no longer reports itself: {last}")
        if pid is not None and state.field("watchdog") == "withheld":
            return HealthResult(False, f"{version} withholds its watchdog: {last}")
        if clock.monotonic() >= deadline:
            if pid is None:
                return HealthResult(
                    False, f"{version} did not report ready within {grace_s:g} s ({last})"
                )
            return HealthResult(True, f"{version} up for the {grace_s:g} s grace period")
        clock.sleep(poll_s)


# -- the updater --------------------------------------------------------------------------------


class Updater:
    def __init__(
        self,
        layout: Layout,
        service: ServiceManager,
        clock: Clock,
        *,
        python: str | None = None,
        grace_s: float = DEFAULT_GRACE_S,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        self.layout = layout
        self.service = service
        self.clock = clock
        self.python = python or sys.executable
        self.grace_s = grace_s
        self.poll_s = poll_s

    def _record(self, event: str, **fields: Any) -> None:
        self.layout.state.mkdir(parents=True, exist_ok=True)
        entry = {"ts": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, **fields}
        with self.layout.history.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        log.info("update %s: %s", event, fields)

    def apply(self, artefact: Path, *, allow_downgrade: bool = False) -> UpdateResult:
        """Verify, install beside, switch, watch; keep or roll back. Raises ReleaseRefusedError or
        UpdateError (nothing switched) when the update cannot be tried."""
        from pole_agent.release import extract_wheels, verify_artefact  # noqa: PLC0415

        layout = self.layout
        verified = verify_artefact(artefact, layout.keys)
        version = verified.manifest.version
        current = layout.link_version(layout.current)
        if current is None:
            raise UpdateError(
                f"no current release under {layout.base}: install with deploy/install.sh first"
            )
        if layout.pending.exists():
            raise UpdateError(
                f"an update is pending ({layout.pending}): run `pole-agent update recover` first"
            )
        if version == current:
            return UpdateResult("unchanged", version, current, f"{version} is already running")
        if release_key(version) < release_key(current) and not allow_downgrade:
            raise UpdateError(
                f"{version} is older than the running {current}: refused "
                "(pass --allow-downgrade to install an older release on purpose)"
            )
        old_previous = layout.link_version(layout.previous)
        layout.state.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=layout.state, prefix="incoming-") as tmp:
            wheels = Path(tmp)
            extract_wheels(artefact, verified, wheels)
            try:
                install_release(
                    layout,
                    version,
                    verified.manifest.requirement,
                    wheels,
                    python=self.python,
                    source=f"{artefact.name} sha256:{verified.manifest_sha256} "
                    f"key:{verified.key_name}",
                )
            except ReleaseInstallError as err:
                raise UpdateError(str(err)) from None
        write_json_atomic(
            layout.pending, {"from": current, "to": version, "previous": old_previous}
        )
        switch_link(layout.previous, current)
        switch_link(layout.current, version)
        self._record("switched", to=version, frm=current, key=verified.key_name)
        self.service.restart()
        health = wait_healthy(
            self.service, self.clock, version, grace_s=self.grace_s, poll_s=self.poll_s
        )
        if health.healthy:
            remove_pending(layout)
            self._record("committed", version=version, reason=health.reason)
            self.prune()
            return UpdateResult("committed", version, current, health.reason)
        return self._roll_back(version, current, old_previous, health.reason)

    def _roll_back(
        self, failed: str, good: str, good_previous: str | None, reason: str
    ) -> UpdateResult:
        layout = self.layout
        switch_link(layout.current, good)
        if good_previous is not None and good_previous != failed:
            switch_link(layout.previous, good_previous)
        elif layout.previous.is_symlink():
            layout.previous.unlink()
        self._record("rolled-back", failed=failed, to=good, reason=reason)
        self.service.restart()
        health = wait_healthy(
            self.service, self.clock, good, grace_s=self.grace_s, poll_s=self.poll_s
        )
        remove_pending(layout)
        shutil.rmtree(layout.release(failed), ignore_errors=True)
        if not health.healthy:
            self._record("rollback-unhealthy", version=good, reason=health.reason)
            return UpdateResult("rollback-unhealthy", failed, good, f"{reason}; {health.reason}")
        return UpdateResult("rolled-back", failed, good, reason)

    def recover(self) -> str:
        """At boot, before the agent: an update still pending was never confirmed healthy, so
        go back to the release it replaced (the service is not restarted: it has not started)."""
        layout = self.layout
        if not layout.pending.exists():
            return "nothing pending"
        try:
            pending = json.loads(layout.pending.read_text(encoding="utf-8"))
            good, failed = str(pending["from"]), str(pending["to"])
            good_previous = pending.get("previous")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UpdateError(f"{layout.pending} is unreadable ({err}): switch by hand") from None
        if not (layout.release(good) / MARKER).is_file():
            raise UpdateError(f"release {good} to roll back to is not installed: switch by hand")
        switch_link(layout.current, good)
        if isinstance(good_previous, str) and (layout.release(good_previous) / MARKER).is_file():
            switch_link(layout.previous, good_previous)
        elif layout.previous.is_symlink():
            layout.previous.unlink()
        remove_pending(layout)
        if failed != good:
            shutil.rmtree(layout.release(failed), ignore_errors=True)
        self._record("recovered", failed=failed, to=good)
        return f"update to {failed} was not confirmed: back on {good}"

    def rollback(self) -> UpdateResult:
        """By hand: switch back to ``previous`` and restart (no artefact needed)."""
        layout = self.layout
        current = layout.link_version(layout.current)
        previous = layout.link_version(layout.previous)
        if previous is None or current is None:
            raise UpdateError("no previous release to roll back to")
        if layout.pending.exists():
            raise UpdateError("an update is pending: run `pole-agent update recover` instead")
        switch_link(layout.current, previous)
        switch_link(layout.previous, current)
        self._record("manual-rollback", to=previous, frm=current)
        self.service.restart()
        health = wait_healthy(
            self.service, self.clock, previous, grace_s=self.grace_s, poll_s=self.poll_s
        )
        outcome: Literal["committed", "rollback-unhealthy"] = (
            "committed" if health.healthy else "rollback-unhealthy"
        )
        return UpdateResult(outcome, previous, current, health.reason)

    def prune(self) -> list[str]:
        """Remove releases other than ``current`` and ``previous``."""
        keep = {
            v
            for v in (
                self.layout.link_version(self.layout.current),
                self.layout.link_version(self.layout.previous),
            )
            if v
        }
        removed = []
        if self.layout.releases.is_dir():
            for path in sorted(self.layout.releases.iterdir()):
                if path.name not in keep and not path.name.startswith("."):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
        return removed

    def status(self) -> dict[str, Any]:
        layout = self.layout
        pending = None
        if layout.pending.exists():
            try:
                pending = json.loads(layout.pending.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pending = "unreadable"
        history: list[str] = []
        if layout.history.exists():
            history = layout.history.read_text(encoding="utf-8").splitlines()[-5:]
        return {
            "current": layout.link_version(layout.current),
            "previous": layout.link_version(layout.previous),
            "installed": layout.installed(),
            "pending": pending,
            "trusted_keys": sorted(p.stem for p in layout.keys.glob("*.pub"))
            if layout.keys.is_dir()
            else [],
            "history": history,
        }
