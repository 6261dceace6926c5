"""A walking or running person as radar scatterers: the Boulic gait model, scaled by height.

Walking follows R. Boulic, N. Magnenat-Thalmann, D. Thalmann, "A global human walking model with
real-time kinematic personification", The Visual Computer 6 (1990) 344-358, the model V. C. Chen
uses for human micro-Doppler ("The Micro-Doppler Effect in Radar", 2011) and van Dorp & Groen
("Feature-based human motion parameter estimation with radar", IET RSN 2008) fit to real radar
data. Everything scales with the leg length ``H_t`` (hip height, 0.53 x body height):

- relative velocity ``RV = v / H_t``; cycle (two steps) length ``1.346 sqrt(RV) H_t``, so the
  cycle takes ``1.346 / sqrt(RV)`` s: a child, with shorter legs, steps faster with shorter
  strides at the same speed;
- joint-angle curves (hip, knee, ankle, shoulder, elbow, thorax torsion) from the paper's
  control points for its three speed ranges, interpolated by a periodic PCHIP as in Chen's
  code; the pelvis translations and rotations of its appendices A-B.

Running is outside Boulic's model (RV <= 3): its stride follows Alexander's dynamic similarity,
``stride = 2.3 H_t (v^2 / (g H_t))^0.3`` (R. McN. Alexander, "Estimates of speeds of dinosaurs",
Nature 261 (1976) 129-130; children fit the same law), and its joint curves are the project's
control points read from Novacheck's running kinematics (T. F. Novacheck, "The biomechanics of
running", Gait & Posture 7 (1998) 77-95, at about 3.2 m/s). Segment lengths are Winter's
fractions of height (D. A. Winter, "Biomechanics and Motor Control of Human Movement", Fig. 4.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Gait = Literal["walk", "run"]

# Segment lengths as fractions of body height (Winter, Fig. 4.1).
HEAD: Final = 0.130
SHOULDER_HALF: Final = 0.1295
TORSO: Final = 0.288
HIP_HALF: Final = 0.0955
THIGH: Final = 0.245
SHANK: Final = 0.246
ANKLE: Final = 0.039
FOOT: Final = 0.110  # ankle to toe: the part of the foot's 0.152 in front of the ankle
UPPER_ARM: Final = 0.188
FOREARM: Final = 0.152  # elbow to the middle of the hand
LEG: Final = THIGH + SHANK + ANKLE  # 0.530: hip height, Boulic's H_t
GRAVITY: Final = 9.81

ADULT_RCS_M2: Final = 0.3
"""Whole-body RCS of a 1.75 m adult at 24 GHz (-5 dBsm); it scales with height squared."""
REFERENCE_HEIGHT_M: Final = 1.75

# Share of the body's RCS carried by each scatterer (sums to 1): the trunk dominates, limbs by
# their visible area. Order matches ``_points``.
_WEIGHTS: Final = np.array(
    [0.22, 0.25, 0.07]  # pelvis, chest, head
    + [0.035, 0.03] * 2  # right, left: upper arm, forearm
    + [0.045, 0.045, 0.03, 0.03, 0.015] * 2  # right, left: thigh x2, shank x2, foot
)
POINT_NAMES: Final = (
    "pelvis", "chest", "head",
    "r_upper_arm", "r_forearm", "l_upper_arm", "l_forearm",
    "r_thigh_1", "r_thigh_2", "r_shank_1", "r_shank_2", "r_foot",
    "l_thigh_1", "l_thigh_2", "l_shank_1", "l_shank_2", "l_foot",
)  # fmt: skip


def human_rcs_m2(height_m: float) -> float:
    """Mean RCS of a person of ``height_m``: projected area, so height squared."""
    return ADULT_RCS_M2 * (height_m / REFERENCE_HEIGHT_M) ** 2


@dataclass(frozen=True)
class GaitCycle:
    """How a person of a given height moves at a given speed."""

    leg_m: float
    cycle_s: float
    """One gait cycle = two steps; the limbs swing at ``1 / cycle_s`` Hz."""
    stride_m: float
    """Distance covered in one cycle (two steps)."""
    relative_velocity: float
    """Boulic's RV = v / H_t (1/s)."""

    @property
    def steps_per_s(self) -> float:
        return 2.0 / self.cycle_s


def gait_cycle(height_m: float, speed_mps: float, gait: Gait) -> GaitCycle:
    """Cycle duration and stride for ``height_m`` at ``speed_mps`` (walking: Boulic;
    running: Alexander's dynamic similarity)."""
    if speed_mps <= 0:
        raise ValueError(f"speed_mps must be positive for a gait cycle, got {speed_mps}")
    leg = LEG * height_m
    rv = speed_mps / leg
    if gait == "walk":
        stride = 1.346 * math.sqrt(rv) * leg
    else:
        stride = 2.3 * leg * (speed_mps**2 / (GRAVITY * leg)) ** 0.3
    return GaitCycle(leg_m=leg, cycle_s=stride / speed_mps, stride_m=stride, relative_velocity=rv)


