"""The warning policy by itself: table-driven over schedule x speed x pedestrian x time to
arrival (known / unknown), then the display's rules, the child warning's cool-down and volume,
fail-safe, and the decision records."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pole_agent.config import (
    AudioConfig,
    ChildWarningConfig,
    SignConfig,
    SignMessage,
    WarningConfig,
)
from pole_agent.decisions.failsafe import Mode
from pole_agent.decisions.warning_policy import (
    RULE_CHILD,
    RULE_NO_RACING,
    OutputPlan,
    WarningPolicy,
)
from pole_agent.decisions.zone_schedule import ZoneState
from pole_agent.perception.transit import Direction, OpenTransit, Transit
from pole_agent.ports import PedestrianKind, PedestrianSeen, VehicleApproaching

DT = 0.1
SCHOOL = ZoneState(active=True, limit_kmh=30.0, window="school hours", school_day=True)
NIGHT = ZoneState(active=False, limit_kmh=50.0, school_day=True)
CONSERVATIVE = ZoneState(active=True, limit_kmh=30.0, window="conservative", conservative=True)
ZONES = {"school": SCHOOL, "night": NIGHT, "conservative": CONSERVATIVE}
AUDIO = AudioConfig(volume=0.8, quiet_volume=0.3)


def make_policy(**child: object) -> WarningPolicy:
    return WarningPolicy(
        WarningConfig(confirm_frames=2, hold_s=3.0),
        SignConfig(min_display_kmh=10, max_display_kmh=80, blank_after_s=2.0, update_s=0.5),
        ChildWarningConfig.model_validate(
            {"arrival_threshold_s": 4.0, "unknown_arrival_min_speed_kmh": 20.0, **child}
        ),
        AUDIO,
    )


def transit(tid: int = 1, direction: Direction = "approaching") -> OpenTransit:
    return OpenTransit(transit_id=tid, direction=direction, start_t=0.0, last_t=0.0, peak_kmh=0.0)


def frames(
    policy: WarningPolicy,
    speed: float,
    zone: ZoneState,
    *,
    n: int = 3,
    t0: float = 10.0,
    tr: OpenTransit | None = None,
    range_m: float | None = None,
) -> float:
    """``n`` frames of one vehicle ``DT`` apart; with ``range_m`` the radar also gives range
    (closing at the vehicle's speed). Returns the last frame's time."""
    tr = tr or transit()
    t = t0
    for i in range(n):
        t = t0 + i * DT
        tr.samples = i + 1  # as the tracker counts them
        if range_m is not None:
            tr.range_m = range_m - speed / 3.6 * i * DT
            tr.range_t = t
        policy.on_frame(tr, speed, zone, t)
    return t


def tick(policy: WarningPolicy, t: float, zone: ZoneState, mode: Mode = "normal") -> None:
    policy.on_tick(t, zone=zone, mode=mode, quiet=not zone.active and not zone.conservative)


@dataclass(frozen=True)
class Case:
    zone: str
    speed: float
    person: str  # "none", "child", "adult"
    arrival: str  # "near" (2 s), "far" (10 s), "unknown"

    @property
    def id(self) -> str:
        return f"{self.zone}-{self.speed:g}kmh-{self.person}-{self.arrival}"


CASES = [
    Case(zone, speed, person, arrival)
    for zone in ZONES
    for speed in (15.0, 25.0, 45.0, 95.0)
    for person in ("none", "child", "adult")
    for arrival in ("near", "far", "unknown")
]


def expected(case: Case) -> tuple[OutputPlan, float | None]:
    """The rules of docs/warnings.md, written out once more: the plan and the voice volume."""
    zone = ZONES[case.zone]
    over = zone.active and case.speed > zone.limit_kmh
    threat = case.speed > 20.0 if case.arrival == "unknown" else case.arrival == "near"
    child = case.person == "child" and threat
    message: SignMessage | None = "child_crossing" if child else "slow_down" if over else None
    shown = zone.active and 10 <= case.speed <= 80
    speed = int(case.speed + 0.5) if shown else None
    volume = None
    if child:
        volume = AUDIO.quiet_volume if not zone.active and not zone.conservative else AUDIO.volume
    return OutputPlan(beacons=over or child, message=message, speed_kmh=speed), volume


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_policy_table(case: Case) -> None:
    policy = make_policy()
    zone = ZONES[case.zone]
    tick(policy, 9.0, zone)
    if case.person != "none":
        kind: PedestrianKind = "child" if case.person == "child" else "adult"
        policy.on_pedestrian(PedestrianSeen(t=9.9, kind=kind, where="kerb", range_m=2.0))
    range_m = None
    if case.arrival != "unknown":
        seconds = 2.0 if case.arrival == "near" else 10.0
        range_m = case.speed / 3.6 * seconds
    last = frames(policy, case.speed, zone, range_m=range_m)
    plan, volume = expected(case)
    assert policy.plan(last) == plan
    said = policy.take_announcements()
    if volume is None:
        assert said == []
    else:
        (announcement,) = said
        assert announcement.volume == volume
        assert announcement.clips == ("chime", "car_coming_ko", "car_coming_en")
    kinds = [r.kind for r in policy.take_records()]
    assert ("child_warning" in kinds) == (volume is not None)
    assert ("over_limit" in kinds) == (
        plan.message == "slow_down"
        or (plan.message == "child_crossing" and ZONES[case.zone].active and case.speed > 30)
    )
    assert ("display_blanked" in kinds) == (case.speed > 80)


def test_any_pedestrian_warns_for_adults_too() -> None:
    policy = make_policy(who="any_pedestrian")
    tick(policy, 9.0, SCHOOL)
    policy.on_pedestrian(PedestrianSeen(t=9.9, kind="adult"))
    last = frames(policy, 25.0, SCHOOL)
    assert policy.plan(last).message == "child_crossing"
    assert len(policy.take_announcements()) == 1


def test_child_warning_only_in_zone_hours_when_configured() -> None:
    policy = make_policy(when="zone_active")
    tick(policy, 9.0, NIGHT)
    policy.on_pedestrian(PedestrianSeen(t=9.9, kind="child"))
    last = frames(policy, 45.0, NIGHT)
    assert policy.plan(last) == OutputPlan(beacons=False, message=None, speed_kmh=None)
    assert policy.take_announcements() == []


def test_receding_vehicle_is_neither_shown_nor_a_threat() -> None:
    policy = make_policy()
    tick(policy, 9.0, SCHOOL)
    policy.on_pedestrian(PedestrianSeen(t=9.9, kind="child"))
    last = frames(policy, 45.0, SCHOOL, tr=transit(direction="receding"))
    assert policy.plan(last) == OutputPlan(beacons=False, message=None, speed_kmh=None)


def test_detections_port_vehicle_with_arrival() -> None:
    policy = make_policy()
    tick(policy, 9.0, SCHOOL)
    policy.on_pedestrian(PedestrianSeen(t=10.0, kind="child", source="camera", track_id=4))
    policy.on_vehicle(VehicleApproaching(t=10.0, speed_kmh=15.0, arrival_s=6.0, source="cam"))
    assert policy.plan(10.0).message is None
    policy.on_vehicle(VehicleApproaching(t=10.5, speed_kmh=15.0, arrival_s=3.5, source="cam"))
    assert policy.plan(10.5).message == "child_crossing"
    (record,) = [r for r in policy.take_records() if r.kind == "child_warning"]
    assert record.rule == RULE_CHILD
    assert record.inputs["vehicle_arrival_s"] == 3.5
    assert record.inputs["vehicle_source"] == "cam"
    assert record.inputs["pedestrian_source"] == "camera"
    assert "arriving in 3.5 s" in record.trigger


def test_stale_detections_do_not_warn() -> None:
    policy = make_policy(pedestrian_ttl_s=1.5)
    tick(policy, 9.0, SCHOOL)
    policy.on_pedestrian(PedestrianSeen(t=5.0, kind="child"))
    last = frames(policy, 45.0, SCHOOL)  # 5 s later: the child was seen too long ago
    assert policy.plan(last).message == "slow_down"
    assert policy.take_announcements() == []


def test_cool_down_keeps_the_voice_from_repeating() -> None:
    policy = make_policy(cooldown_s=10.0, hold_s=3.0)
    tick(policy, 0.0, SCHOOL)
    said: list[float] = []
    t = 0.0
    while t < 25.0:
        policy.on_pedestrian(PedestrianSeen(t=t, kind="child"))
        policy.on_vehicle(VehicleApproaching(t=t, speed_kmh=40.0, source="x"))
        said += [a.t for a in policy.take_announcements()]
        t = round(t + 0.5, 3)
    assert said == [0.0, 10.0, 20.0]
    records = [r for r in policy.take_records() if r.kind == "child_warning"]
    assert [r.t for r in records] == [0.0, 10.0, 20.0]


def test_a_new_episode_inside_the_cool_down_is_recorded_without_voice() -> None:
    policy = make_policy(cooldown_s=10.0, hold_s=1.0)
    tick(policy, 0.0, SCHOOL)
    policy.on_pedestrian(PedestrianSeen(t=0.0, kind="child"))
    policy.on_vehicle(VehicleApproaching(t=0.0, speed_kmh=40.0, source="x", track_id=1))
    tick(policy, 3.0, SCHOOL)  # both expired: the episode is over
    assert policy.plan(3.0).message is None
    policy.on_pedestrian(PedestrianSeen(t=4.0, kind="child"))
    policy.on_vehicle(VehicleApproaching(t=4.0, speed_kmh=40.0, source="x", track_id=2))
    assert len(policy.take_announcements()) == 1
    first, second = [r for r in policy.take_records() if r.kind == "child_warning"]
    assert any(o.startswith("voice:chime") for o in first.outputs)
    assert "voice:held (cool-down 6.0 s left)" in second.outputs


def test_sign_holds_child_crossing_after_the_danger() -> None:
    policy = make_policy(hold_s=3.0)
    tick(policy, 0.0, SCHOOL)
    policy.on_pedestrian(PedestrianSeen(t=1.0, kind="child"))
    policy.on_vehicle(VehicleApproaching(t=1.0, speed_kmh=40.0, source="x"))
    assert policy.plan(3.9).message == "child_crossing"
    assert policy.plan(4.0).message is None


def test_fail_safe_flashes_in_school_hours_blank_display_no_voice() -> None:
    policy = make_policy()
    tick(policy, 0.0, SCHOOL, mode="fail_safe")
    assert policy.plan(0.0) == OutputPlan(beacons=True, message="school_zone", speed_kmh=None)
    last = frames(policy, 45.0, SCHOOL, t0=1.0)
    assert policy.plan(last).speed_kmh is None
    policy.on_pedestrian(PedestrianSeen(t=last, kind="child"))
    assert policy.take_announcements() == []
    (record,) = [r for r in policy.take_records() if r.kind == "child_warning"]
    assert "voice:none (fail-safe)" in record.outputs
    policy.on_transit_end(Transit(1, "approaching", 1.0, last, 45.0, 45.0, 3))
    tick(policy, 5.0, NIGHT, mode="fail_safe")
    assert policy.plan(10.0) == OutputPlan(beacons=False, message=None, speed_kmh=None)


def test_fail_safe_message_can_be_none() -> None:
    policy = WarningPolicy(WarningConfig(), SignConfig(fail_safe_message=None))
    tick(policy, 0.0, SCHOOL, mode="fail_safe")
    assert policy.plan(0.0) == OutputPlan(beacons=True, message=None, speed_kmh=None)


def test_display_steady_digits_and_blank_after_the_vehicle() -> None:
    policy = make_policy()
    tick(policy, 0.0, SCHOOL)
    tr = transit()
    shown = []
    for i, speed in enumerate([24.0, 25.2, 26.6, 27.1, 27.4, 28.6, 28.8]):
        t = 1.0 + i * 0.2
        policy.on_frame(tr, speed, SCHOOL, t)
        shown.append(policy.plan(t).speed_kmh)
    # A new value at most every 0.5 s: 24 at 1.0, 27 at 1.6, 29 at 2.2.
    assert shown == [24, 24, 24, 27, 27, 27, 29]
    assert policy.plan(2.2 + 2.0).speed_kmh == 29
    assert policy.plan(2.2 + 2.01).speed_kmh is None


def test_racing_the_sign_blanks_for_the_rest_of_the_pass() -> None:
    policy = make_policy()
    tick(policy, 0.0, SCHOOL)
    tr = transit(7)
    policy.on_frame(tr, 60.0, SCHOOL, 1.0)
    assert policy.plan(1.0).speed_kmh == 60
    policy.on_frame(tr, 85.0, SCHOOL, 1.1)
    assert policy.plan(1.1).speed_kmh is None  # a speed over the maximum is never shown
    policy.on_frame(tr, 86.0, SCHOOL, 1.2)  # the second frame over it: a racer
    policy.on_frame(tr, 70.0, SCHOOL, 1.3)  # slowing down does not bring the number back
    plan = policy.plan(1.3)
    assert plan.speed_kmh is None
    assert plan.message == "slow_down"
    assert plan.beacons is True
    (record,) = [r for r in policy.take_records() if r.kind == "display_blanked"]
    assert record.rule == RULE_NO_RACING
    assert record.inputs["speed_kmh"] == 86.0
    end = Transit(7, "approaching", 1.0, 1.3, 86.0, 70.0, 4)
    policy.on_transit_end(end)
    policy.on_frame(transit(8), 40.0, SCHOOL, 5.0)  # the next vehicle is shown again
    assert policy.plan(5.0).speed_kmh == 40


def test_a_lone_spike_over_the_maximum_is_not_a_racer() -> None:
    """Rain: one frame of a car's pass reads 95 km/h. It is not shown, but the car's own speed
    is shown again on its next frame and no display_blanked decision is made."""
    policy = make_policy()
    tick(policy, 0.0, SCHOOL)
    tr = transit(9)
    policy.on_frame(tr, 25.0, SCHOOL, 1.0)
    assert policy.plan(1.0).speed_kmh == 25
    policy.on_frame(tr, 95.0, SCHOOL, 1.1)
    assert policy.plan(1.1).speed_kmh is None
    policy.on_frame(tr, 25.0, SCHOOL, 1.2)
    policy.on_frame(tr, 25.0, SCHOOL, 1.7)
    assert policy.plan(1.7).speed_kmh == 25
    assert [r for r in policy.take_records() if r.kind == "display_blanked"] == []


def test_speed_shown_off_hours_only_when_configured() -> None:
    policy = WarningPolicy(WarningConfig(), SignConfig(show_speed_off_hours=True))
    tick(policy, 0.0, NIGHT)
    policy.on_frame(transit(), 45.0, NIGHT, 1.0)
    assert policy.plan(1.0) == OutputPlan(beacons=False, message=None, speed_kmh=45)


def test_zero_speed_reset_call_is_not_a_measurement() -> None:
    policy = make_policy()
    tick(policy, 0.0, SCHOOL)
    tr = transit()
    policy.on_frame(tr, 35.0, SCHOOL, 1.0)
    policy.on_frame(tr, 0.0, SCHOOL, 1.1)  # the pipeline's "missed a frame" reset
    assert policy.plan(1.1).speed_kmh == 35
    assert policy.on_frame(tr, 36.0, SCHOOL, 1.2) is None  # the count started again


def test_over_limit_record() -> None:
    policy = make_policy()
    tick(policy, 0.0, SCHOOL)
    last = frames(policy, 42.0, SCHOOL, n=2)
    (record,) = policy.take_records()
    assert record.kind == "over_limit"
    assert record.rule == "over-limit-approaching"
    assert record.t == last
    assert record.inputs["speed_kmh"] == 42.0
    assert record.inputs["limit_kmh"] == 30.0
    assert record.inputs["zone_window"] == "school hours"
    assert record.outputs == ("beacons", "sign:slow_down")
    assert "42.0 km/h over the limit 30" in record.trigger


def test_quiet_volume_zero_is_silent_and_recorded() -> None:
    policy = WarningPolicy(WarningConfig(), audio=AudioConfig(quiet_volume=0.0))
    policy.on_tick(0.0, zone=NIGHT, mode="off_hours", quiet=True)
    policy.on_pedestrian(PedestrianSeen(t=1.0, kind="child"))
    policy.on_vehicle(VehicleApproaching(t=1.0, speed_kmh=40.0))
    assert policy.take_announcements() == []
    (record,) = policy.take_records()
    assert "voice:none (volume 0)" in record.outputs


def test_one_radar_line_alone_never_makes_a_child_warning() -> None:
    policy = make_policy()
    tick(policy, 9.0, SCHOOL)
    policy.on_pedestrian(PedestrianSeen(t=9.9, kind="child"))
    frames(policy, 45.0, SCHOOL, n=1)
    assert policy.take_announcements() == []
    frames(policy, 45.0, SCHOOL, n=2)  # the same transit's second frame confirms the vehicle
    assert len(policy.take_announcements()) == 1
