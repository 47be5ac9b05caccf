"""Several bots on one instrument of one account: each sees, protects and closes its own position.
The engine kept one position per instrument: a bot's ``close()`` sold the other bots' coins too, each
bot saw the others' quantity as its own, and its exits were sized on all of it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from smc_agent.backtest.fill_model import FillModel
from smc_agent.core.enums import OrderSide, TradingState
from smc_agent.core.events import OrderDenied, OrderFilled, OrderRejected, PositionChanged
from smc_agent.core.ids import StrategyId
from smc_agent.core.position import Booking
from tests.engine.harness import INST, Rig, Scripted

D = Decimal
NO_FEES = FillModel(maker_fee=D(0), taker_fee=D(0))


def test_a_bots_close_sells_only_its_own_position() -> None:
    a = Scripted({0: lambda s, c: s.buy(qty=1), 3: lambda s, c: s.close()})
    b = Scripted({1: lambda s, c: s.buy(qty=2)})
    rig = Rig(a, fill_model=NO_FEES, more={"b": b})
    changes: list[PositionChanged] = []
    rig.engine.bus.subscribe(PositionChanged, changes.append)
    for _ in range(3):
        rig.bar(100, 101, 99, 100)
    assert (a.position_size, b.position_size) == (1.0, 2.0)
    assert rig.engine.portfolio.position(INST.id).qty == 3  # the account's, for equity and risk
    for _ in range(2):
        rig.bar(100, 101, 99, 100)
    fills = [(f.strategy_id, f.side.value, f.qty) for f in rig.of(OrderFilled)]
    assert fills == [("bot", "buy", 1), ("b", "buy", 2), ("bot", "sell", 1)]
    assert (a.flat, b.position.qty, rig.engine.portfolio.position(INST.id).qty) == (True, 2, 2)
    assert [(c.strategy_id, c.qty) for c in changes] == [("bot", 1), ("b", 2), ("bot", 0)]


def test_a_bots_exits_cover_its_position_not_the_other_bots() -> None:
    """Bot b holds 2 with its stop and target, bot a buys 1 with its own: each bot's exits cover its
    own position, and a's stop ends a's position alone (a saw itself still long, at b's 2)."""
    a = Scripted({1: lambda s, c: s.buy(qty=1, stop_loss=90, take_profit=120)})
    b = Scripted({0: lambda s, c: s.buy(qty=2, stop_loss=80, take_profit=130)})
    rig = Rig(a, fill_model=NO_FEES, more={"b": b})
    for _ in range(3):
        rig.bar(100, 101, 99, 100)
    exits = {o.client_order_id[-2:] + "/" + o.strategy_id: o.qty for o in rig.engine.orders.open_orders()}
    assert exits == {"sl/b": 2, "tp/b": 2, "sl/bot": 1, "tp/bot": 1}
    rig.bar(100, 101, 89, 95)  # a's stop at 90; b's at 80 not reached
    assert (a.flat, b.position_size) == (True, 2.0)
    assert {o.strategy_id for o in rig.engine.orders.open_orders()} == {"b"}  # a's target canceled


def test_an_entrys_exits_count_another_entrys_partly_filled_exits_at_what_it_still_holds() -> None:
    """Entry A's target filled 0.5 of 0.998 (a volume cap), its stop still asks 0.998; entry B's exits
    were sized on the position less A's stop (0.498): when A's target filled the rest and took A's stop
    with it, 0.5 of B's coins had no stop."""
    model = FillModel(maker_fee=D("0.001"), taker_fee=D("0.002"), max_participation=0.01, take_profit="limit")
    strategy = Scripted(
        {
            0: lambda s, c: s.buy(qty=1.0, stop_loss=90, take_profit=110),
            2: lambda s, c: s.buy(qty=1.0, stop_loss=90, take_profit=120),
        }
    )
    rig = Rig(strategy, fill_model=model, spot=True)
    rig.bar(100, 100, 100, 100, v=1000)
    rig.bar(100, 101, 99, 100, v=1000)  # A fills 1 at the open; holds 0.998 (its fee in the coin)
    rig.bar(100, 111, 99, 105, v=50)  # A's target fills 0.5 (1% of the volume); B is sent
    rig.bar(105, 106, 104, 105, v=1000)  # B fills at the open
    rig.bar(105, 111, 104, 105, v=1000)  # A's target fills its rest; A's stop is canceled with it
    position = rig.engine.portfolio.position(INST.id).qty
    stops = [o for o in rig.engine.orders.open_orders() if o.client_order_id.endswith("-sl")]
    assert position == D("0.998") and [o.qty for o in stops] == [D("0.998")]


@pytest.mark.parametrize("state", [TradingState.ACTIVE, TradingState.REDUCING])
def test_a_bot_cannot_go_short_against_another_bots_long(state: TradingState) -> None:
    """The venue nets the bots' positions: bot b short 1 beside bot a's long 1 left the account flat,
    b's reduce-only stop, target and close all refused (they reduce nothing) and b short for good;
    while REDUCING, b's opening sell passed for an exit of the account's long."""
    a = Scripted({0: lambda s, c: s.buy(qty=1, stop_loss=90, take_profit=120)})
    b = Scripted({2: lambda s, c: s.sell(qty=1, stop_loss=110, take_profit=80)})
    rig = Rig(a, fill_model=NO_FEES, more={"b": b})
    rig.bar(100, 101, 99, 100)
    rig.bar(100, 101, 99, 100)
    rig.engine.state = state
    for _ in range(3):
        rig.bar(100, 101, 99, 100)
    (denied,) = rig.of(OrderDenied)
    assert (denied.strategy_id, denied.check) == ("b", "opposite_bots")
    assert (a.position_size, b.position_size) == (1.0, 0.0) and rig.of(OrderRejected) == []
    assert sorted(o.client_order_id[-2:] for o in rig.engine.orders.open_orders()) == ["sl", "tp"]  # a's


def test_a_stopped_bots_restored_position_counts_as_another_bots() -> None:
    """After a restart only the running bot is in the engine; a stopped bot's long is restored under
    its id. The check took the one running bot for the account's only one: its sell went through,
    sold the stopped bot's coins and left it short on a spot account."""
    rig = Rig(Scripted({1: lambda s, c: s.sell(qty=1)}), fill_model=NO_FEES, spot=True)
    rig.venue.positions[INST.id] = D(1)  # the stopped bot's coins, in the account
    rig.engine.portfolio.apply_fill(Booking(INST.id, OrderSide.BUY, D(1), D(100)), StrategyId("stopped"))
    for _ in range(3):
        rig.bar(100, 101, 99, 100)
    assert [d.check for d in rig.of(OrderDenied)] == ["opposite_bots"] and rig.of(OrderFilled) == []
    assert rig.venue.positions[INST.id] == 1
