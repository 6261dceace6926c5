"""The commissioning report opened in headless Chromium (Debian's `chromium`, from
scripts/bootstrap), as the city's staff would open it: the DOM text and a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium not installed (scripts/bootstrap installs it)")
    return found


def dump_dom(page: Path, profile: Path) -> str:
    out = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def screenshot(
    page: Path, png: Path, profile: Path, size: tuple[int, int] = (1200, 1000)
) -> np.ndarray:
    subprocess.run(
        [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={size[0]},{size[1]}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    image = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert image is not None, f"no screenshot at {png}"
    return image


def pixels_near(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 30) -> int:
    """How many pixels are within ``tolerance`` of a colour (the image is BGR)."""
    target = np.array(rgb[::-1], dtype=np.int16)
    diff = np.abs(image.astype(np.int16) - target).max(axis=2)
    return int((diff <= tolerance).sum())
