"""systemd's side of the notify protocol, for tests: a listening socket, and a small supervisor.

``NotifyListener`` binds an AF_UNIX datagram socket (what systemd passes as NOTIFY_SOCKET) and
records every message with the sender's pid (SCM_CREDENTIALS, as systemd reads it) and the time
it arrived. ``Supervisor`` runs ``<root>/opt/pole-agent/current/bin/python -m pole_agent run`` the
way the unit does: ``Type=notify`` (active once READY=1 arrives), ``WatchdogSec`` (no WATCHDOG=1
for the interval: SIGABRT), ``Restart=on-failure`` (counted as ``restarts``); it is the
ServiceManager the updater drives in tests, and reads back like ``systemctl show``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pole_agent.service_control import ServiceState

_CRED = struct.Struct("3i")


@dataclass(frozen=True)
class Notice:
    pid: int
    at: float  # time.monotonic() on arrival
    fields: dict[str, str]


class NotifyListener:
    def __init__(self) -> None:
        # A short path: AF_UNIX paths are limited to 108 bytes.
        self._dir = tempfile.mkdtemp(prefix="ntf", dir="/tmp")
        self.path = os.path.join(self._dir, "notify.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.settimeout(0.1)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.notices: list[Notice] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, ancdata, _, _ = self._sock.recvmsg(4096, socket.CMSG_SPACE(_CRED.size))
            except TimeoutError:
                continue
            except OSError:
                return
            pid = 0
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _CRED.unpack(payload[: _CRED.size])[0]
            fields = dict(
                line.partition("=")[::2] for line in data.decode().splitlines() if "=" in line
            )
            with self._cond:
                self.notices.append(Notice(pid, time.monotonic(), fields))
                self._cond.notify_all()

    def of(self, key: str, pid: int | None = None) -> list[Notice]:
        with self._lock:
            return [n for n in self.notices if key in n.fields and pid in (None, n.pid)]

    def wait_for(
        self, key: str, count: int = 1, timeout: float = 30.0, pid: int | None = None
    ) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [n for n in self.notices if key in n.fields and pid in (None, n.pid)]
                if len(got) >= count:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self._dir)


class Supervisor:
    """Runs the release under ``current`` as systemd would, for one test."""

    def __init__(
        self,
        root: Path,
        config: Path,
        *,
        watchdog_s: float,
        deps_path: str,
        restart_s: float = 0.5,
    ) -> None:
        self.root = root
        self.config = config
        self.watchdog_s = watchdog_s
        self.deps_path = deps_path
        self.restart_s = restart_s
        self.listener = NotifyListener()
        self.restarts = 0
        self.starts = 0
        self.output: list[str] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        release = (self.root / "opt" / "pole-agent" / "current").resolve()
        _give_board_profiles(release)
        env = {
            **os.environ,
            "NOTIFY_SOCKET": self.listener.path,
            "WATCHDOG_USEC": str(int(self.watchdog_s * 1_000_000)),
            # The release venvs in tests hold only the pole_agent wheel (installed with
            # PIP_NO_DEPS): its dependencies come from the test environment, after it.
            "PYTHONPATH": self.deps_path,
            "PYTHONUNBUFFERED": "1",
        }
        self._proc = subprocess.Popen(
            [
                str(release / "bin" / "python"),
                "-m",
                "pole_agent",
                "run",
                "--config",
                str(self.config),
            ],
            env=env,
            cwd=self.config.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.starts += 1
        proc = self._proc
        threading.Thread(target=self._drain, args=(proc,), daemon=True).start()

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self.output.append(raw.decode(errors="replace").rstrip())

    def _watch(self) -> None:
        """Restart=on-failure and WatchdogSec, checked every 50 ms."""
        while not self._closed.wait(0.05):
            with self._lock:
                proc = self._proc
                if proc is None or self._stopping:
                    continue
                code = proc.poll()
                if code is not None:
                    if code != 0:
                        self.restarts += 1
                        self._proc = None
                        threading.Timer(self.restart_s, self._auto_restart).start()
                    continue
                pings = self.listener.of("WATCHDOG", proc.pid) + self.listener.of("READY", proc.pid)
                if pings and time.monotonic() - max(n.at for n in pings) > self.watchdog_s:
                    proc.send_signal(signal.SIGABRT)

    def _auto_restart(self) -> None:
        with self._lock:
            if self._proc is None and not self._stopping and not self._closed.is_set():
                self._spawn()

    def _stop_proc(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None

    # -- the ServiceManager port -------------------------------------------------------------

    def restart(self) -> None:
        with self._lock:
            self._stopping = True
            self._stop_proc()
            self._stopping = False
            self._spawn()

    def state(self) -> ServiceState:
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return ServiceState(False, 0, self.restarts, "", "inactive")
            ready = self.listener.of("READY", proc.pid)
            statuses = self.listener.of("STATUS", proc.pid)
            text = statuses[-1].fields["STATUS"] if statuses else ""
            return ServiceState(bool(ready), proc.pid, self.restarts, text, "running")

    def close(self) -> None:
        with self._lock:
            self._stopping = True
            self._stop_proc()
        self._closed.set()
        self._thread.join(timeout=2)
        self.listener.close()


def _give_board_profiles(release: Path) -> None:
    """Board profiles are not in the wheel: on a pole the installer puts them in
    /usr/share/pole-agent/hw/boards. A release in a throwaway root cannot look there, so its
    copy is put where the agent also looks: beside its package (board_profile.default_hw_dirs)."""
    repo_boards = Path(__file__).resolve().parents[2] / "hw" / "boards"
    for site in release.glob("lib/python3*/site-packages"):
        boards = site / "hw" / "boards"
        boards.mkdir(parents=True, exist_ok=True)
        for profile in repo_boards.glob("*.toml"):
            (boards / profile.name).write_bytes(profile.read_bytes())
