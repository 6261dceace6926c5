"""The commissioning snapshot: the one image the product keeps, of the empty road.

The installer tools (``pole-agent commission``) take it to show what the camera sees and to mark
the calibration points on. It is refused while anyone is in view: the person detector runs on the
frame first and, if it finds a person, nothing is written and the frame is dropped. The file is
written atomically (write, fsync, rename) with mode 0640; the frame source and the PNG encoder
are handed in (``drivers.camera.grab_frame`` and ``encode_png`` on a pole).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pole_agent.perception.camera.detection import Detector, Frame

SNAPSHOT_NAME = "road-snapshot.png"


class PersonInView(Exception):  # noqa: N818 - says what happened
    """A snapshot was refused because people are in the frame."""

    def __init__(self, count: int, best_score: float) -> None:
        self.count = count
        self.best_score = best_score
        super().__init__(
            f"refused: {count} person(s) in view (best score {best_score:.2f}); the snapshot "
            "must show the empty road: take it again when nobody is there"
        )


@dataclass(frozen=True)
class Snapshot:
    path: Path
    width: int
    height: int
    bytes_written: int


def snapshot_path(state_dir: Path) -> Path:
    return state_dir / "commissioning" / SNAPSHOT_NAME


def take_road_snapshot(
    grab: Callable[[], Frame],
    detector: Detector,
    encode_png: Callable[[Frame], bytes],
    dest: Path,
) -> Snapshot:
    """Grab one frame; if no person is detected in it, save it as PNG at ``dest``. Raises
    PersonInView (nothing written) when someone is there."""
    frame = grab()
    people = [d for d in detector.detect(frame) if d.category == "person"]
    if people:
        best = max(d.score for d in people)
        del frame
        raise PersonInView(len(people), best)
    data = encode_png(frame)
    height, width = frame.shape[:2]
    del frame
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(part, dest)
    return Snapshot(dest, width, height, len(data))
