"""The outbox port as the spool implements it: order, take limits, release, waiting, threads.

(The in-memory outbox this file first tested was replaced by the on-disk spool, issue 7; the
spool's own caps, drops, restarts and disk failures are in tests/telemetry/test_spool.py.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pole_agent.clock import ManualClock
from pole_agent.telemetry.offline import OfflinePublisher
from pole_agent.telemetry.outbox import OutMessage
from pole_agent.telemetry.spool import Spool


def msg(n: int, topic: str = "t") -> OutMessage:
    return OutMessage(topic, str(n).encode())


def numbers(messages: list[OutMessage]) -> list[int]:
    return [int(m.payload) for m in messages]


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(
        tmp_path / "spool.sqlite3",
        boot_id="boot",
        clock=ManualClock(),
        max_bytes=1 << 20,
        max_age_s=3600,
        batch_s=0.01,
    )
    spool.start()
    yield spool
    spool.close()


def take_all(box: Spool, count: int, limit: int = 100) -> list[OutMessage]:
    out: list[OutMessage] = []
    while len(out) < count:
        batch = box.take(limit, timeout=5)
        assert batch, f"only {len(out)} of {count} came out"
        out += batch
    return out


def test_order_is_kept(box: Spool) -> None:
    for n in range(10):
        box.put(msg(n))
    assert len(box) == 10
    first = take_all(box, 4, limit=4)
    assert numbers(first) == [0, 1, 2, 3]
    assert numbers(take_all(box, 6)) == [4, 5, 6, 7, 8, 9]
    assert box.accepted == 10
    assert box.dropped == 0


def test_take_respects_the_limit(box: Spool) -> None:
    for n in range(5):
        box.put(msg(n))
    assert numbers(take_all(box, 1, limit=1)) == [0]


def test_messages_stay_until_acknowledged(box: Spool) -> None:
    for n in range(3):
        box.put(msg(n))
    taken = take_all(box, 3)
    assert len(box) == 3
    for message in taken:
        box.ack(message)
    assert len(box) == 0


def test_release_returns_messages_to_the_front_in_order(box: Spool) -> None:
    for n in range(6):
        box.put(msg(n))
    taken = take_all(box, 3, limit=3)
    box.put(msg(6))
    box.release(taken)
    assert numbers(take_all(box, 7)) == [0, 1, 2, 3, 4, 5, 6]
    assert box.dropped == 0


def test_release_nothing_is_harmless(box: Spool) -> None:
    box.put(msg(1))
    box.release([])
    assert numbers(take_all(box, 1)) == [1]


def test_take_on_empty_returns_nothing_after_the_timeout(box: Spool) -> None:
    assert box.take(5, timeout=0.01) == []


def test_take_waits_for_a_message_put_while_waiting(box: Spool) -> None:
    got: list[OutMessage] = []
    started = threading.Event()

    def consumer() -> None:
        started.set()
        got.extend(box.take(5, timeout=30))

    thread = threading.Thread(target=consumer)
    thread.start()
    started.wait(5)
    box.put(msg(42))
    thread.join(10)
    assert not thread.is_alive()
    assert numbers(got) == [42]


def test_producer_and_consumer_threads_lose_and_reorder_nothing(box: Spool) -> None:
    total = 5_000
    received: list[OutMessage] = []
    failures: list[BaseException] = []

    def producer() -> None:
        try:
            for n in range(total):
                box.put(msg(n))
        except BaseException as err:  # pragma: no cover - reported below
            failures.append(err)

    def consumer() -> None:
        try:
            while len(received) < total:
                batch = box.take(64, timeout=0.05)
                if len(batch) > 1:
                    # Exercise release concurrently: return the tail, take it again next time.
                    box.release(batch[-1:])
                    batch = batch[:-1]
                for message in batch:
                    box.ack(message)
                received.extend(batch)
        except BaseException as err:  # pragma: no cover - reported below
            failures.append(err)

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert numbers(received) == list(range(total))
    assert box.dropped == 0
    assert box.accepted == total


def test_offline_publisher_queues_into_the_spool(box: Spool) -> None:
    publisher = OfflinePublisher(box)
    publisher.publish("a/b", b"x", qos=0, retain=True)
    publisher.publish("spole/p-1/events/warning", b"y")
    taken = take_all(box, 2)
    assert [(m.topic, m.payload, m.qos, m.retain, m.safety) for m in taken] == [
        ("a/b", b"x", 0, True, False),
        ("spole/p-1/events/warning", b"y", 1, False, True),
    ]
    assert publisher.link_state() == "no broker configured"