def periodic_pchip(xs: FloatArray, ys: FloatArray, u: FloatArray) -> FloatArray:
    """Monotone cubic (Fritsch-Carlson PCHIP) through periodic control points, at phases ``u``.

    ``xs`` are phases of one cycle (any real numbers, taken modulo 1); ``u`` in [0, 1).
    """
    x = np.mod(np.asarray(xs, np.float64), 1.0)
    order = np.argsort(x, kind="stable")
    x, y = x[order], np.asarray(ys, np.float64)[order]
    keep = np.concatenate([[True], np.diff(x) > 1e-9])
    x, y = x[keep], y[keep]
    xe = np.concatenate([x[-2:] - 1, x, x[:2] + 1])
    ye = np.concatenate([y[-2:], y, y[:2]])
    h = np.diff(xe)
    delta = np.diff(ye) / h
    slopes = np.zeros_like(xe)
    d0, d1, h0, h1 = delta[:-1], delta[1:], h[:-1], h[1:]
    w1, w2 = 2 * h1 + h0, h1 + 2 * h0
    same_sign = d0 * d1 > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / d0 + w2 / d1)
    slopes[1:-1] = np.where(same_sign, harmonic, 0.0)
    idx = np.clip(np.searchsorted(xe, u, side="right") - 1, 0, len(h) - 1)
    t = (u - xe[idx]) / h[idx]
    t2, t3 = t * t, t * t * t
    values: FloatArray = (
        (2 * t3 - 3 * t2 + 1) * ye[idx]
        + (t3 - 2 * t2 + t) * h[idx] * slopes[idx]
        + (-2 * t3 + 3 * t2) * ye[idx + 1]
        + (t3 - t2) * h[idx] * slopes[idx + 1]
    )
    return values


Curves = dict[str, tuple[list[float], list[float]]]


def _walk_curves(rv: float, support: float) -> Curves:
    """Boulic's control points (degrees) for one cycle from right heel strike.

    ``support`` is the relative duration of support (toe-off of the right foot).
    """
    if rv < 0.5:  # slow walk: amplitudes grow with RV
        return {
            "hip": ([-0.1, 0.5, 0.9], [50 * rv, -30 * rv, 50 * rv]),
            "knee": ([0.17, 0.4, 0.75, 1.0], [3, 3, 140 * rv, 3]),
            "ankle": (
                [0, 0.08, 0.5, support, 0.85],
                [-3, -30 * rv - 3, 22 * rv - 3, -34 * rv - 3, -3],
            ),
            "elbow": ([0.05, 0.5, 0.9], [6 * rv + 3, 34 * rv + 3, 10 * rv + 3]),
        }
    if rv < 1.3:
        s = (rv - 0.5) / 0.8
        return {
            "hip": ([-0.1, 0.5, 0.9], [25, -15, 25]),
            "knee": ([0.17, 0.4, 0.75, 1.0], [3, 3, 70, 3]),
            "ankle": ([0, 0.08, 0.5, support, 0.85], [-3, -18, 8, -20, -3]),
            "elbow": ([0.05, 0.01 * s + 0.5, 0.9], [8 * s + 6, 24 * s + 20, 9 * s + 8]),
        }
    s = (min(rv, 3.0) - 1.3) / 1.7
    return {
        "hip": ([0.2 * s - 0.1, 0.5, 0.9], [5 * s + 25, -15, 6 * s + 25]),
        "knee": (
            [0.17 - 0.05 * s, 0.4, 0.75 - 0.05 * s, 1 - 0.03 * s],
            [22 * s + 3, 3, 70 - 5 * s, 3 * s + 3],
        ),
        "ankle": (
            [0, 0.08, 0.5 - 0.1 * s, support, 0.85],
            [5 * s - 3, 4 * s - 18, 8 - 3 * s, -8 * s - 20, 5 * s - 3],
        ),
        "elbow": ([0.05, 0.04 * s + 0.51, 0.9 - 0.1 * s], [14 - 6 * s, 26 * s + 44, 17 - 6 * s]),
    }


# Running, from right foot strike (toe-off near 0.38), after Novacheck (1998) Figs. 6-8.
_RUN_CURVES: Final[Curves] = {
    "hip": ([0.0, 0.40, 0.82], [38, -12, 48]),
    "knee": ([0.0, 0.14, 0.38, 0.70, 0.95], [20, 42, 18, 100, 15]),
    "ankle": ([0.0, 0.15, 0.38, 0.60, 0.90], [5, 20, -20, 0, 5]),
    "elbow": ([0.0, 0.5], [75, 105]),
}


