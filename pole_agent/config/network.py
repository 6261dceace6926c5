"""The city's broker, remote management and telemetry."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    Field,
    model_validator,
)

from pole_agent.config.base import (
    StrictModel,
)


class TlsConfig(StrictModel):
    """TLS files for the broker connection."""

    ca_file: Path = Field(description="CA certificate that signed the broker's certificate.")
    cert_file: Path | None = Field(default=None, description="This pole's client certificate.")
    key_file: Path | None = Field(default=None, description="This pole's private key (0600).")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class MqttConfig(StrictModel):
    """The city's MQTT broker. Omit the section to run with no broker."""

    host: str = Field(min_length=1, description="Broker host name or address.")
    port: int = Field(default=8883, ge=1, le=65535, description="Broker port.")
    username: str | None = Field(
        default=None, description="MQTT user name; defaults to the pole id (the ACLs expect it)."
    )
    password_file: Path | None = Field(
        default=None, description="File holding this pole's MQTT password (mode 0600)."
    )
    tls: TlsConfig | None = Field(default=None, description="TLS settings; omit for plain TCP.")
    keepalive_s: int = Field(
        default=30, ge=2, le=600, description="MQTT keepalive; the Last Will fires after ~1.5x."
    )
    queue_max_messages: int = Field(
        default=10000,
        ge=10,
        le=1_000_000,
        description="Messages kept in memory while the on-disk spool cannot be written (disk "
        "full, spool unusable); beyond this, routine ones are dropped oldest first and counted.",
    )
    reconnect_min_s: float = Field(
        default=1.0, gt=0, le=60, description="First wait before reconnecting to a lost broker."
    )
    reconnect_max_s: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="Longest wait between reconnect attempts; waits double from reconnect_min_s "
        "up to this, each with random jitter so a fleet does not reconnect in step.",
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be less than reconnect_min_s")
        return self


class RemoteConfig(StrictModel):
    """Remote management from the city: desired config and commands over MQTT (docs/remote.md)."""

    enabled: bool = Field(
        default=False,
        description="Subscribe to this pole's config/desired and cmd/+ topics and act on them "
        "(needs [mqtt]).",
    )
    fleet_public_key_file: Path | None = Field(
        default=None,
        description="The fleet's Ed25519 public key (PEM); when set, config and commands must "
        "carry a valid signature and unsigned ones are rejected.",
    )
    grace_s: float = Field(
        default=120.0,
        gt=0,
        le=86400,
        description="A new remote config under which a component fails (one that was not "
        "failed before the change) within this time is rolled back to the last-known-good one.",
    )
    max_command_ttl_s: float = Field(
        default=86400.0,
        gt=0,
        le=30 * 86400,
        description="Commands expiring further ahead than this are refused (their ids are "
        "remembered until they expire, to refuse replays).",
    )
    trial_unclean_ends: int = Field(
        default=2,
        ge=1,
        le=10,
        description="A remote config still in its grace period is rolled back to the "
        "last-known-good one, before the agent starts, once this many runs of it ended "
        "uncleanly (killed, crashed) before the grace period was over (read from the local file).",
    )
    message_max_chars: int = Field(
        default=48,
        ge=1,
        le=200,
        description="Longest operator text the set_message command may put on the sign (what "
        "the sign controller can show).",
    )
    message_max_s: float = Field(
        default=86400.0,
        gt=0,
        le=7 * 86400,
        description="Longest duration of an operator text on the sign (set_message duration_s).",
    )
    comms_loss_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="When the broker has been unreachable this long, the operator text is "
        "removed from the sign and the sign follows the local rules only (no stale remote "
        "message).",
    )


class TelemetryConfig(StrictModel):
    """Statistics, health, discovery, and the on-disk spool that keeps every message until the
    broker has acknowledged it (docs/mqtt.md)."""

    spool_path: Path | None = Field(
        default=None,
        description="The spool's SQLite file; default <state_dir>/telemetry-spool.sqlite3.",
    )
    spool_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=128 * 1024,
        le=16 * 1024**3,
        description="Disk the spool's files may use (its database, write-ahead log and the "
        "log's index; at most one batch more while a batch is written). Past it, routine "
        "messages (vehicle events, stats, health) are dropped oldest first and counted; "
        "warnings and faults are kept. At least 128 KiB: 32 KiB of log index and 32 KiB of "
        "log are fixed costs.",
    )
    spool_max_age_s: float = Field(
        default=7 * 86400.0,
        ge=60,
        le=366 * 86400.0,
        description="Routine messages older than this are dropped from the spool and counted; "
        "warnings and faults are kept.",
    )
    spool_batch_s: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="Routine messages are written to disk together at most this often, to spare "
        "the SD card; warnings and faults are written at once.",
    )
    stats_interval_s: int = Field(
        default=900,
        ge=10,
        le=86400,
        description="Length of a statistics window (s); windows are aligned to the wall clock "
        "and also end when the zone's activity or limit changes.",
    )
    health_interval_s: float = Field(
        default=60.0, ge=1, le=3600, description="How often the health report is published (s)."
    )
    discovery: bool = Field(
        default=True,
        description="Publish Home Assistant MQTT discovery configs (retained) on every connect.",
    )
    discovery_prefix: str = Field(
        default="homeassistant",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Home Assistant's discovery topic prefix.",
    )
