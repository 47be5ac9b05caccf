"""Wall-clock time for the control plane (an adapter; engines get their clock injected)."""

from __future__ import annotations

import time


class WallClock:
    def timestamp_ms(self) -> int:
        return time.time_ns() // 1_000_000