@dataclass(frozen=True)
class _Pose:
    """Joint angles (degrees) and pelvis motion over time, for the right side."""

    hip: FloatArray
    knee: FloatArray
    ankle: FloatArray
    shoulder: FloatArray
    elbow: FloatArray
    pelvis_torsion: FloatArray
    thorax_torsion: FloatArray
    lean: FloatArray
    translation: FloatArray  # (T, 3) forward, lateral, vertical offsets in m


def _pose(u: FloatArray, cycle: GaitCycle, gait: Gait) -> _Pose:
    """The pose at gait phases ``u`` (right leg; the left is ``u + 0.5``)."""
    leg, rv = cycle.leg_m, min(cycle.relative_velocity, 3.0)
    two_pi = 2 * math.pi
    if gait == "walk":
        duration = 1.346 / math.sqrt(rv)  # Boulic's D_c in RV units
        support = (0.752 * duration - 0.143) / duration
        curves = _walk_curves(rv, support)
        amp_lat = -0.128 * rv**2 + 0.128 * rv if rv < 0.5 else -0.032
        amp_fwd = -0.084 * rv**2 + 0.084 * rv if rv < 0.5 else -0.021
        translation = np.stack(
            [
                amp_fwd * np.sin(two_pi * (2 * u + 2 * (0.625 - support))),
                amp_lat * np.sin(two_pi * (u - 0.1)),
                -0.015 * rv + 0.015 * rv * np.sin(two_pi * (2 * u - 0.35)),
            ],
            axis=-1,
        )
        a_lean = -8 * rv**2 + 8 * rv if rv < 0.5 else 2.0
        lean = -a_lean + a_lean * np.sin(two_pi * (2 * u - 0.1))
        ash = 9.88 * rv
        shoulder = 3 - ash / 2 - ash * np.cos(two_pi * u)
        pelvis_torsion = -4 * rv * np.cos(two_pi * u)
        thorax = periodic_pchip(
            np.array([0.1, 0.4, 0.6, 0.9]),
            np.array([4 / 3, -4.5 / 3, -4 / 3, 4.5 / 3]) * rv,
            u,
        )
    else:
        curves = _RUN_CURVES
        translation = np.stack(
            [
                0.015 * np.sin(two_pi * (2 * u + 0.1)),
                -0.02 * np.sin(two_pi * (u - 0.1)),
                0.04 * np.sin(two_pi * (2 * u - 0.61)),
            ],
            axis=-1,
        )
        lean = np.full_like(u, 6.0)
        shoulder = -5 - 30 * np.cos(two_pi * u)
        pelvis_torsion = -8 * np.cos(two_pi * u)
        thorax = 6 * np.cos(two_pi * u)

    def curve(name: str) -> FloatArray:
        xs, ys = curves[name]
        return periodic_pchip(np.array(xs), np.array(ys), u)

    return _Pose(
        hip=curve("hip"),
        knee=curve("knee"),
        ankle=curve("ankle"),
        shoulder=shoulder,
        elbow=curve("elbow"),
        pelvis_torsion=pelvis_torsion,
        thorax_torsion=thorax,
        lean=lean,
        translation=translation * leg,
    )


def _sagittal(angle_deg: FloatArray, length: float) -> FloatArray:
    """A segment hanging down, swung forward by ``angle_deg``: (T, 3) body-frame vector."""
    a = np.radians(angle_deg)
    return np.stack([length * np.sin(a), np.zeros_like(a), -length * np.cos(a)], axis=-1)


def _lateral(torsion_deg: FloatArray, half_width: float) -> FloatArray:
    """The point ``half_width`` to the left, turned by ``torsion_deg`` about the vertical."""
    a = np.radians(torsion_deg)
    return np.stack([-half_width * np.sin(a), half_width * np.cos(a), np.zeros_like(a)], axis=-1)


def _points(height_m: float, right: _Pose, left: _Pose) -> FloatArray:
    """Scatterer positions (17, T, 3) in the body frame (x forward, y left, z up, origin on the
    ground below the pelvis) for the right and left half poses; ``POINT_NAMES`` is the order."""
    h = height_m
    origin = right.translation + np.array([0.0, 0.0, LEG * h])
    up = _sagittal(180.0 - right.lean, 1.0)  # trunk axis leaning forward by ``lean``
    points = [origin + up * 0.3 * TORSO * h, origin + up * 0.75 * TORSO * h]
    points.append(origin + up * (TORSO + HEAD / 2) * h)
    neck = origin + up * TORSO * h
    for side, pose in ((-1.0, right), (1.0, left)):
        shoulder = neck + _lateral(right.thorax_torsion, side * SHOULDER_HALF * h)
        elbow = shoulder + _sagittal(pose.shoulder, UPPER_ARM * h)
        hand = elbow + _sagittal(pose.shoulder + pose.elbow, FOREARM * h)
        points += [(shoulder + elbow) / 2, (elbow + hand) / 2]
    for side, pose in ((-1.0, right), (1.0, left)):
        hip = origin + _lateral(right.pelvis_torsion, side * HIP_HALF * h)
        knee = hip + _sagittal(pose.hip, THIGH * h)
        shank_angle = pose.hip - pose.knee
        ankle = knee + _sagittal(shank_angle, SHANK * h)
        foot_angle = np.radians(shank_angle + pose.ankle)
        toe = ankle + FOOT * h * np.stack(
            [np.cos(foot_angle), np.zeros_like(foot_angle), np.sin(foot_angle)], axis=-1
        )
        points += [hip + (knee - hip) / 3, hip + (knee - hip) * 2 / 3]
        points += [knee + (ankle - knee) / 3, knee + (ankle - knee) * 2 / 3, (ankle + toe) / 2]
    return np.stack(points)


