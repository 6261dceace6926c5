"""Start-up checks that need the file system, which config validators must not touch.

Run by ``pole-agent config check`` and before the agent starts: referenced files exist, secret
files are private, the board profile is there.
"""

from __future__ import annotations

import stat
from pathlib import Path

from pole_agent.board_profile import find_profile
from pole_agent.config import PoleConfig


def preflight(config: PoleConfig, hw_dirs: list[Path]) -> list[str]:
    """File-system checks the validators must not do; returns problems, empty when all is well."""
    problems: list[str] = []
    if find_profile(config.outputs.board, hw_dirs) is None:
        searched = ", ".join(str(d) for d in hw_dirs) or "(no folders)"
        problems.append(
            f"outputs.board: no board profile '{config.outputs.board}.toml' in {searched}"
        )
    if config.mqtt is not None:
        files: list[tuple[str, Path | None, bool]] = [
            ("mqtt.password_file", config.mqtt.password_file, True)
        ]
        if config.mqtt.tls is not None:
            files += [
                ("mqtt.tls.ca_file", config.mqtt.tls.ca_file, False),
                ("mqtt.tls.cert_file", config.mqtt.tls.cert_file, False),
                ("mqtt.tls.key_file", config.mqtt.tls.key_file, True),
            ]
        for key, file, secret in files:
            if file is None:
                continue
            try:
                st = file.stat()
            except OSError as err:
                problems.append(f"{key}: cannot read {file}: {err.strerror or err}")
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append(f"{key}: {file} is not a regular file")
            elif secret and st.st_mode & 0o077:
                problems.append(
                    f"{key}: {file} is readable by others (mode {stat.S_IMODE(st.st_mode):04o});"
                    f" run: chmod 600 {file}"
                )
    return problems
