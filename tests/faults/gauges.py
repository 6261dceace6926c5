"""What a process holds, read from /proc: open file descriptors and threads (kernel tasks, so
threads started outside Python's ``threading`` count too)."""

from __future__ import annotations

import os


def open_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/task"))
