"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from simulator.broker import BrokerUnavailable, MosquittoBroker

# The machines are shared and noisy: a property test must fail on a wrong answer, never on a
# slow example. No per-example deadline; a fixed number of examples keeps the suite's time.
settings.register_profile(
    "project", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.load_profile("project")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long-faults",
        action="store_true",
        default=False,
        help="run the fault-injection suite (tests/faults) with its long repetition counts "
        "(e.g. 100 radar unplugs through the whole agent) instead of the default short ones",
    )


@pytest.fixture
def broker() -> Iterator[MosquittoBroker]:
    """A real Mosquitto on a free loopback port. A missing binary fails the test: the suite's
    promise is a real broker, so it is never silently skipped."""
    try:
        instance = MosquittoBroker()
        instance.start()
    except BrokerUnavailable as err:
        pytest.fail(f"{err} (scripts/test installs it: apt-get install mosquitto)")
    try:
        yield instance
    finally:
        instance.close()
