"""Hand-computed scenario for SMCStream: swing, BOS, order block lifecycle, input errors."""

from __future__ import annotations

import pytest

from smc_agent.smc.config import SMCConfig
from smc_agent.smc.events import (
    OrderBlock,
    OrderBlockFormed,
    OrderBlockInvalidated,
    OrderBlockMitigated,
    StructureBroken,
    SwingConfirmed,
)
from smc_agent.smc.stream import SMCStream

T0 = 1_700_000_000_000
CANDLES = [  # open, high, low, close
    (10, 11, 9, 10),
    (10, 12, 10, 11),
    (11, 15, 11, 14),  # swing high 15 (bars 0-1 lower, bars 3-4 not higher)
    (14, 14, 12, 12.5),
    (12.5, 13, 11.5, 12),  # lowest low between the swing and the break: the order block
    (12, 14, 12, 13.5),
    (13.5, 16, 13, 15.5),  # close above 15: BOS up
    (15.5, 16.5, 14, 16),
    (16, 16, 12.8, 13),  # trades into the block (top 13): mitigated
    (13, 13.2, 11, 11.2),  # closes below the block (bottom 11.5): invalidated
]


def _run(stream: SMCStream) -> list[list[object]]:
    out = []
    for i, (o, h, lo, c) in enumerate(CANDLES):
        out.append(stream.update(o, h, lo, c, 1.0 + i, T0 + i * 60_000))
    return out


def test_scenario_events_bar_by_bar() -> None:
    stream = SMCStream(SMCConfig(swing_length=2, sessions=()))
    events = _run(stream)
    assert events[4] == [SwingConfirmed(4, T0 + 4 * 60_000, 1, 15.0, 2)]
    block = OrderBlock(0, 1, 13.0, 11.5, 4, 6, volume=5.0 + 6.0 + 7.0, strength=5.0 / 13.0 * 100.0)
    assert events[6] == [
        StructureBroken(6, T0 + 6 * 60_000, "BOS", 1, 15.0, 2),
        OrderBlockFormed(6, T0 + 6 * 60_000, block),
    ]
    assert events[7] == []
    assert events[8] == [OrderBlockMitigated(8, T0 + 8 * 60_000, 0, 1)]
    assert OrderBlockInvalidated(9, T0 + 9 * 60_000, 0, 1) in events[9]
    assert SwingConfirmed(9, T0 + 9 * 60_000, 1, 16.5, 7) in events[9]
    assert stream.trend == 1
    assert stream.tracked_order_blocks == []


def test_state_between_events() -> None:
    stream = SMCStream(SMCConfig(swing_length=2, sessions=()))
    for i, (o, h, lo, c) in enumerate(CANDLES[:8]):
        stream.update(o, h, lo, c, 1.0 + i, T0 + i * 60_000)
    assert [b.id for b in stream.active_order_blocks] == [0]
    assert stream.bars == 8


@pytest.mark.parametrize(
    ("candle", "message"),
    [
        ((10, 9, 11, 10, 1), "high 9.0 < low 11.0"),
        ((10, 11, 9, float("nan"), 1), "close is not a finite number"),
        ((10, 11, 9, 10, -1), "volume is negative"),
        ((12, 11, 9, 10, 1), "outside"),
        ((10, 11, 9, 12, 1), "outside"),
        ((float("nan"), 11, 9, 10, 1), "open is not a finite number"),
        ((10, float("inf"), 9, 10, 1), "high is not a finite number"),
        ((10, 11, 9, 10, float("inf")), "volume is not a finite number"),
        ((10, 11, 9, 10, float("nan")), "volume is not a finite number"),
        ((0, 0, -1, 0, 1), "low is negative"),
    ],
)
def test_bad_candle_names_the_bar(candle: tuple[float, ...], message: str) -> None:
    stream = SMCStream(SMCConfig(sessions=()))
    stream.update(10, 11, 9, 10, 1, T0)
    with pytest.raises(ValueError, match=message) as info:
        stream.update(*[float(x) for x in candle], T0 + 60_000)
    assert "bar 1" in str(info.value)
    assert stream.bars == 1


def test_non_increasing_timestamp_rejected() -> None:
    stream = SMCStream(SMCConfig(sessions=()))
    stream.update(10, 11, 9, 10, 1, T0)
    with pytest.raises(ValueError, match="bar 1: timestamp"):
        stream.update(10, 11, 9, 10, 1, T0)


def test_session_follows_dst_in_stream_and_batch() -> None:
    """London 08:00-16:30 local: 07:00 UTC is outside in winter (GMT) and inside in summer (BST)."""
    from smc_agent.smc import batch
    from smc_agent.smc.candles import Candles
    from smc_agent.smc.config import SessionSpec

    config = SMCConfig(sessions=(SessionSpec("London", "Europe/London", "08:00", "16:30"),))
    winter = 1_711_695_600_000  # 2024-03-29 07:00 UTC
    summer = 1_712_041_200_000  # 2024-04-02 07:00 UTC (BST since 31 March)
    stream = SMCStream(config)
    stream.update(10, 11, 9, 10, 1, winter)
    assert stream.sessions[0].active is False
    stream.update(10, 11, 9, 10, 1, summer)
    assert stream.sessions[0].active is True
    assert (stream.sessions[0].high, stream.sessions[0].low) == (11.0, 9.0)
    candles = Candles.from_arrays(
        open=[10, 10], high=[11, 11], low=[9, 9], close=[10, 10], volume=[1, 1], ts_ms=[winter, summer]
    )
    assert batch.sessions(candles, config)["London"].active.tolist() == [False, True]
