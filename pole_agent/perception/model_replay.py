"""The kerb radar model over recorded spectra (``pole-agent radar replay``): what it saw.

Synchronous (no thread: a recording is replayed as fast as the model goes): every spectrum line
of the recording is windowed exactly as on the pole (``SpectrumWindower``) and each window is
classified; ``describe`` gives one line per window, ``summary`` the totals. Real captures can
then be checked against what was really in front of the radar.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from pole_agent.perception.radar_lines import SpectrumLine
from pole_agent.perception.radar_model import (
    DEFAULT_MODEL,
    LABELS,
    ModelError,
    Prediction,
    RadarModel,
    VerdictMargins,
    person_verdict,
)
from pole_agent.perception.spectrum_window import SpectrumWindower


def describe(
    t: float,
    prediction: Prediction,
    thresholds: Mapping[str, float],
    margins: VerdictMargins | None = None,
) -> str:
    """``model   12.34 s: child  (child 0.97 +4.3 km/h; adult 0.08; ...) person: unknown``
    (speeds for labels present; the verdict on a person, one window's, when there is one)."""
    present = prediction.present(thresholds)
    parts = []
    for i, label in enumerate(LABELS):
        text = f"{label} {prediction.scores[i]:.2f}"
        if label in present:
            text += f" {3.6 * float(prediction.speeds_mps[i]):+.1f} km/h"
        parts.append(text)
    seen = ", ".join(present) if present else "nothing"
    line = f"model {t:9.2f} s: {seen:24} ({'; '.join(parts)})"
    if "child" in present or "adult" in present:
        line += f" person: {person_verdict(prediction.margin(), margins or VerdictMargins())}"
    return line


class ModelReplay:
    """Feeds recorded spectrum lines to the model (loaded at the first one, so a recording
    without spectra never needs it); collects what it saw."""

    def __init__(
        self,
        path: Path | None,
        sampling_rate_hz: int,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.path = path or DEFAULT_MODEL
        self.sampling_rate_hz = sampling_rate_hz
        self._thresholds = thresholds
        self.model: RadarModel | None = None
        self.error: str | None = None
        self.windower: SpectrumWindower | None = None
        self.seen: Counter[str] = Counter()
        self.windows = 0

    def _load(self) -> RadarModel | None:
        if self.model is None and self.error is None:
            try:
                self.model = RadarModel.load(self.path, sampling_rate_hz=self.sampling_rate_hz)
                self.windower = SpectrumWindower(self.model.spec)
            except ModelError as err:
                self.error = str(err)
                print(f"model not run: {err}", file=sys.stderr)
        return self.model

    def on_spectrum(self, line: SpectrumLine) -> str | None:
        """The description of the window this line completes, if it completes one."""
        model = self._load()
        if model is None or self.windower is None:
            return None
        window = self.windower.push(line.spectrum)
        if window is None:
            return None
        thresholds = dict(self._thresholds or model.thresholds)
        prediction = model.predict(window)
        self.windows += 1
        present = prediction.present(thresholds)
        self.seen.update(present or ("nothing",))
        return describe(line.t, prediction, thresholds, model.verdict_margins)

    def print_windows(self, line: SpectrumLine) -> None:
        """``on_spectrum`` for ``radar_tools.replay``: print each window's line."""
        text = self.on_spectrum(line)
        if text is not None:
            print(text, flush=True)

    def summary(self) -> str:
        if self.model is None or self.windower is None:
            return f"model not run: {self.error or 'no spectrum lines'}"
        counts = self.windower.counts
        seen = ", ".join(f"{label} {self.seen[label]}" for label in (*LABELS, "nothing"))
        text = f"model {self.model.describe()}: {self.windows} windows; {seen}"
        restarts = {k: counts[k] for k in ("settings", "cadence", "gap") if counts[k]}
        if restarts:
            text += "; window restarts " + ", ".join(f"{k} {v}" for k, v in restarts.items())
        return text
