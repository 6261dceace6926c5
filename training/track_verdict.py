"""The child / adult verdict of a whole person track, measured on held-out simulated passes.

    .venv/bin/python -m training.track_verdict [--passes 400] [--seconds 6] [--model FILE]

The agent judges a person on the mean of p(child) - p(adult) over the windows of their track
(``pole_agent.perception.kerb_pedestrians.PersonTrack``), not on one window. This measures that
verdict: each pass is one child or one adult alone (``SceneRanges.held_out()``, seed
``PASS_SEED``, no vehicle, rider or second person; foliage, clutter and noise as in the
held-out windows) walking or running past the kerb radar for ``--seconds`` of back-to-back
spectra (``simulator.training_data.generate_window`` with a longer window), classified every
``hop_frames`` frames as on the pole. The track is the windows in which the model says a person
(child or adult at its threshold); passes in which it never does are counted apart. Printed: the
share of passes the model follows, the AUC of the track's mean margin (children above adults)
against that of single windows of the same passes, and the verdict rates with the metadata's
``verdict_margins`` (child verdicts among children and among adults). Simulated data only.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import time
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from pole_agent.perception.radar_model import DEFAULT_MODEL, RadarModel, person_verdict
from simulator.training_data import SceneRanges, WindowSpec, generate_window
from training.identifiability import separation
from training.radar_dataset import MODEL_SPEC

PASS_SEED: Final = 9101
F64 = npt.NDArray[np.float64]


def pass_ranges(child: bool) -> SceneRanges:
    """The held-out ranges with one child (or one adult) and nothing else that moves."""
    return dataclasses.replace(
        SceneRanges.held_out(),
        p_child=1.0 if child else 0.0, p_adult=0.0 if child else 1.0,
        p_vehicle=0.0, p_rider=0.0, p_second=0.0,
    )  # fmt: skip


def make_pass(args: tuple[int, int]) -> tuple[bool, npt.NDArray[np.uint8]] | None:
    """Pass ``index`` (even: a child, odd: an adult): its spectra (frames, bins); None when the
    person was nowhere visible (``generate_window`` leaves them out)."""
    index, frames = args
    child = index % 2 == 0
    spec = WindowSpec(band=MODEL_SPEC.band, frames=frames)
    window = generate_window(index, seed=PASS_SEED, ranges=pass_ranges(child), spec=spec)
    return (child, window.codes) if window.targets else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--passes", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.monotonic()
    model = RadarModel.load(args.model, sampling_rate_hz=MODEL_SPEC.sampling_rate_hz)
    spec, margins, limits = model.spec, model.verdict_margins, model.thresholds
    frames = max(spec.frames, round(args.seconds / spec.frame_s))
    jobs = [(i, frames) for i in range(args.passes)]
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        made = [p for p in pool.map(make_pass, jobs, chunksize=8) if p is not None]
    track_margin, window_margin, kinds, window_kinds = [], [], [], []
    unseen = {True: 0, False: 0}
    for child, codes in made:
        margins_here = []
        for end in range(spec.frames, codes.shape[0] + 1, spec.hop_frames):
            prediction = model.predict(codes[end - spec.frames : end])
            if {"child", "adult"} & set(prediction.present(limits)):
                margins_here.append(prediction.margin())
        if not margins_here:
            unseen[child] += 1
            continue
        track_margin.append(float(np.mean(margins_here)))
        kinds.append(child)
        window_margin += margins_here
        window_kinds += [child] * len(margins_here)
    child_arr = np.array(kinds)
    tracks = separation(np.array(track_margin), child_arr)
    windows = separation(np.array(window_margin), np.array(window_kinds))
    verdicts = [person_verdict(m, margins) for m in track_margin]
    said_child = np.array([v == "child" for v in verdicts])
    said_adult = np.array([v == "adult" for v in verdicts])
    children, adults = int(child_arr.sum()), int((~child_arr).sum())
    print(
        f"{model.describe()}: {len(made)} passes of {args.seconds:g} s ({frames} frames), "
        f"seed {PASS_SEED}, held-out ranges; {time.monotonic() - started:.0f} s"
    )
    print(
        f"  followed (a person said in at least one window): children {children} "
        f"(not seen {unseen[True]}), adults {adults} (not seen {unseen[False]}); "
        f"{len(window_margin) / max(len(made), 1):.1f} windows a track"
    )
    print(f"  AUC of the margin: one window {windows.auc:.3f}, the track's mean {tracks.auc:.3f}")
    print(
        f"  adults called children at 95 % child recall: one window "
        f"{windows.adult_as_child_at_95:.3f}, track {tracks.adult_as_child_at_95:.3f}"
    )
    print(
        f"  verdict margins {margins.model_dump()}: child verdict for "
        f"{said_child[child_arr].mean():.3f} of children, {said_child[~child_arr].mean():.3f} "
        f"of adults; adult verdict for {said_adult[~child_arr].mean():.3f} of adults, "
        f"{said_adult[child_arr].mean():.3f} of children"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
