"""The health board: change detection, listeners, overall state."""

from __future__ import annotations

from pole_agent.health import ComponentHealth, HealthBoard


def test_reports_changes_once_and_tells_listeners() -> None:
    board = HealthBoard()
    seen: list[tuple[ComponentHealth, ComponentHealth | None]] = []
    board.subscribe(lambda new, old: seen.append((new, old)))
    assert board.report("radar", "ok", "reading", 1.0)
    assert not board.report("radar", "ok", "reading", 2.0)
    assert board.report("radar", "failed", "unplugged", 3.0)
    assert [(n.state, o.state if o else None) for n, o in seen] == [
        ("ok", None),
        ("failed", "ok"),
    ]
    current = board.get("radar")
    assert current is not None
    assert current.since == 3.0
    assert current.reason == "unplugged"


def test_overall_is_the_worst_state() -> None:
    board = HealthBoard()
    assert board.overall() == "ok"
    board.report("radar", "ok", "", 0.0)
    board.report("broker", "degraded", "unreachable", 0.0)
    assert board.overall() == "degraded"
    board.report("gpio", "failed", "pin error", 0.0)
    assert board.overall() == "failed"
    assert set(board.snapshot()) == {"radar", "broker", "gpio"}


def test_a_failing_listener_does_not_stop_the_others() -> None:
    board = HealthBoard()
    calls: list[str] = []

    def broken(new: ComponentHealth, old: ComponentHealth | None) -> None:
        raise RuntimeError("listener bug")

    board.subscribe(broken)
    board.subscribe(lambda new, old: calls.append(new.name))
    board.report("radar", "ok", "", 0.0)
    assert calls == ["radar"]
