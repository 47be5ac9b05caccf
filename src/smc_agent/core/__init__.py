"""Pure domain core: ids, money, instruments, candles, orders, positions, messages, clock, ports.

Conventions (stable API, other layers code against these names):

* Time is an ``int`` of **milliseconds since the Unix epoch, UTC** everywhere (candle open time,
  ``ts_event``, ``ts_init``). It always comes from an injected :class:`~smc_agent.core.clock.Clock`.
* Money (prices, quantities, fees, PnL, balances) is :class:`decimal.Decimal` at every boundary
  between layers (strategy -> risk -> execution -> venue -> store).
* Candles carry OHLCV as ``float``: they are market data feeding float indicators; a price becomes a
  ``Decimal`` when it enters an order (see :mod:`smc_agent.core.money`).
"""
