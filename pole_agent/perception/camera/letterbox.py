"""Fitting a frame into a detector's square input without distorting it (letterboxing).

The frame is scaled to fit the input (aspect ratio kept), centred, and the rest is padded; a
detection made on the input is mapped back to the frame by ``Letterbox.to_frame``. Resizing is
plain numpy: a box average by the whole factor first (so that a large frame is not merely
subsampled, which would alias thin limbs away), then bilinear interpolation at pixel centres, the
way OpenCV's ``INTER_LINEAR`` samples. The result is float32, 0..255, in RGB order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pole_agent.perception.camera.detection import Frame

Image = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Padding around the frame inside the input, as fractions of the input's width and height."""

    left: float
    top: float
    right: float
    bottom: float

    def to_frame(self, x: float, y: float) -> tuple[float, float]:
        """A normalised point of the input to a normalised point of the frame."""
        return (
            (x - self.left) / (1.0 - self.left - self.right),
            (y - self.top) / (1.0 - self.top - self.bottom),
        )

    def xs_to_frame(self, xs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return ((xs - self.left) / (1.0 - self.left - self.right)).astype(np.float32)

    def ys_to_frame(self, ys: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return ((ys - self.top) / (1.0 - self.top - self.bottom)).astype(np.float32)


def resize(frame: Frame, out_w: int, out_h: int) -> Image:
    """``frame`` (h, w, c) resized to (out_h, out_w, c), float32 0..255."""
    if frame.ndim != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"a frame is (height, width, channels), got shape {frame.shape}")
    if out_w < 1 or out_h < 1:
        raise ValueError(f"output size must be positive, got {out_w}x{out_h}")
    h, w, channels = frame.shape
    factor = max(1, int(min(h / out_h, w / out_w)))
    source: Image
    if factor >= 2:
        # Pad to a multiple of the factor by repeating the edge, then average factor x factor
        # cells; sample coordinates below are computed in the original frame's pixels.
        ph, pw = -h % factor, -w % factor
        padded = np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else frame
        # Strided integer sums: several times faster than a float mean over a reshape.
        total = np.zeros(
            (padded.shape[0] // factor, padded.shape[1] // factor, channels), dtype=np.uint32
        )
        for dy in range(factor):
            for dx in range(factor):
                total += padded[dy::factor, dx::factor]
        source = total.astype(np.float32) * np.float32(1.0 / (factor * factor))
    else:
        source = frame.astype(np.float32)
    # Centre of each output pixel in original-frame pixels, then in the (reduced) source's.
    sx = (np.arange(out_w, dtype=np.float32) + 0.5) * (w / out_w) / factor - 0.5
    sy = (np.arange(out_h, dtype=np.float32) + 0.5) * (h / out_h) / factor - 0.5
    sx = np.clip(sx, 0, source.shape[1] - 1)
    sy = np.clip(sy, 0, source.shape[0] - 1)
    x0 = np.floor(sx).astype(np.intp)
    y0 = np.floor(sy).astype(np.intp)
    x1 = np.minimum(x0 + 1, source.shape[1] - 1)
    y1 = np.minimum(y0 + 1, source.shape[0] - 1)
    wx = (sx - x0)[None, :, None]
    wy = (sy - y0)[:, None, None]
    top = np.take(source, y0, axis=0)
    rows = top + (np.take(source, y1, axis=0) - top) * wy
    left = np.take(rows, x0, axis=1)
    return np.asarray(left + (np.take(rows, x1, axis=1) - left) * wx, dtype=np.float32)


def letterbox(frame: Frame, size_w: int, size_h: int, fill: float = 0.0) -> tuple[Image, Letterbox]:
    """The frame scaled to fit (size_h, size_w) and centred, the rest ``fill``; with where it
    went."""
    h, w = frame.shape[:2]
    scale = min(size_w / w, size_h / h)
    fit_w = max(1, min(size_w, round(w * scale)))
    fit_h = max(1, min(size_h, round(h * scale)))
    left = (size_w - fit_w) // 2
    top = (size_h - fit_h) // 2
    canvas = np.full((size_h, size_w, frame.shape[2]), fill, dtype=np.float32)
    canvas[top : top + fit_h, left : left + fit_w] = resize(frame, fit_w, fit_h)
    box = Letterbox(
        left=left / size_w,
        top=top / size_h,
        right=(size_w - fit_w - left) / size_w,
        bottom=(size_h - fit_h - top) / size_h,
    )
    return canvas, box
