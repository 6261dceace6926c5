"""A sign controller on a serial port speaking SPSIGN/1 (docs/warnings.md): the speed digits and
the preset messages of a sign that is not wired to GPIO lines.

Protocol, 8N1, ASCII lines ending ``\\r\\n``: ``S 42`` shows 42, ``S -`` blanks the digits;
``M <preset>`` selects a preset message, ``M -`` clears it; ``H`` is a keep-alive. The controller
answers every line ``OK`` or ``ERR <reason>`` and blanks itself when nothing arrived for 5 s (the
comms-loss default of traffic signs), which is why the keep-alive is sent every second.

The port is opened with the standard library (``os`` and ``termios``): pyserial stays the radar
driver's. One thread owns the port: ``show`` and ``select`` only record the wanted state and wake
it, so the warning path never waits on the serial line. The thread sends what changed, the
keep-alive when idle, reads the answers, reports health ``sign`` (ok; failed with the reason when
the port is gone, an answer is missing or ``ERR``), and reopens the port with backoff.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import termios
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

_BAUDS = {
    9600: termios.B9600,
    19200: termios.B19200,
    38400: termios.B38400,
    57600: termios.B57600,
    115200: termios.B115200,
}
KEEPALIVE_S = 1.0
REPLY_TIMEOUT_S = 0.5
REOPEN_MAX_S = 5.0

HealthReport = Callable[[str, str], None]
"""Called with (state, reason): 'ok' or 'failed'."""


@dataclass
class SignLinkStats:
    opens: int = 0
    sent: int = 0
    errors: int = 0
    missing_replies: int = 0
    last_error: str = ""


class SerialSignLink:
    def __init__(
        self,
        port: str,
        baud: int,
        *,
        on_health: HealthReport = lambda state, reason: None,
        keepalive_s: float = KEEPALIVE_S,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
    ) -> None:
        if baud not in _BAUDS:
            raise ValueError(f"unsupported baud {baud}; one of {sorted(_BAUDS)}")
        self._port = port
        self._baud = baud
        self._on_health = on_health
        self._keepalive_s = keepalive_s
        self._reply_timeout_s = reply_timeout_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._want: dict[str, str] = {"S": "-", "M": "-"}
        self._sent: dict[str, str] = {}
        self.stats = SignLinkStats()
        self._health: tuple[str, str] | None = None
        self._thread = threading.Thread(target=self._run, name="sign-link", daemon=True)

    # -- the ports (SpeedDisplay, SignOutput): non-blocking ------------------------------------

    def show(self, kmh: int | None) -> None:
        self._set("S", "-" if kmh is None else str(int(kmh)))

    def select(self, message: str | None) -> None:
        self._set("M", "-" if message is None else message)

    def _set(self, key: str, value: str) -> None:
        with self._lock:
            if self._want[key] == value:
                return
            self._want[key] = value
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._set("S", "-")
        self._set("M", "-")
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3.0)

    # -- the link thread ------------------------------------------------------------------------

    def _report(self, state: str, reason: str) -> None:
        if self._health != (state, reason):
            self._health = (state, reason)
            self._on_health(state, reason)

    def _open(self) -> int:
        fd = os.open(self._port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = _BAUDS[self._baud]
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except termios.error:
            os.close(fd)
            raise
        return fd

    def _run(self) -> None:
        backoff = 0.25
        while not self._stop.is_set():
            try:
                fd = self._open()
            except (OSError, termios.error) as err:
                self.stats.last_error = str(err)
                self._report("failed", f"cannot open {self._port}: {err}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, REOPEN_MAX_S)
                continue
            self.stats.opens += 1
            self._sent.clear()  # a reopened controller may have restarted: say everything again
            try:
                self._serve(fd)
                backoff = 0.25
            except OSError as err:
                self.stats.last_error = str(err)
                self._report("failed", f"link lost on {self._port}: {err}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, REOPEN_MAX_S)
            finally:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _serve(self, fd: int) -> None:
        buf = bytearray()
        last_sent = 0.0
        while True:
            with self._lock:
                changed = [(k, v) for k, v in self._want.items() if self._sent.get(k) != v]
            if self._stop.is_set() and not changed:
                return
            now = time.monotonic()
            if changed:
                for key, value in changed:
                    self._exchange(fd, f"{key} {value}", buf)
                    self._sent[key] = value
                last_sent = time.monotonic()
            elif now - last_sent >= self._keepalive_s:
                self._exchange(fd, "H", buf)
                last_sent = time.monotonic()
            else:
                self._wake.wait(self._keepalive_s - (now - last_sent))
                self._wake.clear()

    def _exchange(self, fd: int, command: str, buf: bytearray) -> None:
        """Send one line and wait for its answer; a missing answer or ERR is a fault, reported,
        and the link carries on (the controller's own timeout blanks it if we stay silent)."""
        os.write(fd, command.encode("ascii") + b"\r\n")
        self.stats.sent += 1
        deadline = time.monotonic() + self._reply_timeout_s
        while True:
            end = buf.find(b"\n")
            if end >= 0:
                reply = bytes(buf[:end]).strip()
                del buf[: end + 1]
                if reply == b"OK":
                    self._report("ok", f"SPSIGN/1 on {self._port}")
                    return
                if reply.startswith(b"ERR"):
                    self.stats.errors += 1
                    reason = reply.decode("ascii", "replace")[:80]
                    self._report("failed", f"sign refused {command!r}: {reason}")
                    return
                continue  # noise: skip the line
            left = deadline - time.monotonic()
            if left <= 0:
                self.stats.missing_replies += 1
                self._report("failed", f"no answer to {command!r} within {self._reply_timeout_s} s")
                return
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 256)
                if not chunk:
                    raise OSError("the port closed")
                buf += chunk
                if len(buf) > 4096:
                    buf.clear()


class SerialSignMessages:
    """The SignOutput port on a serial sign controller."""

    def __init__(self, link: SerialSignLink) -> None:
        self._link = link
        self.current: str | None = None

    def show(self, message: str | None) -> None:
        self.current = message
        self._link.select(message)

    def close(self) -> None:
        self._link.select(None)
