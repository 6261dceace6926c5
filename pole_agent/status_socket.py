"""The running agent's state for local tools (`pole-agent status`, `watch`, `selftest`): a UNIX
socket, owner-only, that answers one JSON snapshot per connection.

Why a socket and not a JSON file replaced every second: the snapshot is built when asked, so it is
never stale and a dead agent cannot be mistaken for a live one (a left-over file would be; a
socket with no one listening refuses the connection); and nothing is written to the SD card every
second for years. Access control: the socket is bound in the agent's state dir with mode 0600
before ``listen()`` (no connection can arrive before the mode is set), and each peer's uid is
checked with SO_PEERCRED: only the agent's own user and root are answered.

Protocol: the client sends one line, ``status`` (or nothing, then half-closes), and reads one JSON
object (:class:`StatusSnapshot`, status_snapshot.py) until the server closes. Any other request
gets ``{"error": ...}`` and is counted. ``query`` also reads the previous snapshot versions (an
installer's newer ``pole-agent`` asking an agent not yet restarted after an update). The server
is a component started and stopped by app.py; a failure to bind is logged and reported as the
``status`` health component, never a start-up error: the pole warns without it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from pole_agent.status_snapshot import (
    NewerSnapshotError,
    StatusSnapshot,
    build_snapshot,
    operator_text_item,
)

__all__ = [
    "StatusServer",
    "StatusSnapshot",
    "StatusUnavailableError",
    "StatusVersionError",
    "build_snapshot",
    "operator_text_item",
    "query",
    "socket_path",
]

log = logging.getLogger(__name__)

SOCKET_NAME = "status.sock"
MAX_REQUEST = 256
UNIX_PATH_MAX = 107


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def _answers(path: Path) -> bool:
    """Whether something listens on the socket at ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class StatusServer:
    """Serves ``snapshot()`` on a 0600 UNIX socket from a thread of its own."""

    def __init__(
        self,
        path: Path,
        snapshot: Callable[[], BaseModel],
        *,
        on_problem: Callable[[str], object] | None = None,
    ) -> None:
        self.path = path
        self._snapshot = snapshot
        self._on_problem = on_problem
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.served = 0
        self.refused = 0
        """Connections refused (another user) or requests rejected (unknown request)."""

    def start(self) -> None:
        try:
            self._sock = self._bind()
        except OSError as err:
            message = f"status socket {self.path}: {err.strerror or err}"
            log.error("%s: `pole-agent status` will not work", message)
            if self._on_problem is not None:
                self._on_problem(message)
            return
        self._thread = threading.Thread(target=self._run, name="status-socket", daemon=True)
        self._thread.start()

    def _bind(self) -> socket.socket:
        if len(os.fsencode(self.path)) > UNIX_PATH_MAX:
            raise OSError(0, f"path longer than {UNIX_PATH_MAX} bytes")
        if self.path.is_symlink() or (
            self.path.exists() and not stat.S_ISSOCK(self.path.lstat().st_mode)
        ):
            raise OSError(0, "exists and is not a socket: refusing to replace it")
        if self.path.exists() and _answers(self.path):
            raise OSError(0, "another agent is serving this state dir: not taking it over")
        self.path.unlink(missing_ok=True)  # a left-over from a run that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        sock.listen(8)
        sock.settimeout(0.5)
        return sock

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with conn:
                try:
                    self._serve(conn)
                except Exception:
                    log.exception("status socket: request failed")

    def _serve(self, conn: socket.socket) -> None:
        uid = _peer_uid(conn)
        if uid not in (os.getuid(), 0):
            self.refused += 1
            log.warning("status socket: refused uid %d", uid)
            return
        conn.settimeout(2.0)
        request = b""
        try:
            while b"\n" not in request and len(request) <= MAX_REQUEST:
                chunk = conn.recv(MAX_REQUEST)
                if not chunk:
                    break
                request += chunk
        except TimeoutError:
            pass
        text = request.strip().decode("utf-8", "replace")
        if text not in ("", "status"):
            self.refused += 1
            conn.sendall(b'{"error": "unknown request: expected \\"status\\""}\n')
            return
        try:
            payload = self._snapshot().model_dump_json().encode()
        except Exception as err:
            log.exception("status socket: building the snapshot failed")
            payload = json.dumps({"error": f"snapshot failed: {err}"}).encode()
        conn.sendall(payload + b"\n")
        self.served += 1

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._sock is not None:
            self.path.unlink(missing_ok=True)
        self._sock = None


class StatusUnavailableError(Exception):
    """No running agent answered on the socket (the message says why)."""


class StatusVersionError(StatusUnavailableError):
    """The agent answered in a snapshot version newer than this reader knows."""


def query(path: Path, timeout: float = 5.0) -> StatusSnapshot:
    """Ask the running agent for its snapshot. Raises StatusUnavailableError."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(str(path))
        except FileNotFoundError:
            raise StatusUnavailableError(
                f"{path}: no such socket (is the agent running?)"
            ) from None
        except ConnectionRefusedError:
            raise StatusUnavailableError(
                f"{path}: nobody listening (the agent is not running)"
            ) from None
        except PermissionError:
            raise StatusUnavailableError(
                f"{path}: permission denied (run as the agent's user, e.g. sudo -u pole-agent)"
            ) from None
        except OSError as err:
            raise StatusUnavailableError(f"{path}: {err.strerror or err}") from None
        sock.sendall(b"status\n")
        chunks: list[bytes] = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as err:
        raise StatusUnavailableError(f"{path}: {err.strerror or err}") from None
    finally:
        sock.close()
    data = b"".join(chunks)
    if not data:
        raise StatusUnavailableError(f"{path}: the agent closed without answering (another user?)")
    if data.startswith(b'{"error"'):
        raise StatusUnavailableError(f"{path}: the agent answered: {data.decode(errors='replace')}")
    try:
        return StatusSnapshot.from_answer(data)
    except NewerSnapshotError as err:
        raise StatusVersionError(f"{path}: {err}") from None
    except (ValueError, RecursionError) as err:
        raise StatusUnavailableError(f"{path}: not a status snapshot: {err}") from None
