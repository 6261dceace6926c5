"""``pole-agent fleet listen``: the reference consumer on a broker, until a signal or a duration.

Subscribes (QoS 1, persistent session named by ``--client-id``) to the given poles or to every
pole, stores what arrives in ``--db``, and prints a report of streams and gaps every
``--report-every`` seconds and at the end. Exit code 0, or 1 when ``--fail-on-missing`` is given
and seqs are missing (not explained by the poles' drop reports) at the end.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
import uuid
from pathlib import Path

from pole_agent.drivers.mqtt_link import MqttSubscriber
from pole_agent.fleet.consumer import FleetConsumer, format_report
from pole_agent.fleet.store import FleetStore
from pole_agent.telemetry import topics

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="broker host")
    parser.add_argument("--port", type=int, default=1883, help="broker port")
    parser.add_argument("--db", type=Path, required=True, help="SQLite file to write")
    parser.add_argument(
        "--pole", action="append", default=[], help="a pole id to follow (repeat); default all"
    )
    parser.add_argument(
        "--client-id",
        default=None,
        help="MQTT client id; keep it stable so the broker keeps the session (default: random)",
    )
    parser.add_argument("--username", default=None, help="MQTT user name")
    parser.add_argument("--password-file", type=Path, default=None, help="file with the password")
    parser.add_argument("--ca-file", type=Path, default=None, help="CA certificate (TLS)")
    parser.add_argument("--duration", type=float, default=None, help="stop after these seconds")
    parser.add_argument(
        "--report-every", type=float, default=60.0, help="seconds between reports (0: only at end)"
    )
    parser.add_argument("--json", action="store_true", help="reports as JSON lines")
    parser.add_argument(
        "--fail-on-missing", action="store_true", help="exit 1 if seqs are missing at the end"
    )


def run_listen(args: argparse.Namespace, stop: threading.Event) -> int:
    password = None
    if args.password_file is not None:
        password = args.password_file.read_text(encoding="utf-8").strip()
    store = FleetStore(args.db)
    consumer = FleetConsumer(store)
    filters = [topics.all_of(p) for p in args.pole] or [topics.every_pole()]
    subscriber = MqttSubscriber(
        host=args.host,
        port=args.port,
        client_id=args.client_id or f"spole-fleet-{uuid.uuid4().hex[:8]}",
        filters=filters,
        on_message=consumer.handle,
        username=args.username,
        password=password,
        ca_file=args.ca_file,
    )
    subscriber.start()
    log.info("listening on %s:%s to %s, writing %s", args.host, args.port, filters, args.db)
    started = time.monotonic()
    last_report = started
    try:
        while not stop.wait(0.2):
            now = time.monotonic()
            if args.duration is not None and now - started >= args.duration:
                break
            if args.report_every > 0 and now - last_report >= args.report_every:
                last_report = now
                print(format_report(consumer.report(), as_json=args.json), flush=True)
    finally:
        subscriber.stop()
        report = consumer.report()
        print(format_report(report, as_json=args.json), flush=True)
        store.close()
    return 1 if args.fail_on_missing and report.missing else 0
