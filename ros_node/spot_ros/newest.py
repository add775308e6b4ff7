"""A one-item hand-over from the subscription to the inference thread that keeps only the newest cloud.

When inference is slower than the sensor, processing every cloud would make the output fall further and further
behind; a LiDAR consumer wants the latest sweep. The slot holds at most one waiting item (memory stays bounded),
and an item replaced before the worker took it is counted as dropped.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class NewestSlot(Generic[T]):
    """Thread-safe single slot: `put` replaces, `take` blocks for the newest item, `close` releases the taker and
    refuses items until `reopen`. The counters run over the slot's whole life."""

    def __init__(self, closed: bool = False) -> None:
        self._ready = threading.Condition()
        self._item: T | None = None
        self._closed = closed
        self.received = 0
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._ready:
            if self._closed:
                return
            self.received += 1
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._ready.notify()

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to `timeout` seconds; None when closed or timed out."""
        with self._ready:
            self._ready.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._item = None  # nothing waits in a closed slot: its memory is released now
            self._ready.notify_all()

    def reopen(self) -> None:
        with self._ready:
            self._closed = False
