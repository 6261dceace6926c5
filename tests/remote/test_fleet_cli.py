"""`pole-agent fleet` operator tools end to end, with a real Mosquitto running the deploy/
configuration: create the CA, issue a pole and the city operator, send a signed command the pole
receives and can verify, sign a config, rotate and revoke."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pole_agent.cli import main
from pole_agent.fleet import credentials
from pole_agent.remote.envelope import load_public_key, verify
from simulator.broker import MosquittoBroker, find_free_port
from tests.remote.mqtt_probe import Probe
from tests.remote.test_broker_acl import DEPLOY, render_deploy_config, wait_listening

POLE_TOML = """
pole_id = "pole-a"
[radars.road]
[mqtt]
host = "broker.example"
[remote]
enabled = true
"""


def test_credentials_and_signed_messages_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca, out = tmp_path / "ca", tmp_path / "out"
    assert main(["fleet", "ca", "init", "--ca-dir", str(ca), "--broker-name", "127.0.0.1"]) == 0
    assert main(["fleet", "ca", "init", "--ca-dir", str(ca)]) == 1  # never overwrites a CA
    assert main(["fleet", "issue", "pole-a", "--ca-dir", str(ca), "--out", str(out)]) == 0
    assert main(["fleet", "issue", "pole-a", "--ca-dir", str(ca), "--out", str(out)]) == 1
    assert main(["fleet", "issue", "city", "--ca-dir", str(ca), "--out", str(out)]) == 1
    assert main(["fleet", "issue", "Bad_Id", "--ca-dir", str(ca), "--out", str(out)]) == 1
    city_pw = tmp_path / "city-password"
    assert main(["fleet", "operator", "--ca-dir", str(ca), "--out", str(city_pw)]) == 0
    for secret in (ca / "ca.key", ca / "passwd", out / "pole-a" / "pole.key", city_pw):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert credentials.check_password(
        (out / "pole-a" / "mqtt-password").read_text().strip(),
        credentials.read_password_file(ca / "passwd")["pole-a"],
    )

    (ca / "acl").write_bytes((DEPLOY / "acl").read_bytes())
    tls_port, password_port = find_free_port(), find_free_port()
    with MosquittoBroker(
        allow_anonymous=False,
        extra_config=render_deploy_config(ca, tls_port, password_port),
        work_dir=tmp_path / "broker",
    ) as broker:
        wait_listening(broker, tls_port, password_port)
        pole = Probe(
            broker.host,
            tls_port,
            "pole-a",
            ca_file=out / "pole-a" / "ca.crt",
            cert_file=out / "pole-a" / "pole.crt",
            key_file=out / "pole-a" / "pole.key",
        )
        assert pole.connect()
        assert not pole.subscribe("spole/pole-a/cmd/+")[0].is_failure
        key = ca / "fleet-signing.key"
        send = ["fleet", "send", "--port", str(password_port), "--ca-file", str(ca / "ca.crt")]
        send += ["--password-file", str(city_pw)]
        command = ["command", "--pole", "pole-a", "--name", "announce", "--key", str(key)]
        assert main([*send, *command, "--args", '{"clips": ["chime"]}', "--id", "c-1"]) == 0
        [(topic, payload)] = pole.received(5.0)
        assert topic == "spole/pole-a/cmd/announce"
        message = json.loads(payload)
        verify(message, [load_public_key(ca / "fleet-signing.pub")])  # raises if forged
        assert message["id"] == "c-1" and message["args"] == {"clips": ["chime"]}
        # A pole's own password cannot send commands (the ACL allows only the city).
        as_pole = ["--password-file", str(out / "pole-a" / "mqtt-password"), "--username", "pole-a"]
        bad = ["fleet", "send", "--port", str(password_port), "--ca-file", str(ca / "ca.crt")]
        assert main([*bad, *as_pole, *command]) == 1
        pole.close()

        # Rotation: the old password stops working, the new one works.
        old_password = (out / "pole-a" / "mqtt-password").read_text().strip()
        assert main(["fleet", "rotate", "pole-a", "--ca-dir", str(ca), "--out", str(out)]) == 0
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGHUP)

        def connects(password: str) -> bool:
            probe = Probe(
                broker.host,
                password_port,
                f"p-{time.monotonic_ns()}",
                username="pole-a",
                password=password,
                ca_file=ca / "ca.crt",
            )
            ok = probe.connect()
            probe.close()
            return ok

        def eventually(check: Callable[[], bool]) -> bool:
            deadline = time.monotonic() + 10.0  # the reload is asynchronous
            while not check():
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
            return True

        new_password = (out / "pole-a" / "mqtt-password").read_text().strip()
        assert new_password != old_password
        assert eventually(lambda: not connects(old_password)) and connects(new_password)
        assert main(["fleet", "revoke", "pole-a", "--ca-dir", str(ca)]) == 0
        assert main(["fleet", "revoke", "pole-a", "--ca-dir", str(ca)]) == 1
        os.kill(broker.pid, signal.SIGHUP)
        assert eventually(lambda: not connects(new_password))

    # `fleet sign config` validates the config before signing it.
    config_file = tmp_path / "pole-a.toml"
    config_file.write_text(POLE_TOML)
    capsys.readouterr()
    sign = ["fleet", "sign", "config", "--pole", "pole-a", "--key", str(key)]
    assert main([*sign, "--config", str(config_file), "--version", "3"]) == 0
    signed = json.loads(capsys.readouterr().out)
    verify(signed, [load_public_key(ca / "fleet-signing.pub")])
    assert signed["version"] == 3 and signed["config"]["pole_id"] == "pole-a"
    config_file.write_text(POLE_TOML.replace("[radars.road]", "[radars.road]\nbaud = -1"))
    assert main([*sign, "--config", str(config_file), "--version", "4"]) == 1
    assert "radars.road.baud" in capsys.readouterr().err
    config_file.write_text(POLE_TOML)
    other = ["fleet", "sign", "config", "--pole", "pole-b", "--key", str(key)]
    assert main([*other, "--config", str(config_file), "--version", "4"]) == 1
