"""What the node reports on /diagnostics: throughput, stale clouds dropped, bad clouds refused, processing time."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

RECENT_S = 5.0  # a refusal older than this no longer makes the status WARN


@dataclass
class PipelineStats:
    """Counters since start; the times of refusals within the last `RECENT_S` (a WARN lasts as long as clouds
    are being refused, not forever after one bad cloud); for the last `window` clouds, the node's processing
    time (message taken -> results published) and the part of it spent in `spot.runtime` (its
    `timings["total"]`), both in ms."""

    processed: int = 0
    rejected: int = 0
    failed: int = 0
    window: int = 100
    clock: Callable[[], float] = time.monotonic
    processing_ms: deque = field(default_factory=deque)
    inference_ms: deque = field(default_factory=deque)
    refusals: deque = field(default_factory=deque)

    def record(self, processing_ms: float, inference_ms: float) -> None:
        self.processed += 1
        for times, value in ((self.processing_ms, processing_ms), (self.inference_ms, inference_ms)):
            times.append(value)
            while len(times) > self.window:
                times.popleft()

    def refused(self, malformed: bool) -> int:
        """Count a cloud refused as malformed (or failed in inference / publishing); returns that counter."""
        if malformed:
            self.rejected += 1
        else:
            self.failed += 1
        self.refusals.append(self.clock())
        self.recent_refusals()  # drops the old ones: memory stays bounded however long the node runs
        return self.rejected if malformed else self.failed

    def recent_refusals(self) -> int:
        """Clouds refused or failed within the last `RECENT_S` seconds."""
        oldest = self.clock() - RECENT_S
        while self.refusals and self.refusals[0] < oldest:
            self.refusals.popleft()
        return len(self.refusals)


def _median(times: deque) -> float:
    return float(np.median(np.asarray(times, dtype=np.float64))) if times else float("nan")


def pipeline_status(name: str, state: str, stats: PipelineStats, received: int, dropped: int) -> DiagnosticStatus:
    """WARN while clouds are being refused or failing (within the last `RECENT_S`), OK otherwise; the lifecycle
    `state`, counters and timings as key-values."""
    recent = stats.recent_refusals()
    values = {
        "state": state,
        "received": received,
        "processed": stats.processed,
        "dropped_stale": dropped,
        "rejected_malformed": stats.rejected,
        "failed": stats.failed,
        f"refused_last_{RECENT_S:g}s": recent,
        "processing_ms_median": _median(stats.processing_ms),
        "processing_ms_max": max(stats.processing_ms, default=float("nan")),
        "inference_ms_median": _median(stats.inference_ms),
    }
    return DiagnosticStatus(
        level=DiagnosticStatus.WARN if recent else DiagnosticStatus.OK,
        name=name,
        message=f"{state}; {recent} clouds refused or failed in the last {RECENT_S:g} s, see the node's log"
        if recent
        else state,
        hardware_id="",
        values=[
            KeyValue(key=key, value=f"{value:g}" if isinstance(value, float) else str(value))
            for key, value in values.items()
        ],
    )
