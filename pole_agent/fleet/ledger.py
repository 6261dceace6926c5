"""Which seqs arrived, per pole, stream and boot: de-duplication and gaps. Pure.

A pole numbers each stream per boot from 1 without holes, and says in its health report which
seqs its spool dropped. So a seq that has not arrived is either *dropped* (a health report
named it: it is lost for good) or *missing* (not yet: it may still come from the pole's spool,
marked historical). The status stream is state, not a record to count: a birth made for a
connection that broke before its acknowledgement is not sent again, so status is not checked.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

UNCOUNTED_STREAMS = frozenset({"status"})


class RangeSet:
    """A set of positive integers kept as sorted, disjoint, non-adjacent [lo, hi] ranges."""

    def __init__(self) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []

    def __contains__(self, value: int) -> bool:
        index = bisect.bisect_right(self._lo, value) - 1
        return index >= 0 and self._hi[index] >= value

    def add(self, lo: int, hi: int | None = None) -> int:
        """Add [lo, hi]; returns how many values were new."""
        hi = lo if hi is None else hi
        if hi < lo:
            return 0
        before = len(self)
        start = bisect.bisect_left(self._hi, lo - 1)
        end = bisect.bisect_right(self._lo, hi + 1)
        if start < end:
            lo = min(lo, self._lo[start])
            hi = max(hi, self._hi[end - 1])
        self._lo[start:end] = [lo]
        self._hi[start:end] = [hi]
        return len(self) - before

    def __len__(self) -> int:
        return sum(h - l + 1 for l, h in zip(self._lo, self._hi, strict=True))  # noqa: E741

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._lo, self._hi, strict=True))

    def holes(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The ranges of [lo, hi] not in the set."""
        out: list[tuple[int, int]] = []
        at = lo
        for rlo, rhi in self.ranges():
            if rhi < at:
                continue
            if rlo > hi:
                break
            if rlo > at:
                out.append((at, rlo - 1))
            at = max(at, rhi + 1)
        if at <= hi:
            out.append((at, hi))
        return out


@dataclass
class StreamLedger:
    received: RangeSet = field(default_factory=RangeSet)
    dropped: RangeSet = field(default_factory=RangeSet)
    max_seq: int = 0
    duplicates: int = 0
    late: int = 0
    """New seqs that arrived after a higher one (a gap being filled): 0 when order is kept."""
    historical: int = 0


@dataclass(frozen=True, slots=True)
class Gap:
    pole_id: str
    stream: str
    boot_id: str
    first_seq: int
    last_seq: int
    kind: Literal["dropped", "missing"]

    @property
    def count(self) -> int:
        return self.last_seq - self.first_seq + 1


Key = tuple[str, str, str]


class Ledger:
    def __init__(self) -> None:
        self.streams: dict[Key, StreamLedger] = {}

    def _get(self, key: Key) -> StreamLedger:
        ledger = self.streams.get(key)
        if ledger is None:
            ledger = self.streams[key] = StreamLedger()
        return ledger

    def record(
        self, pole_id: str, stream: str, boot_id: str, seq: int, historical: bool = False
    ) -> Literal["new", "duplicate", "uncounted"]:
        if stream in UNCOUNTED_STREAMS:
            return "uncounted"
        ledger = self._get((pole_id, stream, boot_id))
        if not ledger.received.add(seq):
            ledger.duplicates += 1
            return "duplicate"
        if seq < ledger.max_seq:
            ledger.late += 1
        ledger.max_seq = max(ledger.max_seq, seq)
        ledger.historical += historical
        return "new"

    def note_dropped(self, pole_id: str, stream: str, boot_id: str, first: int, last: int) -> None:
        """A pole's health report says its spool dropped these seqs."""
        if stream in UNCOUNTED_STREAMS or last < first or first < 1:
            return
        ledger = self._get((pole_id, stream, boot_id))
        ledger.dropped.add(first, last)
        ledger.max_seq = max(ledger.max_seq, last)

    def gaps(self) -> list[Gap]:
        """Every seq not received, up to the highest known of each stream and boot."""
        out: list[Gap] = []
        for (pole_id, stream, boot_id), ledger in sorted(self.streams.items()):
            for lo, hi in ledger.received.holes(1, ledger.max_seq):
                for dlo, dhi in _split(lo, hi, ledger.dropped):
                    out.append(Gap(pole_id, stream, boot_id, dlo, dhi, "dropped"))
                for mlo, mhi in _missing(lo, hi, ledger.dropped):
                    out.append(Gap(pole_id, stream, boot_id, mlo, mhi, "missing"))
        return sorted(out, key=lambda g: (g.pole_id, g.stream, g.boot_id, g.first_seq))


def _split(lo: int, hi: int, dropped: RangeSet) -> list[tuple[int, int]]:
    """The parts of [lo, hi] inside ``dropped``."""
    return [
        (max(lo, dlo), min(hi, dhi)) for dlo, dhi in dropped.ranges() if dlo <= hi and dhi >= lo
    ]


def _missing(lo: int, hi: int, dropped: RangeSet) -> list[tuple[int, int]]:
    return dropped.holes(lo, hi)
