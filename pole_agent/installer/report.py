"""Checks and their reports, shared by `selftest` and `commission`: one check's result, the
table a person reads, and files written atomically (0600: a report names the pole's setup)."""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["pass", "warn", "fail", "skip"]


class CheckResult(BaseModel):
    """One check: what it checked, how it went, and what to do on failure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="What was checked.")
    outcome: Outcome = Field(description="pass, warn (works, needs attention), fail or skip.")
    detail: str = Field(description="What was found.")
    fix: str = Field(default="", description="What to do when it did not pass.")


def table(checks: list[CheckResult]) -> list[str]:
    """The checks as an aligned text table (a person reads it; the JSON is for machines)."""
    width = max([len(c.name) for c in checks] + [5])
    lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    for check in checks:
        lines.append(f"{check.name:<{width}}  {check.outcome.upper():<6}  {check.detail}")
        if check.fix and check.outcome in ("fail", "warn"):
            lines.append(f"{'':<{width}}          -> {check.fix}")
    return lines


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync'd and renamed:
    a reader sees the old file or the new one, never half of one; created with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_COLOURS = {"pass": "#1b7f3b", "warn": "#b26a00", "fail": "#c62828", "skip": "#666666"}


def html_report(
    title: str, facts: dict[str, str], checks: list[CheckResult], image: str | None = None
) -> str:
    """A self-contained HTML page (no scripts, no external files): facts, then every check."""
    esc = html.escape
    rows = "\n".join(
        f'<tr><td>{esc(c.name)}</td><td class="o" style="color:{_COLOURS[c.outcome]}">'
        f"{c.outcome.upper()}</td><td>{esc(c.detail)}"
        + (f"<br><em>{esc(c.fix)}</em>" if c.fix and c.outcome != "pass" else "")
        + "</td></tr>"
        for c in checks
    )
    facts_rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts.items())
    failed = sum(c.outcome == "fail" for c in checks)
    verdict = "PASSED" if failed == 0 else f"FAILED ({failed} check(s))"
    picture = f'<h2>Road</h2><img alt="road snapshot" src="{esc(image)}">' if image else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; background: #fff; color: #111; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #999; padding: 4px 8px; }}
th {{ text-align: left; }} .o {{ font-weight: bold; }}
#verdict {{ font-size: 2em; font-weight: bold;
  color: {"#1b7f3b" if failed == 0 else "#c62828"}; }}
</style></head>
<body><h1>{esc(title)}</h1>
<p id="verdict">{verdict}</p>
<table>{facts_rows}</table>
<h2>Checks</h2>
<table><tr><th>check</th><th>result</th><th>detail</th></tr>
{rows}
</table>{picture}
</body></html>
"""
