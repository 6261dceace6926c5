"""The shipped schema files match the models; discovery, backoff and host gauges."""

from __future__ import annotations

import json
import random
from pathlib import Path

from pole_agent.telemetry import schema_files
from pole_agent.telemetry.backoff import Backoff
from pole_agent.telemetry.discovery import discovery_messages
from pole_agent.telemetry.health_report import cpu_temperature_c, memory
from tests.telemetry.rig import schema_validator


def test_schema_files_are_up_to_date() -> None:
    """Regenerate with: .venv/bin/python -m pole_agent.telemetry.schema_files"""
    for stem in schema_files.PAYLOADS:
        path = schema_files.schema_dir() / f"{stem}.schema.json"
        assert path.read_text(encoding="utf-8") == schema_files.render(stem), stem
        schema_validator(stem)  # and each is a valid JSON Schema


def test_discovery_configs_are_retained_topics_with_valid_payloads() -> None:
    messages = discovery_messages("p-1", "0.1.0")
    validator = schema_validator("ha-discovery")
    ids = set()
    for topic, payload in messages:
        assert topic.startswith("homeassistant/") and topic.endswith("/config")
        body = json.loads(payload)
        validator.validate(body)
        assert body["device"]["identifiers"] == ["spole-p-1"]
        assert body["state_topic"].startswith("spole/p-1/")
        ids.add(body["unique_id"])
    assert len(ids) == len(messages)


def test_backoff_grows_to_the_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(1.0, 30.0, random.Random(4))
    delays = [backoff.next_delay() for _ in range(12)]
    steps = [1, 2, 4, 8, 16, 30, 30, 30, 30, 30, 30, 30]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    assert len({round(d, 6) for d in delays[5:]}) > 1  # jittered, not in step
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_cpu_temperature_prefers_the_cpu_zone(tmp_path: Path) -> None:
    assert cpu_temperature_c(tmp_path) is None
    for name, kind, temp in (
        ("thermal_zone0", "acpitz", "27800"),
        ("thermal_zone1", "cpu-thermal", "51234"),
    ):
        zone = tmp_path / name
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(temp + "\n")
    assert cpu_temperature_c(tmp_path) == 51.2


def test_memory_reads_proc(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "meminfo").write_text("MemTotal:  4096000 kB\nMemAvailable: 1024000 kB\n")
    (tmp_path / "self" / "status").write_text("Name: x\nVmRSS:   51200 kB\n")
    report = memory(tmp_path)
    assert report is not None
    assert (report.total_mb, report.available_mb, report.agent_rss_mb) == (4000.0, 1000.0, 50.0)


def test_every_payload_field_is_in_the_contract_doc() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "mqtt.md").read_text(encoding="utf-8")
    for stem in schema_files.PAYLOADS:
        if stem == "ha-discovery":
            continue  # Home Assistant's own format
        model = schema_files.PAYLOADS[stem][0]
        for name in model.model_fields:
            assert f"`{name}`" in doc, f"docs/mqtt.md does not describe `{name}` of {stem}"
