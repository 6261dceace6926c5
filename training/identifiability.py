"""How well can anything tell a child from an adult in one window of this simulator's physics?

An upper bound, with no neural network: the people of many scenes (``scene_truths``: the same
random draws as the training windows, without computing spectra) and, for each, the noise-free
values of what a CW Doppler radar could at best measure in one window:

- ``radial``: the torso's radial speed ``v cos(aspect)`` (the main line);
- ``cadence``: gait cycles per second (``simulator.gait.gait_cycle``: walking follows Boulic,
  ``1 / (1.346 sqrt(leg / v))``, so it carries ``v / leg``);
- ``gait``: walking or running (a running gait's flight phase shows in the spectrogram);
- ``power``: the main line's SNR (dB), which holds the radar cross-section (height squared) but
  also the unknown range and beam position.

The limbs' spread relative to the torso line is a function of ``v / leg`` alone in the gait model
(every joint angle curve depends on Boulic's RV; ``limb_spread_check`` measures it), so it adds
nothing to the cadence. A classifier that knew these values exactly is the best any per-window
model can do; the script estimates its posterior P(child | features) by counting in fine bins on
one half of the people and evaluates it on the other half (plug-in Bayes classifier).

It also measures the track-level idea: a person walking a straight line past the radar shows
several aspects, and with their true speed ``v`` (the ``speed`` feature set) the leg length is
``v / RV``.

``python -m training.identifiability --scenes 300000`` prints every figure (about a minute).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.gait import Gait, Walker, gait_cycle
from simulator.training_data import SceneRanges, scene_truths

F64 = npt.NDArray[np.float64]
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "cadence": ("cadence", "gait"),
    "radial": ("radial", "gait"),
    "radial+cadence": ("leg_index", "cadence", "gait"),
    "radial+cadence+power": ("leg_index", "cadence", "power", "gait"),
    "speed+cadence (track-level oracle)": ("true_leg_index", "cadence", "gait"),
}
"""``leg_index`` = radial / cadence^2 is the leg length times cos(aspect) for a walker (Boulic:
cadence^2 = v / (1.346^2 leg)); binned with the cadence it holds all the radial speed and
cadence say, in coordinates where the bins are not wasted. ``true_leg_index`` uses the true
speed: what a track that recovers ``v`` would know."""


@dataclass
class People:
    """One row per person (child or adult) of the scenes."""

    child: npt.NDArray[np.bool_]
    features: dict[str, F64]
    cos_aspect: F64


def people_of(scenes: int, seed: int, ranges: SceneRanges) -> People:
    rows: list[tuple[bool, float, float, float, float, float]] = []
    for index in range(scenes):
        for truth in scene_truths(index, seed=seed, ranges=ranges):
            if truth.label not in ("child", "adult") or truth.height_m is None:
                continue
            gait: Gait = "run" if truth.gait == "run" else "walk"
            cycle = gait_cycle(truth.height_m, truth.speed_mps, gait)
            rows.append(
                (
                    truth.label == "child",
                    abs(truth.radial_mps),
                    1.0 / cycle.cycle_s,
                    truth.power_db,
                    float(gait == "run"),
                    truth.speed_mps,
                )
            )
    table = np.array(rows, dtype=np.float64)
    return People(
        child=table[:, 0].astype(bool),
        features=_derived(
            {
                "radial": table[:, 1],
                "cadence": table[:, 2],
                "power": table[:, 3],
                "gait": table[:, 4],
                "speed": table[:, 5],
            }
        ),
        cos_aspect=np.clip(table[:, 1] / table[:, 5], 0.0, 1.0),
    )


def _derived(features: dict[str, F64]) -> dict[str, F64]:
    out = dict(features)
    out["leg_index"] = features["radial"] / features["cadence"] ** 2
    out["true_leg_index"] = features["speed"] / features["cadence"] ** 2
    return out


def _cells(people: People, names: Sequence[str], edges: dict[str, F64]) -> npt.NDArray[np.int64]:
    """One integer cell per person: quantile bins of each continuous feature, gait exact."""
    cell = np.zeros(people.child.shape[0], np.int64)
    for name in names:
        values = people.features[name]
        if name == "gait":
            index, size = values.astype(np.int64), 2
        else:
            index = np.searchsorted(edges[name], values)
            size = len(edges[name]) + 1
        cell = cell * size + index
    return cell


def posterior(
    train: People, test: People, names: Sequence[str], bins: int, prior_weight: float = 2.0
) -> F64:
    """P(child | cell) learnt on ``train`` (smoothed towards the base rate), for ``test``."""
    continuous = [name for name in names if name != "gait"]
    # at least ~20 people a cell on average, so that more features never look worse for want
    # of data
    room = train.child.size / (20 * 2)
    bins = max(6, min(bins, int(room ** (1 / max(len(continuous), 1)))))
    edges = {
        name: np.quantile(train.features[name], np.linspace(0, 1, bins + 1)[1:-1])
        for name in names
        if name != "gait"
    }
    train_cells = _cells(train, names, edges)
    test_cells = _cells(test, names, edges)
    size = int(max(train_cells.max(), test_cells.max())) + 1
    children = np.bincount(train_cells, weights=train.child.astype(np.float64), minlength=size)
    everyone = np.bincount(train_cells, minlength=size).astype(np.float64)
    base = float(train.child.mean())
    p = (children + prior_weight * base) / (everyone + prior_weight)
    result: F64 = p[test_cells]
    return result


@dataclass(frozen=True)
class Separation:
    auc: float
    adult_as_child_at_95: float
    """Share of adults called children at the threshold that finds 95 % of children."""
    child_recall_at_5: float
    """Share of children found at the threshold that calls 5 % of adults children."""
    accuracy: float
    """Best balanced accuracy over thresholds."""


def separation(p_child: F64, child: npt.NDArray[np.bool_]) -> Separation:
    kids, grown = np.sort(p_child[child]), np.sort(p_child[~child])
    # AUC by ranks (ties count half)
    below = np.searchsorted(grown, kids, side="left")
    equal = np.searchsorted(grown, kids, side="right") - below
    auc = float((below + 0.5 * equal).sum() / (kids.size * grown.size))
    t95 = float(np.quantile(kids, 0.05))
    t5 = float(np.quantile(grown, 0.95))
    thresholds = np.unique(np.quantile(p_child, np.linspace(0, 1, 201)))
    balanced = max(
        0.5 * (float(np.mean(kids >= t)) + float(np.mean(grown < t))) for t in thresholds
    )
    return Separation(
        auc=auc,
        adult_as_child_at_95=float(np.mean(grown >= t95)),
        child_recall_at_5=float(np.mean(kids > t5)),
        accuracy=balanced,
    )


def measured(
    people: People, rng: np.random.Generator, cadence_sd: float, radial_sd: float
) -> People:
    """The same people as a 1.64 s window would measure them: the cadence with a relative error
    (1.5-3 gait cycles in a window: its frequency resolution is 0.6 Hz) and the radial speed
    with an absolute one (m/s)."""
    features = dict(people.features)
    n = people.child.size
    features["cadence"] = features["cadence"] * (1 + cadence_sd * rng.standard_normal(n))
    features["radial"] = features["radial"] + radial_sd * rng.standard_normal(n)
    return People(child=people.child, features=_derived(features), cos_aspect=people.cos_aspect)


def _subset(people: People, keep: npt.NDArray[np.bool_]) -> People:
    return People(
        child=people.child[keep],
        features={name: values[keep] for name, values in people.features.items()},
        cos_aspect=people.cos_aspect[keep],
    )


def limb_spread_check(rv: float = 1.2, heights: Sequence[float] = (1.1, 1.8)) -> list[float]:
    """Fastest scatterer's speed over the walking speed, through one gait cycle, for people of
    ``heights`` walking at the same relative velocity ``rv`` (= v / leg): equal if the spread
    depends on RV only."""
    out = []
    for height in heights:
        leg = gait_cycle(height, 1.0, "walk").leg_m
        speed = rv * leg
        walker = Walker(height, speed, "walk", x0=0.0, y0=0.0, heading_rad=0.0, phase0=0.0)
        cycle = gait_cycle(height, speed, "walk").cycle_s
        times = np.linspace(0.0, cycle, 400)
        positions, _rcs = walker.scatterers(times)
        step = times[1] - times[0]
        velocity = np.diff(positions, axis=1) / step  # (points, times-1, 3)
        along = velocity[..., 0]
        out.append(float(np.max(np.abs(along)) / speed))
    return out


@dataclass
class Passes:
    """People walking a straight line past the radar, seen for ``track_s`` seconds."""

    people: People
    times: F64
    """Window ends (s), every hop."""
    radial: F64
    """(people, windows) radial speed of the torso, m/s, positive approaching."""


def passes(people: People, track_s: float, rng: np.random.Generator, hop_s: float) -> Passes:
    """Each person's straight pass: the scene's range, azimuth (+-10 deg) and aspect
    (0-70 deg either side) at the middle of the track, their true speed."""
    n = people.child.size
    times = np.arange(0.0, track_s + 1e-9, hop_s) - track_s / 2
    r = rng.uniform(2.0, 25.0, n)
    az = np.radians(rng.uniform(-10.0, 10.0, n))
    aspect = np.radians(rng.uniform(0.0, 70.0, n)) * rng.choice([-1.0, 1.0], n)
    heading = az + np.where(rng.random(n) < 0.5, np.pi, 0.0) + aspect
    speed = people.features["speed"]
    vx, vy = speed * np.cos(heading), speed * np.sin(heading)
    x = (r * np.cos(az))[:, None] + vx[:, None] * times[None, :]
    y = (r * np.sin(az))[:, None] + vy[:, None] * times[None, :]
    dist = np.maximum(np.hypot(x, y), 1.5)
    radial = -(x * vx[:, None] + y * vy[:, None]) / dist
    return Passes(people, times, radial)


def fit_speed(times: F64, radial: F64) -> F64:
    """The ground speed of each pass from its radial speeds alone: a straight line at speed
    ``v`` has ``u(t) = -v (t - t0) / sqrt(tau^2 + (t - t0)^2)`` (``tau`` = closest distance /
    v), linear in ``v`` for each ``(tau, t0)``: least squares on a grid of those two."""
    taus = np.geomspace(0.3, 60.0, 48)
    t0s = np.linspace(times[0] - 40.0, times[-1] + 40.0, 161)
    dt = times[None, None, :] - t0s[None, :, None]  # (1, t0, k)
    shape = -dt / np.sqrt(taus[:, None, None] ** 2 + dt**2)  # (tau, t0, k)
    basis = shape.reshape(-1, times.size)  # (m, k)
    norm = np.maximum((basis**2).sum(axis=1), 1e-9)
    best = np.zeros(radial.shape[0])
    for start in range(0, radial.shape[0], 512):
        block = radial[start : start + 512]  # (b, k)
        coef = block @ basis.T / norm  # (b, m)
        coef = np.clip(coef, 0.3, 7.0)
        resid = ((block[:, None, :] - coef[..., None] * basis[None]) ** 2).sum(axis=2)
        best[start : start + 512] = coef[np.arange(block.shape[0]), np.argmin(resid, axis=1)]
    return best


def track_level(
    train: People,
    test: People,
    track_s: float,
    rng: np.random.Generator,
    bins: int,
    *,
    radial_sd: float = 0.15,
    cadence_sd_window: float = 0.1,
    hop_s: float = 0.4096,
) -> tuple[Separation, Separation, float]:
    """Child against adult over a pass of ``track_s`` seconds: (the last window's radial
    speed with the pass's cadence, the fitted ground speed with the pass's cadence, the share
    of test passes whose fitted speed is within 10 % of the true one). Noise: the
    radial speed of each window ``radial_sd`` m/s; the cadence's relative error
    ``cadence_sd_window`` for one 1.64 s window, falling as 1 / track length."""
    out: list[People] = []
    for people in (train, test):
        seen = passes(people, track_s, rng, hop_s)
        measured = seen.radial + radial_sd * rng.standard_normal(seen.radial.shape)
        sd = cadence_sd_window * 1.6384 / max(track_s, 1.6384)
        features = dict(people.features)
        features["cadence"] = features["cadence"] * (
            1 + sd * rng.standard_normal(people.child.size)
        )
        features["radial"] = np.abs(measured[:, -1])
        features["speed"] = fit_speed(seen.times, measured)
        out.append(People(people.child, _derived(features), people.cos_aspect))
    window = separation(posterior(out[0], out[1], FEATURE_SETS["radial+cadence"], bins), test.child)
    names = FEATURE_SETS["speed+cadence (track-level oracle)"]
    track = separation(posterior(out[0], out[1], names, bins), test.child)
    close = float(np.mean(np.abs(out[1].features["speed"] / test.features["speed"] - 1) < 0.1))
    return window, track, close


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--scenes", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=77)
    parser.add_argument("--bins", type=int, default=24)
    parser.add_argument("--held-out", action="store_true", help="the wider held-out ranges")
    parser.add_argument(
        "--tracks", type=float, nargs="*", default=[1.64, 3.3, 5.0, 8.0],
        help="pass lengths (s) for the track-level figures",
    )  # fmt: skip
    args = parser.parse_args(argv)
    ranges = SceneRanges.held_out() if args.held_out else SceneRanges()
    train = people_of(args.scenes, args.seed, ranges)
    test = people_of(args.scenes // 2, args.seed + 1, ranges)
    print(
        f"{train.child.size} people to learn from, {test.child.size} to test "
        f"({int(test.child.sum())} children); ranges: {'held-out' if args.held_out else 'training'}"
    )
    print(
        "limb spread / v at RV 1.2, heights 1.1 and 1.8 m: "
        + ", ".join(f"{x:.3f}" for x in limb_spread_check())
    )
    header = f"{'features':38} {'AUC':>6} {'adult-as-child @95% recall':>27} "
    print(header + f"{'child recall @5% adults':>24} {'best bal. acc.':>15}")
    boresight = test.cos_aspect >= math.cos(math.radians(18))
    near = _subset(test, boresight)
    for title, names in FEATURE_SETS.items():
        for label, part in (("", test), (" [cos(aspect) >= 0.95]", near)):
            if label and "oracle" in title:
                continue
            result = separation(posterior(train, part, names, args.bins), part.child)
            print(
                f"{title + label:38} {result.auc:6.3f} {result.adult_as_child_at_95:27.3f} "
                f"{result.child_recall_at_5:24.3f} {result.accuracy:15.3f}"
            )
    rng = np.random.default_rng(args.seed)
    names = FEATURE_SETS["radial+cadence"]
    for cadence_sd in (0.05, 0.1, 0.2):
        noisy_train = measured(train, rng, cadence_sd, 0.1)
        noisy_test = measured(test, rng, cadence_sd, 0.1)
        result = separation(posterior(noisy_train, noisy_test, names, args.bins), test.child)
        title = f"radial+cadence, measured (cadence +-{cadence_sd:.0%}, radial +-0.1 m/s)"
        print(
            f"{title:38} {result.auc:6.3f} {result.adult_as_child_at_95:27.3f} "
            f"{result.child_recall_at_5:24.3f} {result.accuracy:15.3f}"
        )
    print(
        "a pass of T seconds, a window every 0.41 s (radial +-0.15 m/s a window; cadence +-10 %"
        " a window, shrinking with T); walkers and runners as above"
    )
    print(f"{'':38} {'AUC':>6} {'adult-as-child @95% recall':>27} {'child recall @5% adults':>24}")
    for track_s in args.tracks:
        window, track, close = track_level(train, test, track_s, rng, args.bins)
        print(f"T {track_s:g} s: fitted speed within 10 % of the true one for {close:.0%}")
        for title, result in (("last radial + cadence", window), ("fitted speed + cadence", track)):
            print(
                f"{f'T {track_s:g} s: {title}':38} {result.auc:6.3f} "
                f"{result.adult_as_child_at_95:27.3f} {result.child_recall_at_5:24.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
