"""The city broker configuration shipped in deploy/mosquitto/, run by a real Mosquitto with
credentials from the fleet CA: no credentials refused, a pole speaks and hears only for itself,
``#`` gets nothing of other poles, a revoked pole is refused."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pole_agent.clock import ManualClock
from pole_agent.config import parse_config
from pole_agent.fleet import credentials
from pole_agent.installer.selftest import DAILY_TOOL, REMOTE_TOOL, client_id, publish
from simulator.broker import MosquittoBroker, find_free_port, port_accepts
from tests.remote.mqtt_probe import Probe

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"


@dataclass
class City:
    broker: MosquittoBroker
    ca_dir: Path
    poles: dict[str, credentials.PoleCredentials]
    tls_port: int
    password_port: int
    city_password: str

    def pole(self, pole_id: str, *, as_user: str | None = None, tls: bool = False) -> Probe:
        creds = self.poles[pole_id]
        if tls:
            return Probe(
                self.broker.host,
                self.tls_port,
                f"{pole_id}-tls",
                ca_file=creds.ca_file,
                cert_file=creds.cert_file,
                key_file=creds.key_file,
            )
        password = creds.password_file.read_text().strip()
        return Probe(
            self.broker.host,
            self.password_port,
            f"{pole_id}-{time.monotonic_ns()}",
            username=as_user or pole_id,
            password=password,
            ca_file=self.ca_dir / "ca.crt",
        )

    def operator(self) -> Probe:
        return Probe(
            self.broker.host,
            self.password_port,
            "city-ops",
            username="city",
            password=self.city_password,
            ca_file=self.ca_dir / "ca.crt",
        )


def wait_listening(broker: MosquittoBroker, *ports: int, timeout_s: float = 10.0) -> None:
    """``MosquittoBroker.start`` waits for its first listener only; the TLS ones open later."""
    deadline = time.monotonic() + timeout_s
    for port in ports:
        while not port_accepts(broker.host, port):
            assert time.monotonic() < deadline, f"port {port} not listening:\n{broker.log_text()}"
            time.sleep(0.02)


def render_deploy_config(conf_dir: Path, tls_port: int, password_port: int) -> str:
    """deploy/mosquitto/spole.conf with its files in ``conf_dir`` and loopback ports."""
    text = (DEPLOY / "spole.conf").read_text()
    text = text.replace("/etc/mosquitto/spole", str(conf_dir))
    text = text.replace("listener 8883", f"listener {tls_port} 127.0.0.1")
    return text.replace("listener 8884", f"listener {password_port} 127.0.0.1")


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    ca_dir = tmp_path / "ca"
    credentials.init_ca(ca_dir)
    (ca_dir / "acl").write_bytes((DEPLOY / "acl").read_bytes())
    os.chmod(ca_dir / "acl", 0o600)
    poles = {p: credentials.issue(ca_dir, tmp_path / "out", p) for p in ("pole-a", "pole-b")}
    city_password = credentials.new_password()
    credentials.set_password(ca_dir / "passwd", "city", city_password)
    tls_port, password_port = find_free_port(), find_free_port()
    broker = MosquittoBroker(
        allow_anonymous=False,
        extra_config=render_deploy_config(ca_dir, tls_port, password_port),
        work_dir=tmp_path / "broker",
    )
    broker.start()
    wait_listening(broker, tls_port, password_port)
    try:
        yield City(broker, ca_dir, poles, tls_port, password_port, city_password)
    finally:
        broker.close()


def test_no_credentials_are_refused(city: City) -> None:
    for port in (city.broker.port, city.password_port):
        anonymous = Probe(city.broker.host, port, "anon", ca_file=None)
        if port == city.password_port:
            anonymous = Probe(city.broker.host, port, "anon", ca_file=city.ca_dir / "ca.crt")
        assert not anonymous.connect()
        anonymous.close()
    wrong = Probe(
        city.broker.host,
        city.password_port,
        "wrong",
        username="pole-a",
        password="not-the-password",
        ca_file=city.ca_dir / "ca.crt",
    )
    assert not wrong.connect()
    wrong.close()
    # The certificate listener wants a client certificate from the fleet CA.
    no_cert = Probe(city.broker.host, city.tls_port, "nocert", ca_file=city.ca_dir / "ca.crt")
    assert not no_cert.connect()
    no_cert.close()


def test_another_poles_password_does_not_pass_as_this_pole(city: City) -> None:
    impostor = city.pole("pole-b", as_user="pole-a")  # pole-b's password, pole-a's name
    assert not impostor.connect()
    impostor.close()


@pytest.mark.parametrize("tls", [False, True], ids=["password", "certificate"])
def test_a_pole_reads_and_writes_only_its_own_topics(city: City, tls: bool) -> None:
    ops = city.operator()
    assert ops.connect(), city.broker.log_text()[-3000:]
    watcher = ops  # the city reads everything
    assert not watcher.subscribe("spole/#")[0].is_failure
    a = city.pole("pole-a", tls=tls)
    b = city.pole("pole-b", tls=tls)
    assert a.connect() and b.connect()
    # pole-b listens for anything it can get of pole-a, and for everything.
    for topic_filter in ("spole/pole-a/#", "spole/pole-a/config/desired", "spole/pole-a/cmd/+"):
        b.subscribe(topic_filter)
    b.subscribe("#")
    assert not b.subscribe("spole/pole-b/cmd/+")[0].is_failure
    assert not a.subscribe("spole/pole-a/config/desired")[0].is_failure
    assert not a.subscribe("spole/pole-a/cmd/+")[0].is_failure

    allowed = [
        "spole/pole-a/status",
        "spole/pole-a/events/warning",
        "spole/pole-a/stats",
        "spole/pole-a/health",
        "spole/pole-a/config/reported",
        "spole/pole-a/cmd/announce/result",
        "spole/pole-a/selftest",
        "homeassistant/sensor/spole-pole-a/speed/config",
    ]
    for topic in allowed:
        rc = a.publish(topic, b"ok")
        assert rc is not None and not rc.is_failure, topic
    denied = [
        "spole/pole-b/status",  # speaking for another pole
        "spole/pole-b/events/warning",
        "spole/pole-a/config/desired",  # its own desired config is the city's to write
        "spole/pole-a/cmd/reload",
        "spole/pole-b/config/reported",
        "homeassistant/sensor/spole-pole-b/speed/config",
        "spole/pole-a/anything-else",
        "elsewhere",
    ]
    for topic in denied:
        rc = a.publish(topic, b"forged")
        assert rc is not None and rc.is_failure, topic

    # The city may send pole-a its desired config and commands; pole-a hears them, pole-b not.
    assert not ops.publish("spole/pole-a/config/desired", b"desired").is_failure  # type: ignore[union-attr]
    assert not ops.publish("spole/pole-a/cmd/reload", b"cmd").is_failure  # type: ignore[union-attr]
    heard_by_a = {t for t, _ in a.received(2.0)}
    assert heard_by_a == {"spole/pole-a/config/desired", "spole/pole-a/cmd/reload"}
    heard_by_b = b.received(0.5)
    assert all(not t.startswith("spole/pole-a/") for t, _ in heard_by_b), heard_by_b
    assert all(not t.startswith("homeassistant/") for t, _ in heard_by_b), heard_by_b
    # The city saw what pole-a was allowed to say, and nothing forged.
    seen = {t for t, p in ops.received(1.0)}
    assert {t for t in allowed if t.startswith("spole/")} <= seen
    assert not {t for t in denied} & {t for t, p in ops.received(0.2)}
    assert "spole/pole-b/status" not in seen
    for probe in (a, b, ops):
        probe.close()


def test_a_revoked_pole_is_refused(city: City) -> None:
    probe = city.pole("pole-a")
    assert probe.connect()
    probe.close()
    cert_probe = city.pole("pole-a", tls=True)
    assert cert_probe.connect()
    cert_probe.close()

    credentials.revoke(city.ca_dir, "pole-a")
    assert city.broker.pid is not None
    os.kill(city.broker.pid, signal.SIGHUP)  # what `systemctl reload mosquitto` does
    deadline = time.monotonic() + 10.0
    refused = False
    while time.monotonic() < deadline and not refused:
        again = city.pole("pole-a")
        refused = not again.connect()
        again.close()
        time.sleep(0.1)
    assert refused, "the revoked password still works after a reload"
    city.broker.stop()  # the CRL is read at start
    city.broker.start()
    wait_listening(city.broker, city.tls_port, city.password_port)
    revoked_cert = city.pole("pole-a", tls=True)
    assert not revoked_cert.connect()
    revoked_cert.close()
    # pole-b is unaffected.
    other = city.pole("pole-b", tls=True)
    assert other.connect()
    other.close()


def test_the_daily_and_the_remote_selftest_of_a_pole_overlap_without_a_takeover(
    city: City,
) -> None:
    """The remote ``selftest`` command publishes through the shipped ACL (which keys on the
    user name, the pole id, never on the client id) while the daily `pole-agent selftest` is
    connected: each has its own client id, so neither takes over the other's session."""
    creds = city.poles["pole-a"]
    config = parse_config(
        {
            "pole_id": "pole-a",
            "state_dir": str(creds.directory / "state"),
            "radars": {"road": {}},
            "mqtt": {
                "host": city.broker.host,
                "port": city.password_port,
                "password_file": str(creds.password_file),
                "tls": {"ca_file": str(creds.ca_file)},
            },
        }
    )
    ops = city.operator()
    assert ops.connect()
    assert not ops.subscribe("spole/pole-a/selftest")[0].is_failure
    password = creds.password_file.read_text().strip()
    daily = Probe(
        city.broker.host,
        city.password_port,
        client_id("pole-a", DAILY_TOOL),
        username="pole-a",
        password=password,
        ca_file=creds.ca_file,
    )
    assert daily.connect()  # the daily self-test, mid-run
    clock = ManualClock(start_wall=datetime.now(UTC))
    result = publish(config, lambda ok: b'{"remote": true}', clock, 10.0, tool=REMOTE_TOOL)
    assert result.outcome == "pass", result
    assert (b'{"remote": true}') in [p for _, p in ops.received(2.0)]
    assert not daily.disconnected.is_set(), "the remote self-test took the daily one's session"
    rc = daily.publish("spole/pole-a/selftest", b'{"daily": true}', retain=True)
    assert rc is not None and not rc.is_failure
    for probe in (daily, ops):
        probe.close()
