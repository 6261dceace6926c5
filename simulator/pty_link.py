"""A pseudo-terminal that stands in for a USB serial device, with a stable path and an unplug.

The device side (an emulator) holds the master end; the agent opens the slave end with pyserial
through ``link_path``, a symlink like the udev rule's ``/dev/radar`` on a pole, which survives a
replug even though the pts number underneath changes.

What a pyserial reader sees on ``unplug()`` (measured with pyserial 3.5 on Linux):

- the ``/dev/pts/N`` node disappears at once (devpts removes it when the master closes), and so
  does ``link_path``: reopening fails with ``SerialException`` (ENOENT);
- ``Serial.read()`` / ``readline()`` on the already open port raise ``SerialException("device
  reports readiness to read but returned no data ...")``: the slave reports a hangup as readable
  and then reads EOF;
- ``Serial.write()`` raises ``SerialException("write failed: [Errno 5] Input/output error")``;
- ``Serial.in_waiting`` raises a bare ``OSError`` (EIO), not a ``SerialException``.

That is the same family of errors a real USB CDC device gives when its cable is pulled.

The link keeps its own slave fd open while plugged. Without it the master reads EIO whenever no
reader has the port open, and bytes the device writes in the meantime would be lost; with it they
wait in the pty buffer (about 20 KB) as they would in a USB serial adapter's, and once that is full
further writes are dropped (the master is non-blocking, so a device never stalls on a slow
reader).

Thread safety: ``read``, ``write`` and ``unplug`` may be called from different threads. A reader
blocked in ``read`` is woken through a pipe so that ``unplug`` never closes a descriptor another
thread is still waiting on (a closed fd number may be reused at once by an unrelated open).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import threading
import tty
from pathlib import Path
from types import TracebackType


class LinkUnpluggedError(OSError):
    """The link is unplugged (or closed): there is no device end to read or write."""

    def __init__(self, message: str = "serial link is unplugged") -> None:
        super().__init__(errno.ENODEV, message)


class PtyLink:
    """A raw-mode pty pair with a stable symlink to its slave; plugged on construction."""

    def __init__(self, link_dir: str | Path, name: str = "radar") -> None:
        self._link_path = Path(link_dir) / name
        self._link_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # guards the fds and serialises writes
        self._read_lock = threading.Lock()  # held while a reader waits on the master
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_path: str | None = None
        self._closed = False
        self.bytes_dropped = 0
        """Bytes a write could not place because the pty buffer was full."""
        self.replug()

    # -- state -----------------------------------------------------------------------------
    @property
    def link_path(self) -> Path:
        """The stable path a reader opens; it exists only while plugged."""
        return self._link_path

    @property
    def plugged(self) -> bool:
        with self._lock:
            return self._master is not None

    @property
    def master_fd(self) -> int:
        """The device end; raises ``LinkUnpluggedError`` while unplugged."""
        with self._lock:
            if self._master is None:
                raise LinkUnpluggedError()
            return self._master

    @property
    def slave_path(self) -> str:
        """The current ``/dev/pts/N``; raises ``LinkUnpluggedError`` while unplugged."""
        with self._lock:
            if self._slave_path is None:
                raise LinkUnpluggedError()
            return self._slave_path

    # -- plugging --------------------------------------------------------------------------
    def replug(self) -> None:
        """Make a fresh pty pair and point ``link_path`` at it (no-op if already plugged)."""
        with self._lock:
            if self._closed:
                raise ValueError("PtyLink is closed")
            if self._master is not None:
                return
            master, slave = os.openpty()
            try:
                tty.setraw(master)
                tty.setraw(slave)
                flags = fcntl.fcntl(master, fcntl.F_GETFL)
                fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
                slave_path = os.ttyname(slave)
                tmp = self._link_path.with_name(f".{self._link_path.name}.{os.getpid()}.tmp")
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                tmp.symlink_to(slave_path)
                tmp.replace(self._link_path)  # atomic: a reader never sees a dangling link
            except BaseException:
                os.close(master)
                os.close(slave)
                raise
            self._master, self._slave, self._slave_path = master, slave, slave_path

    def unplug(self) -> None:
        """Close both ends and remove ``link_path``: what pulling the USB cable looks like."""
        with self._lock:
            if self._master is None:
                return
            with contextlib.suppress(FileNotFoundError):
                self._link_path.unlink()
            master, slave = self._master, self._slave
            self._master = self._slave = None
            self._slave_path = None
            self._wake()
        # Wait until no reader is inside select() on the old master before closing it.
        with self._read_lock:
            os.close(master)
            if slave is not None:
                os.close(slave)

    def close(self) -> None:
        """Unplug for good and release the wake pipe; idempotent."""
        if self._closed:
            return
        self.unplug()
        with self._lock:
            self._closed = True
        with self._read_lock:
            os.close(self._wake_r)
            os.close(self._wake_w)

    def __enter__(self) -> PtyLink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- I/O on the device end ---------------------------------------------------------------
    def write(self, data: bytes) -> int:
        """Write to the reader; returns the bytes placed (the rest is dropped when full).

        Raises ``LinkUnpluggedError`` while unplugged.
        """
        with self._lock:
            if self._master is None:
                raise LinkUnpluggedError()
            written = 0
            view = memoryview(data)
            while written < len(data):
                try:
                    written += os.write(self._master, view[written:])
                except BlockingIOError:
                    break
            self.bytes_dropped += len(data) - written
            return written

    def read(self, max_bytes: int = 4096, timeout_s: float | None = None) -> bytes:
        """What the reader sent, waiting up to ``timeout_s`` real seconds; b"" on timeout.

        Raises ``LinkUnpluggedError`` while unplugged or when ``unplug`` interrupts the wait.
        """
        with self._read_lock:
            with self._lock:
                if self._master is None or self._closed:
                    raise LinkUnpluggedError()
                master = self._master
            ready, _, _ = select.select([master, self._wake_r], [], [], timeout_s)
            if self._wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 64)
            with self._lock:
                if self._master != master:
                    raise LinkUnpluggedError()
            if master not in ready:
                return b""
            try:
                return os.read(master, max_bytes)
            except BlockingIOError:
                return b""
            except OSError as err:  # EIO: no slave end open (cannot happen while we hold one)
                if err.errno == errno.EIO:
                    return b""
                raise

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")
