"""The bounded in-memory outbox: order, dropping, put_back, waiting, threads."""

from __future__ import annotations

import threading

import pytest

from pole_agent.telemetry.offline import OfflinePublisher
from pole_agent.telemetry.outbox import MemoryOutbox, OutMessage


def msg(n: int, topic: str = "t") -> OutMessage:
    return OutMessage(topic, str(n).encode())


def numbers(messages: list[OutMessage]) -> list[int]:
    return [int(m.payload) for m in messages]


def test_needs_room_for_one_message() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MemoryOutbox(0)


def test_order_is_kept() -> None:
    box = MemoryOutbox(100)
    for n in range(10):
        box.put(msg(n))
    assert len(box) == 10
    assert numbers(box.take(4, timeout=0)) == [0, 1, 2, 3]
    assert numbers(box.take(100, timeout=0)) == [4, 5, 6, 7, 8, 9]
    assert len(box) == 0
    assert box.accepted == 10
    assert box.dropped == 0


def test_take_respects_the_limit() -> None:
    box = MemoryOutbox(10)
    for n in range(5):
        box.put(msg(n))
    assert numbers(box.take(1, timeout=0)) == [0]
    assert len(box) == 4


def test_bounded_with_oldest_dropped_and_counted() -> None:
    box = MemoryOutbox(3)
    for n in range(7):
        box.put(msg(n))
    assert len(box) == 3
    assert box.dropped == 4
    assert box.accepted == 7
    assert numbers(box.take(10, timeout=0)) == [4, 5, 6]


def test_put_back_returns_messages_to_the_front_in_order() -> None:
    box = MemoryOutbox(100)
    for n in range(6):
        box.put(msg(n))
    taken = box.take(3, timeout=0)
    box.put(msg(6))
    box.put_back(taken)
    assert numbers(box.take(100, timeout=0)) == [0, 1, 2, 3, 4, 5, 6]
    assert box.dropped == 0


def test_put_back_nothing_is_harmless() -> None:
    box = MemoryOutbox(5)
    box.put(msg(1))
    box.put_back([])
    assert numbers(box.take(5, timeout=0)) == [1]


def test_put_back_beyond_the_bound_drops_the_oldest() -> None:
    box = MemoryOutbox(4)
    for n in range(4):
        box.put(msg(n))
    taken = box.take(2, timeout=0)  # 0, 1 out; 2, 3 left
    box.put(msg(4))
    box.put(msg(5))  # full again: 2, 3, 4, 5
    box.put_back(taken)  # 0, 1 back at the front are the oldest: dropped
    assert box.dropped == 2
    assert numbers(box.take(10, timeout=0)) == [2, 3, 4, 5]


def test_take_on_empty_returns_nothing_after_the_timeout() -> None:
    box = MemoryOutbox(5)
    assert box.take(5, timeout=0.01) == []


def test_take_waits_for_a_message_put_while_waiting() -> None:
    box = MemoryOutbox(5)
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


def test_wake_releases_a_waiting_take_with_nothing() -> None:
    box = MemoryOutbox(5)
    got: list[list[OutMessage]] = []
    thread = threading.Thread(target=lambda: got.append(box.take(5, timeout=30)))
    thread.start()
    # Wake repeatedly until the consumer has returned (it may not be waiting yet at first).
    for _ in range(1000):
        box.wake()
        thread.join(0.01)
        if not thread.is_alive():
            break
    assert not thread.is_alive()
    assert got == [[]]


def test_producer_and_consumer_threads_lose_and_reorder_nothing() -> None:
    total = 10_000
    box = MemoryOutbox(total)
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
                received.extend(batch)
                if len(batch) > 1:
                    # Exercise put_back concurrently: return the tail, take it again next time.
                    back = batch[-1:]
                    del received[-1:]
                    box.put_back(back)
        except BaseException as err:  # pragma: no cover - reported below
            failures.append(err)

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert numbers(received) == list(range(total))
    assert box.dropped == 0
    assert box.accepted == total
    assert len(box) == 0


def test_offline_publisher_queues_into_the_outbox() -> None:
    box = MemoryOutbox(5)
    publisher = OfflinePublisher(box)
    publisher.publish("a/b", b"x", qos=0, retain=True)
    publisher.publish("a/c", b"y")
    assert box.take(5, timeout=0) == [
        OutMessage("a/b", b"x", 0, True),
        OutMessage("a/c", b"y", 1, False),
    ]
    assert publisher.link_state() == "no broker configured"
