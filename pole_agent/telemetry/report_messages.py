"""The periodic payloads: traffic statistics per window and the pole's health (docs/mqtt.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pole_agent.telemetry.messages import HealthStateName, Message, Payload, UtcDatetime


class SpeedSummary(Payload):
    """Counts and speed percentiles over the per-transit peak speeds of one window (never raw
    radar samples)."""

    count: int = Field(ge=0, description="Vehicles (transits) in the window.")
    over_limit: int = Field(ge=0, description="Of them, faster than the window's limit.")
    p50_kmh: float | None = Field(description="Median peak speed; null when count is 0.")
    p85_kmh: float | None = Field(description="85th percentile peak speed; null when count is 0.")
    p98_kmh: float | None = Field(description="98th percentile peak speed; null when count is 0.")
    max_kmh: float | None = Field(description="Fastest peak speed; null when count is 0.")
    by_class: dict[str, int] = Field(description="Counts by vehicle class.")


class StatsReport(Message):
    """Traffic in one window; ``ts`` is the window's end."""

    window_start: UtcDatetime = Field(description="Start of the window (UTC), inclusive.")
    window_end: UtcDatetime = Field(description="End of the window (UTC), exclusive.")
    partial: bool = Field(
        description="The window ended early: the zone changed, or the agent started or stopped "
        "inside it."
    )
    zone_active: bool = Field(description="Whether the school zone was active in the window.")
    limit_kmh: float = Field(description="The speed limit in force in the window.")
    schedule_window: str = Field(
        description="Name of the zone schedule's window in force ('' outside every window)."
    )
    total: SpeedSummary = Field(description="Both directions.")
    approaching: SpeedSummary = Field(description="Vehicles coming toward the pole.")
    receding: SpeedSummary = Field(description="Vehicles going away from it.")
    warnings: int = Field(ge=0, description="Warnings started in the window.")
    clutter_frames: int | None = Field(
        default=None,
        ge=0,
        description="Road radar frames no vehicle's track confirmed (rain, spikes, a swaying "
        "sign, a sensor aimed at moving things other than the road), counted in the window in "
        "which the track they made ended; never in the counts above. Always written; absent "
        "(read as null) in messages from agents before this field.",
    )


class ComponentReport(Payload):
    state: HealthStateName = Field(description="ok, degraded or failed.")
    reason: str = Field(description="Why, in words.")
    since: UtcDatetime = Field(description="When it entered this state (UTC).")
    clutter_frames: int | None = Field(
        default=None,
        ge=0,
        description="The road radar (radar.road) only: its frames since this boot that no "
        "vehicle's track confirmed (rain, spikes, a swaying sign, a badly aimed sensor); null "
        "for every other component.",
    )


class LoadReport(Payload):
    m1: float = Field(description="1-minute load average.")
    m5: float = Field(description="5-minute load average.")
    m15: float = Field(description="15-minute load average.")


class MemoryReport(Payload):
    total_mb: float | None = Field(description="The machine's memory.")
    available_mb: float | None = Field(description="Memory available to new work.")
    agent_rss_mb: float | None = Field(description="The agent's resident memory.")


class DiskReport(Payload):
    path: str = Field(description="The state directory measured.")
    total_mb: float = Field(description="Size of its file system.")
    free_mb: float = Field(description="Free space for the agent.")
    used_pct: float = Field(description="Share used, 0 to 100.")


class DropRange(Payload):
    """Messages the spool dropped: seq ``first_seq`` to ``last_seq`` of one stream and boot."""

    boot_id: str = Field(description="The boot that made them.")
    stream: str = Field(description="The topic under spole/<pole_id>/, e.g. events/vehicle.")
    first_seq: int = Field(description="First dropped seq.")
    last_seq: int = Field(description="Last dropped seq (inclusive).")
    count: int = Field(description="Messages dropped in the range.")
    reason: Literal["full", "expired", "memory"] = Field(
        description="full: the spool's byte cap; expired: older than its age limit; memory: the "
        "disk could not be written and the memory queue overflowed."
    )
    at: UtcDatetime = Field(description="When they were dropped (UTC).")


class SpoolReport(Payload):
    state: HealthStateName = Field(description="ok; failed while the disk cannot be written.")
    depth: int = Field(description="Messages waiting for the broker's acknowledgement.")
    bytes: int = Field(description="Payload bytes waiting (the messages themselves).")
    disk_bytes: int = Field(
        description="Bytes the spool's files take on disk (database, write-ahead log and its "
        "index): the quantity the cap applies to; at most max_bytes plus one batch."
    )
    max_bytes: int = Field(description="The cap on disk_bytes (telemetry.spool_max_bytes).")
    oldest_s: float | None = Field(description="Age of the oldest waiting message (s).")
    dropped: dict[str, int] = Field(description="Messages dropped since start, by stream.")
    dropped_total: int = Field(description="Sum of dropped.")
    dropped_safety: int = Field(
        description="Warnings and faults dropped (only when they alone exceed the cap)."
    )
    write_errors: int = Field(description="Failed disk writes since start.")
    drops: list[DropRange] = Field(description="The most recent drops (last 20), oldest first.")


class LinkReport(Payload):
    state: str = Field(description="connected, unreachable, ...")
    connects: int = Field(description="Successful connections since start.")
    delivered: int = Field(description="Messages acknowledged by the broker since start.")
    rejected: int = Field(description="Messages the broker refused (not authorised ...).")


class RemoteReport(Payload):
    """Remote management counts since the pole's state directory was created (kept across
    restarts; docs/remote.md)."""

    rejected: dict[str, int] = Field(
        description="Config and command messages rejected, by reason (malformed, unsigned, "
        "bad-signature, invalid, wrong-pole, expired, too-far-ahead, older-version, replayed, "
        "unknown-command, busy, internal-error)."
    )
    rejected_total: int = Field(description="Sum of rejected.")
    applied: int = Field(description="Remote configs applied.")
    rolled_back: int = Field(
        description="Remote configs rolled back (unhealthy in their grace period, failed to "
        "apply, or ended the agent uncleanly too often)."
    )
    commands_run: int = Field(description="Commands that ran and answered ok.")
    commands_failed: int = Field(description="Accepted commands whose action failed.")


class HealthReport(Message):
    """The pole's health; ``ts`` is when it was measured."""

    overall: HealthStateName = Field(description="The worst component state.")
    components: dict[str, ComponentReport] = Field(description="Each component's health.")
    cpu_temp_c: float | None = Field(description="CPU temperature; null with no thermal zone.")
    load: LoadReport | None = Field(description="Load averages.")
    memory: MemoryReport | None = Field(description="Memory.")
    disk: DiskReport | None = Field(description="The state directory's file system.")
    spool: SpoolReport = Field(description="The telemetry spool.")
    link: LinkReport = Field(description="The broker connection.")
    clock_trusted: bool | None = Field(
        description="The agent's verdict on its wall clock at this report (docs/warnings.md): "
        "true when the kernel says the time is synchronised, or the date is plausible (not "
        "before the release's build date, nor more than 5 minutes before the last trusted time "
        "the pole saved); false otherwise, and from start-up until the first check. While false "
        "the schedule is in its conservative mode, the clock component is degraded and events' "
        "timestamps are suspect. null only when the verdict could not be read (an internal "
        "error, logged)."
    )
    uptime_s: float = Field(description="Seconds since this boot of the agent started.")
    remote: RemoteReport | None = Field(
        default=None, description="Remote management counters; null when it is off."
    )
