"""The systemd notify protocol (sd_notify), written directly: no library.

systemd starts a ``Type=notify`` service with ``NOTIFY_SOCKET`` naming an AF_UNIX datagram
socket; the service sends newline-separated ``KEY=VALUE`` assignments to it: ``READY=1`` once it
serves, ``WATCHDOG=1`` every half of ``WatchdogSec`` while healthy (systemd passes the interval as
``WATCHDOG_USEC``), ``STATUS=...`` for ``systemctl status``, and ``STOPPING=1`` when it begins to
shut down. A path starting with ``@`` is a socket in the abstract namespace.

Outside systemd (no ``NOTIFY_SOCKET``) every call is a cheap no-op, so the same daemon code runs
from a terminal, in the simulator and under systemd. A send that fails is counted and logged once;
it never raises: the warning path must not depend on the service manager being reachable.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

#: The most a STATUS text may carry here: systemctl shows one line; the datagram stays small.
MAX_STATUS_CHARS = 400


class SystemdNotifier:
    """Sends notify messages to ``address`` (a path, or ``@name`` for the abstract namespace).

    ``address`` None (or unsupported) makes a disabled notifier. ``watchdog_interval_s`` is
    systemd's WatchdogSec as this process was given it (None: no watchdog asked for).
    """

    def __init__(self, address: str | None, *, watchdog_interval_s: float | None = None) -> None:
        self._address: str | bytes | None = None
        if address:
            if address.startswith("@"):
                self._address = b"\0" + address[1:].encode()
            elif address.startswith("/"):
                self._address = address
            else:
                log.warning(
                    "NOTIFY_SOCKET=%r is not a path or an abstract socket name: "
                    "systemd notifications are off",
                    address,
                )
        self.watchdog_interval_s = watchdog_interval_s if self._address is not None else None
        self._sock: socket.socket | None = None
        self.sent = 0
        self.errors = 0
        self.last_error = ""

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, pid: int | None = None
    ) -> SystemdNotifier:
        """A notifier from ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``.

        A watchdog is kept only if ``WATCHDOG_USEC`` is a positive integer and ``WATCHDOG_PID``
        (when set) names this process, as sd_watchdog_enabled(3) says; bad values are logged and
        ignored (the agent still runs, without the watchdog).
        """
        env = os.environ if environ is None else environ
        interval = _watchdog_interval(env, os.getpid() if pid is None else pid)
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_interval_s=interval)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments in one datagram; True if it was handed to the socket."""
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8", errors="replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(payload, self._address)
        except OSError as err:
            self.errors += 1
            self.last_error = str(err)
            if self.errors == 1 or self.errors % 1000 == 0:
                log.warning(
                    "systemd notify failed (%s) [%d failures so far]",
                    err.strerror or err,
                    self.errors,
                )
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *_status(status))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.send(*_status(text))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str | None) -> list[str]:
    if text is None:
        return []
    one_line = " ".join(text.split())
    return [f"STATUS={one_line[:MAX_STATUS_CHARS]}"]


def _watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    usec_text = env.get("WATCHDOG_USEC")
    if not usec_text:
        return None
    try:
        usec = int(usec_text)
    except ValueError:
        usec = 0
    if usec <= 0:
        log.warning("WATCHDOG_USEC=%r is not a positive integer: watchdog off", usec_text)
        return None
    pid_text = env.get("WATCHDOG_PID")
    if pid_text:
        try:
            watchdog_pid = int(pid_text)
        except ValueError:
            log.warning("WATCHDOG_PID=%r is not a process id: watchdog off", pid_text)
            return None
        if watchdog_pid != pid:
            # The watchdog belongs to another process (e.g. a parent that started this one).
            return None
    return usec / 1_000_000
