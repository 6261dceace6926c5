"""A real Mosquitto broker on a loopback port, for integration and fault tests.

The agent's MQTT publisher is tested against the broker the city runs, not a Python stand-in
(an in-process broker was seen to deliver retained messages twice). Each broker gets its own
work directory with its config and log; ``stop()`` / ``start()`` keep the port, so a test can
take the broker away and bring it back at the address the agent is still retrying.

Mosquitto started as root drops privileges to the ``mosquitto`` user and then cannot read
root-owned 0600 password, ACL or key files; the config therefore names the current user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

LOOPBACK = "127.0.0.1"
DEFAULT_SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin")


class BrokerUnavailable(RuntimeError):  # noqa: N818 - the name callers and docs use
    """No ``mosquitto`` binary on this machine."""


class BrokerStartError(RuntimeError):
    """Mosquitto did not come up; the message carries its log."""


def find_free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def find_mosquitto(path: str | None = None, extra_dirs: Iterable[str] = DEFAULT_SEARCH_DIRS) -> str:
    """The mosquitto binary from ``PATH`` (or ``path``), else from the sbin directories.

    Debian installs it in /usr/sbin, which a non-root PATH often lacks.
    """
    found = shutil.which("mosquitto", path=path)
    if found:
        return found
    for directory in extra_dirs:
        candidate = Path(directory) / "mosquitto"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise BrokerUnavailable(
        "mosquitto not found in PATH or /usr/sbin; install it with `apt-get install mosquitto`"
    )


def port_accepts(host: str, port: int, timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _with_parent_death_signal(command: list[str]) -> list[str]:
    """Prefix ``setpriv --pdeathsig TERM`` (util-linux) when available, so that Linux stops the
    broker when the process that started it dies: a demo or test killed hard (SIGKILL, a closed
    terminal) then leaves no broker behind. (The signal follows the starting *thread*: start
    brokers from a thread that outlives them, as the demo and fixtures do.)"""
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        return command
    return [setpriv, "--pdeathsig", "TERM", *command]


class MosquittoBroker:
    """One mosquitto process on ``host:port``; a context manager that starts and removes it."""

    def __init__(
        self,
        *,
        port: int | None = None,
        allow_anonymous: bool = True,
        extra_config: str = "",
        work_dir: str | Path | None = None,
        start_timeout_s: float = 10.0,
        binary: str | None = None,
    ) -> None:
        """``extra_config`` lines are appended to the config (password_file, acl_file,
        listeners with TLS ...); relative file names in it resolve against ``work_dir``."""
        if binary is not None and not (Path(binary).is_file() and os.access(binary, os.X_OK)):
            raise BrokerUnavailable(
                f"mosquitto binary {binary!r} not found; install it with "
                "`apt-get install mosquitto`"
            )
        self.binary = binary or find_mosquitto()
        self.host = LOOPBACK
        self.port = port if port is not None else find_free_port()
        self.allow_anonymous = allow_anonymous
        self.extra_config = extra_config
        self.start_timeout_s = start_timeout_s
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="mosquitto-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.work_dir / "mosquitto.conf"
        self.log_path = self.work_dir / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- config and log --------------------------------------------------------------------
    def config_text(self) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "persistence false",
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
        ]
        if self.extra_config:
            lines.append(self.extra_config.rstrip("\n"))
        return "\n".join(lines) + "\n"

    def log_text(self) -> str:
        """Everything mosquitto has logged in this work dir, across restarts."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    def start(self) -> None:
        """Start mosquitto (again) on the same port and wait until it accepts connections."""
        if self.running:
            return
        self._reap()
        self.config_path.write_text(self.config_text())
        self._log_file = self.log_path.open("ab")
        self._process = subprocess.Popen(
            _with_parent_death_signal([self.binary, "-c", str(self.config_path)]),
            cwd=self.work_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if port_accepts(self.host, self.port):
                return
            time.sleep(0.02)
        status = self._process.poll()
        self.kill()
        reason = (
            f"exited with status {status}"
            if status is not None
            else f"did not accept connections within {self.start_timeout_s} s"
        )
        raise BrokerStartError(
            f"mosquitto on {self.host}:{self.port} {reason}; its log:\n{self.log_text()}"
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM and wait (SIGKILL if it does not go within ``timeout_s``)."""
        if self.running and self._process is not None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=timeout_s)
        self._reap()

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without closing its clients' sessions cleanly."""
        if self.running and self._process is not None:
            self._process.kill()
            self._process.wait(timeout=5.0)
        self._reap()

    def close(self) -> None:
        """Stop, and remove the work dir if this broker made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _reap(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            self._process = None
        if self._process is None and self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
