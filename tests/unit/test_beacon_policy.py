"""The warning rule: table-driven frame patterns, one WarningStart per transit, the hold."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pole_agent.config import WarningConfig
from pole_agent.decisions.beacon_policy import RULE_OVER_LIMIT, BeaconPolicy, WarningStart
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.perception.transit import Direction, OpenTransit, Transit

LIMIT = 30.0
ACTIVE = ZoneState(active=True, limit_kmh=LIMIT)
INACTIVE = ZoneState(active=False, limit_kmh=50.0)
FRAME_DT = 0.1


def policy(confirm_frames: int = 2, hold_s: float = 3.0) -> BeaconPolicy:
    return BeaconPolicy(WarningConfig(confirm_frames=confirm_frames, hold_s=hold_s))


def open_transit(transit_id: int = 1, direction: Direction = "approaching") -> OpenTransit:
    return OpenTransit(
        transit_id=transit_id, direction=direction, start_t=0.0, last_t=0.0, peak_kmh=0.0
    )


def ended(
    transit_id: int = 1,
    end_t: float = 1.0,
    direction: Direction = "approaching",
    samples: int = 5,
    noise: bool = False,
) -> Transit:
    return Transit(
        transit_id=transit_id,
        direction=direction,
        start_t=0.0,
        end_t=end_t,
        peak_kmh=40.0,
        median_kmh=35.0,
        samples=samples,
        noise=noise,
    )


def run(
    pol: BeaconPolicy,
    speeds: list[float],
    zone: ZoneState = ACTIVE,
    transit: OpenTransit | None = None,
    t0: float = 0.0,
) -> list[WarningStart | None]:
    transit = transit or open_transit()
    return [pol.on_frame(transit, speed, zone, t0 + FRAME_DT * i) for i, speed in enumerate(speeds)]


@dataclass(frozen=True)
class Pattern:
    name: str
    confirm_frames: int
    speeds: list[float]
    warn_at: int | None
    """Index of the frame that warns, where warning is allowed at all."""


PATTERNS = [
    Pattern("two consecutive over", 2, [35.0, 36.0], 1),
    Pattern("under then two over", 2, [25.0, 35.0, 36.0, 37.0], 2),
    Pattern("one over then under", 2, [35.0, 25.0], None),
    Pattern("spike between unders", 2, [25.0, 45.0, 25.0, 25.0], None),
    Pattern("alternating over and under", 2, [35.0, 25.0, 35.0, 25.0, 35.0, 25.0], None),
    Pattern("exactly at the limit", 2, [30.0, 30.0, 30.0, 30.0], None),
    Pattern("just over the limit", 2, [30.01, 30.01], 1),
    Pattern("at limit breaks a streak", 2, [35.0, 30.0, 35.0], None),
    Pattern("all under", 2, [10.0, 20.0, 29.9], None),
    Pattern("confirm 3: two over not enough", 3, [35.0, 36.0], None),
    Pattern("confirm 3: three over", 3, [35.0, 36.0, 37.0], 2),
    Pattern("confirm 3: two, under, three", 3, [35.0, 36.0, 25.0, 35.0, 36.0, 37.0], 5),
]

ZONES = {"active": ACTIVE, "inactive": INACTIVE}
DIRECTIONS: list[Direction] = ["approaching", "receding"]


@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.name for p in PATTERNS])
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("zone_name", sorted(ZONES))
def test_warning_table(zone_name: str, direction: Direction, pattern: Pattern) -> None:
    pol = policy(confirm_frames=pattern.confirm_frames)
    results = run(pol, pattern.speeds, ZONES[zone_name], open_transit(direction=direction))
    may_warn = zone_name == "active" and direction == "approaching"
    expected_at = pattern.warn_at if may_warn else None
    warned_at = [i for i, r in enumerate(results) if r is not None]
    assert warned_at == ([] if expected_at is None else [expected_at])
    assert pol.beacons_on(FRAME_DT * len(pattern.speeds)) is (expected_at is not None)


def test_over_limit_inactive_zone_uses_the_off_hours_limit_and_never_warns() -> None:
    pol = policy()
    assert run(pol, [120.0] * 10, INACTIVE) == [None] * 10


def test_warning_start_record() -> None:
    pol = policy(confirm_frames=2)
    results = run(pol, [25.0, 41.0, 44.5], t0=10.0)
    warning = results[2]
    assert warning is not None
    assert warning.t == pytest.approx(10.2)
    assert warning == WarningStart(
        transit_id=1,
        t=warning.t,
        rule=RULE_OVER_LIMIT,
        speed_kmh=44.5,
        limit_kmh=LIMIT,
        confirm_frames=2,
    )
    assert warning.rule == "over-limit-approaching"


def test_a_warned_transit_starts_only_once() -> None:
    pol = policy()
    results = run(pol, [35.0, 36.0, 37.0, 38.0, 25.0, 39.0, 40.0, 41.0])
    assert sum(r is not None for r in results) == 1
    assert results[1] is not None


def test_streaks_are_per_transit() -> None:
    pol = policy()
    a, b = open_transit(1), open_transit(2)
    assert pol.on_frame(a, 35.0, ACTIVE, 0.0) is None
    assert pol.on_frame(b, 35.0, ACTIVE, 0.05) is None
    warning = pol.on_frame(b, 36.0, ACTIVE, 0.1)
    assert warning is not None and warning.transit_id == 2
    warning = pol.on_frame(a, 36.0, ACTIVE, 0.15)
    assert warning is not None and warning.transit_id == 1


def test_zone_going_inactive_resets_the_streak() -> None:
    pol = policy()
    tr = open_transit()
    assert pol.on_frame(tr, 35.0, ACTIVE, 0.0) is None
    assert pol.on_frame(tr, 35.0, INACTIVE, 0.1) is None
    assert pol.on_frame(tr, 35.0, ACTIVE, 0.2) is None
    assert pol.on_frame(tr, 35.0, ACTIVE, 0.3) is not None


def test_beacons_on_while_open_and_until_end_plus_hold() -> None:
    pol = policy(hold_s=3.0)
    assert pol.beacons_on(0.0) is False
    run(pol, [35.0, 36.0, 37.0])
    # Open and warned: on whatever the time.
    assert pol.beacons_on(0.2) is True
    assert pol.beacons_on(1000.0) is True
    assert pol.on_transit_end(ended(1, end_t=5.0)) is True
    assert pol.beacons_on(5.0) is True
    assert pol.beacons_on(7.999) is True
    assert pol.beacons_on(8.0) is False
    assert pol.beacons_on(100.0) is False


def test_hold_zero_turns_off_at_the_end() -> None:
    pol = policy(hold_s=0.0)
    run(pol, [35.0, 36.0])
    pol.on_transit_end(ended(1, end_t=5.0))
    assert pol.beacons_on(5.0) is False


def test_an_unwarned_transit_end_changes_nothing() -> None:
    pol = policy()
    run(pol, [35.0, 25.0])
    assert pol.on_transit_end(ended(1, end_t=1.0)) is False
    assert pol.beacons_on(1.0) is False


def test_two_overlapping_warned_transits_extend_the_hold() -> None:
    pol = policy(hold_s=3.0)
    a, b = open_transit(1), open_transit(2)
    run(pol, [35.0, 36.0], transit=a, t0=0.0)
    run(pol, [40.0, 41.0], transit=b, t0=0.5)
    assert pol.on_transit_end(ended(1, end_t=2.0)) is True
    # A has ended but B is still open: on past A's hold.
    assert pol.beacons_on(5.5) is True
    assert pol.on_transit_end(ended(2, end_t=4.0)) is True
    assert pol.beacons_on(6.5) is True
    assert pol.beacons_on(6.999) is True
    assert pol.beacons_on(7.0) is False


def test_later_end_first_keeps_the_longer_hold() -> None:
    pol = policy(hold_s=3.0)
    run(pol, [35.0, 36.0], transit=open_transit(1))
    run(pol, [35.0, 36.0], transit=open_transit(2))
    pol.on_transit_end(ended(2, end_t=10.0))
    pol.on_transit_end(ended(1, end_t=4.0))
    assert pol.beacons_on(12.9) is True
    assert pol.beacons_on(13.0) is False


def test_a_warned_transit_that_ends_as_noise_still_ends_the_warning() -> None:
    pol = policy(confirm_frames=2, hold_s=3.0)
    run(pol, [35.0, 36.0])
    assert pol.beacons_on(0.1) is True
    assert pol.on_transit_end(ended(1, end_t=0.1, samples=2, noise=True)) is True
    assert pol.beacons_on(3.0) is True
    assert pol.beacons_on(3.1) is False


def test_a_transit_is_reported_warned_only_once() -> None:
    pol = policy()
    run(pol, [35.0, 36.0])
    assert pol.on_transit_end(ended(1)) is True
    assert pol.on_transit_end(ended(1)) is False


def test_a_streak_does_not_survive_its_transit() -> None:
    pol = policy()
    tr = open_transit(7)
    assert pol.on_frame(tr, 35.0, ACTIVE, 0.0) is None
    pol.on_transit_end(ended(7))
    # The same id reused (it is not, but the streak must not leak): one frame is not enough.
    assert pol.on_frame(tr, 35.0, ACTIVE, 5.0) is None
