"""The streaming offset clock agrees with the vectorised one, across DST changes and odd zones."""

from __future__ import annotations

import numpy as np

from smc_agent.smc.config import SessionSpec
from smc_agent.smc.session_time import OffsetClock, local_offsets

SESSIONS = (
    SessionSpec("ny", "America/New_York", "09:30", "16:00"),
    SessionSpec("london", "Europe/London", "08:00", "16:30"),
    SessionSpec("adelaide", "Australia/Adelaide", "10:00", "16:00"),  # half-hour offset, southern DST
    SessionSpec("kathmandu", "Asia/Kathmandu", "10:00", "15:00"),  # +05:45
    SessionSpec("lord howe", "Australia/Lord_Howe", "10:00", "15:00"),  # 30-minute DST shift
)


def test_offset_clock_matches_vectorised_offsets_through_a_year() -> None:
    start = 1_704_067_200_000  # 2024-01-01
    ts = start + np.arange(0, 366 * 96, dtype=np.int64) * 900_000 + 7 * 60_000  # every quarter hour + 7 min
    expected = local_offsets(ts, SESSIONS)
    clock = OffsetClock(SESSIONS)
    got = np.array([clock.offsets(int(t)).copy() for t in ts])
    np.testing.assert_array_equal(got, expected)
    assert set(expected[:, 0].tolist()) == {-300, -240}  # EST / EDT
    assert set(expected[:, 3].tolist()) == {345}
    assert set(expected[:, 4].tolist()) == {630, 660}
