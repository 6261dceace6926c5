"""Checks and their reports, shared by `selftest` and `commission`: one check's result, the
table a person reads, and files written atomically (0600: a report names the pole's setup)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
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


_COLOURS = {"pass": "#1b7f3b", "warn": "#b26a00", "fail": "#c62828", "skip": "#666666"}


#: The colour of the ground-plane markers drawn on the snapshot (a screenshot test finds them).
MARKER_COLOUR = "#ff00ff"


@dataclass(frozen=True)
class RoadPicture:
    """The road snapshot for the page: PNG bytes, its size, and the ground-plane points
    (pixel column, row; road x, y in metres) to mark on it."""

    png: bytes
    width: int
    height: int
    points: list[tuple[float, float, float, float]]


def _picture(picture: RoadPicture) -> str:
    """The snapshot inline (a data: URI) under an SVG layer that marks and numbers the points."""
    data = base64.b64encode(picture.png).decode()
    marks = "".join(
        f'<circle cx="{u:.1f}" cy="{v:.1f}" r="7" fill="none" stroke="{MARKER_COLOUR}" '
        f'stroke-width="4"/><text x="{u + 10:.1f}" y="{v - 8:.1f}" fill="{MARKER_COLOUR}" '
        f'font-size="18" font-weight="bold">{n}</text>'
        for n, (u, v, _x, _y) in enumerate(picture.points, start=1)
    )
    rows = "".join(
        f"<tr><td>{n}</td><td>{u:g}, {v:g}</td><td>{x:g}, {y:g}</td></tr>"
        for n, (u, v, x, y) in enumerate(picture.points, start=1)
    )
    w, h = picture.width, picture.height
    return (
        f'<h2>Road snapshot</h2><svg id="road" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
        f'<image width="{w}" height="{h}" href="data:image/png;base64,{data}"/>{marks}</svg>'
        "<h3>Ground-plane points</h3><table><tr><th>#</th><th>pixel (column, row)</th>"
        f"<th>road (x m, y m)</th></tr>{rows}</table>"
    )


def _drive_by(figures: dict[str, float]) -> str:
    labels = {
        "known_kmh": "test vehicle's speed (km/h)",
        "radial_kmh": "radar's peak radial speed (km/h)",
        "configured_angle_deg": "mounting angle configured (deg)",
        "measured_kmh": "measured speed, angle-corrected (km/h)",
        "error_kmh": "error (km/h)",
        "proposed_angle_deg": "mounting angle the speeds fit (deg)",
        "accepted_angle_deg": "mounting angle written (deg)",
    }
    rows = "".join(
        f"<tr><th>{html.escape(labels.get(k, k))}</th><td>{v:.1f}</td></tr>"
        for k, v in figures.items()
    )
    return f'<h2>Drive-by</h2><table id="drive-by">{rows}</table>' if rows else ""


def html_report(
    title: str,
    facts: dict[str, str],
    checks: list[CheckResult],
    *,
    picture: RoadPicture | None = None,
    drive_by: dict[str, float] | None = None,
) -> str:
    """A self-contained HTML page (no scripts, no external files): facts, every check, the
    drive-by figures and the road snapshot with its ground-plane points."""
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
    extra = _drive_by(drive_by or {}) + (_picture(picture) if picture is not None else "")
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
</table>{extra}
</body></html>
"""