def body_points(height_m: float, u: FloatArray, cycle: GaitCycle, gait: Gait) -> FloatArray:
    """Scatterer positions (17, T, 3) in the body frame at gait phases ``u`` (cycles)."""
    right = _pose(np.mod(u, 1.0), cycle, gait)
    left = _pose(np.mod(u + 0.5, 1.0), cycle, gait)
    return _points(height_m, right, left)


def standing_points(height_m: float, times: FloatArray, phase: float) -> FloatArray:
    """A person standing still (17, T, 3): a slow sway about the ankles and breathing."""
    zero = np.zeros(times.shape[0])
    neutral = _Pose(
        hip=zero,
        knee=zero + 3,
        ankle=zero,
        shoulder=zero + 3,
        elbow=zero + 10,
        pelvis_torsion=zero,
        thorax_torsion=zero,
        lean=zero,
        translation=np.zeros((times.shape[0], 3)),
    )
    points = _points(height_m, neutral, neutral)
    sway = 0.012 * np.sin(2 * math.pi * 0.3 * times + phase)  # m at head height
    breath = 0.003 * np.sin(2 * math.pi * 0.25 * times + 2 * phase)
    points[:, :, 0] += sway[None, :] * points[:, :, 2] / height_m
    points[1, :, 0] += breath
    return points


@dataclass(frozen=True)
class Walker:
    """A person walking, running or standing on a straight line (ground frame).

    At ``t0`` the pelvis is above ``(x0, y0)`` and the right heel strikes at gait phase
    ``phase0`` (cycles); speed 0 is standing still.
    """

    height_m: float
    speed_mps: float
    gait: Gait = "walk"
    x0: float = 0.0
    y0: float = 0.0
    heading_rad: float = 0.0
    t0: float = 0.0
    phase0: float = 0.0
    rcs_m2: float | None = None
    """Whole-body RCS; None: ``human_rcs_m2(height_m)``."""

    def __post_init__(self) -> None:
        if not 0.5 <= self.height_m <= 2.5:
            raise ValueError(f"height_m must be in 0.5..2.5, got {self.height_m}")
        if not 0 <= self.speed_mps <= 12:
            raise ValueError(f"speed_mps must be in 0..12, got {self.speed_mps}")
        if self.gait not in ("walk", "run"):
            raise ValueError(f"gait must be walk or run, got {self.gait!r}")

    @property
    def cycle(self) -> GaitCycle | None:
        if self.speed_mps == 0:
            return None
        return gait_cycle(self.height_m, self.speed_mps, self.gait)

    @property
    def velocity(self) -> FloatArray:
        return self.speed_mps * np.array(
            [math.cos(self.heading_rad), math.sin(self.heading_rad), 0]
        )

    def position(self, t: float) -> FloatArray:
        """Ground point under the pelvis at ``t``."""
        return np.array([self.x0, self.y0, 0.0]) + self.velocity * (t - self.t0)

    def scatterers(self, times: FloatArray) -> tuple[FloatArray, FloatArray]:
        cycle = self.cycle
        if cycle is None:
            local = standing_points(self.height_m, times, self.phase0 * 2 * math.pi)
        else:
            u = self.phase0 + (times - self.t0) / cycle.cycle_s
            local = body_points(self.height_m, u, cycle, self.gait)
        forward = np.array([math.cos(self.heading_rad), math.sin(self.heading_rad), 0.0])
        axes = np.array([forward, [-forward[1], forward[0], 0.0], [0.0, 0.0, 1.0]])
        base = np.array([self.x0, self.y0, 0.0]) + np.outer(times - self.t0, self.velocity)
        ground = np.matmul(local, axes) + base[None, :, :]
        rcs = self.rcs_m2 if self.rcs_m2 is not None else human_rcs_m2(self.height_m)
        return ground, (_WEIGHTS * rcs)[:, None]
