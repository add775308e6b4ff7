"""What the node reports on /diagnostics: throughput, stale clouds dropped, bad clouds refused, processing time."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue


@dataclass
class PipelineStats:
    """Counters since start; for the last `window` clouds, the node's processing time (message taken -> results
    published) and the part of it spent in `spot.runtime` (its `timings["total"]`), both in ms."""

    processed: int = 0
    rejected: int = 0
    failed: int = 0
    window: int = 100
    processing_ms: deque = field(default_factory=deque)
    inference_ms: deque = field(default_factory=deque)

    def record(self, processing_ms: float, inference_ms: float) -> None:
        self.processed += 1
        for times, value in ((self.processing_ms, processing_ms), (self.inference_ms, inference_ms)):
            times.append(value)
            while len(times) > self.window:
                times.popleft()


def _median(times: deque) -> float:
    return float(np.median(np.asarray(times, dtype=np.float64))) if times else float("nan")


def pipeline_status(name: str, stats: PipelineStats, received: int, dropped: int) -> DiagnosticStatus:
    """WARN while clouds are being refused or failing, OK otherwise; counters and timings as key-values."""
    values = {
        "received": received,
        "processed": stats.processed,
        "dropped_stale": dropped,
        "rejected_malformed": stats.rejected,
        "failed": stats.failed,
        "processing_ms_median": _median(stats.processing_ms),
        "processing_ms_max": max(stats.processing_ms, default=float("nan")),
        "inference_ms_median": _median(stats.inference_ms),
    }
    healthy = stats.rejected == 0 and stats.failed == 0
    return DiagnosticStatus(
        level=DiagnosticStatus.OK if healthy else DiagnosticStatus.WARN,
        name=name,
        message="running" if healthy else "some clouds were refused or failed; see the node's log",
        hardware_id="",
        values=[
            KeyValue(key=key, value=f"{value:g}" if isinstance(value, float) else str(value))
            for key, value in values.items()
        ],
    )
