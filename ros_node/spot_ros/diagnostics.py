"""What the node reports on /diagnostics: throughput, stale clouds dropped, bad clouds refused, processing time."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue


@dataclass
class PipelineStats:
    """Counters since start; processing times (ms) of the last `window` clouds."""

    processed: int = 0
    rejected: int = 0
    failed: int = 0
    window: int = 100
    processing_ms: deque = field(default_factory=deque)

    def record(self, milliseconds: float) -> None:
        self.processed += 1
        self.processing_ms.append(milliseconds)
        while len(self.processing_ms) > self.window:
            self.processing_ms.popleft()


def pipeline_status(name: str, stats: PipelineStats, received: int, dropped: int) -> DiagnosticStatus:
    """WARN while clouds are being refused or failing, OK otherwise; counters and timings as key-values."""
    times = np.asarray(stats.processing_ms, dtype=np.float64)
    values = {
        "received": received,
        "processed": stats.processed,
        "dropped_stale": dropped,
        "rejected_malformed": stats.rejected,
        "failed": stats.failed,
        "processing_ms_median": float(np.median(times)) if times.size else float("nan"),
        "processing_ms_max": float(times.max()) if times.size else float("nan"),
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
