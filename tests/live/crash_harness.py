"""Crash trials: ``kill -9`` of the execution-engine process at random points of the order flow.

The exchange simulator runs in this process (it survives the kills); each execution engine is a
separate process forked from a pre-loaded fork server (so a restart costs milliseconds, not the
seconds of importing ccxt). Per trial: a batch of order commands is put on the orders stream, the
engine is killed after a random delay (before, during or after sends, acks and database writes),
a new engine is started under the same consumer name, and once it has drained the stream the
invariants are checked against the venue:

- no client order id was ever sent to the venue twice (every ``place`` call is counted);
- every command is in the database, every venue order is in the database with the venue's id,
  status and filled quantity (no lost orders), and the database's trades add up to the venue's
  filled quantities (no lost fills);
- the database position equals the venue's (signed sum of our fills).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

import redis

from smc_agent.core.enums import OrderSide
from smc_agent.core.position import booked_terms
from smc_agent.live.codec import encode
from smc_agent.live.execution_service import GROUP
from smc_agent.live.streams import ORDERS_STREAM
from smc_agent.live.wiring import ExecutionConfig, execution_engine_main
from smc_agent.store.db import make_engine, make_session_factory
from smc_agent.store.trading_repo import TradingRepo
from smc_agent.venues.simulator import ExchangeSimulator
from tests.live.conftest import order

_STATUS = {
    "NEW": "accepted",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled",
    "CANCELED": "canceled",
    "EXPIRED": "expired",
}


@dataclass
class CrashReport:
    trials: int = 0
    commands: int = 0
    venue_orders: int = 0
    duplicates: int = 0
    lost_orders: int = 0
    lost_fills: int = 0
    position_mismatches: int = 0
    killed_mid_flight: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.lost_orders or self.lost_fills or self.position_mismatches)


def fork_context() -> ForkServerContext:
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["smc_agent.live.wiring"])
    return ctx


class CrashRig:
    def __init__(self, sim: ExchangeSimulator, config: ExecutionConfig, ctx: ForkServerContext) -> None:
        self.sim = sim
        self.config = config
        self.ctx = ctx
        assert config.redis_url is not None
        self.redis = redis.Redis.from_url(config.redis_url, decode_responses=True)
        self.repo = TradingRepo(make_session_factory(make_engine(config.database_url)))
        self.placements: Counter[str] = Counter()
        self.proc: BaseProcess | None = None
        self._seq = 0
        original = sim.state.book.place

        def place(**kwargs: Any) -> Any:  # observation of the fake venue: every create that reaches it
            self.placements[kwargs["client_id"]] += 1
            return original(**kwargs)

        sim.state.book.place = place  # type: ignore[method-assign]

    def start(self) -> None:
        self.proc = self.ctx.Process(target=execution_engine_main, args=(self.config,), daemon=True)
        self.proc.start()

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()  # SIGKILL: no clean-up of any kind
            self.proc.join(5)
        self.proc = None

    def commands(self, n: int, rng: random.Random) -> list[str]:
        ids = []
        for _ in range(n):
            self._seq += 1
            kind = rng.choice(["market", "market", "limit"])
            side = rng.choice([OrderSide.BUY, OrderSide.SELL])
            price = "30000" if side is OrderSide.BUY else "60000"  # limits rest (never cross)
            cmd = order(
                self._seq,
                side=side,
                kind=kind,
                qty=f"0.00{rng.randint(1, 9)}",
                price=price,
                prefix="smc-crash",
            )
            self.redis.xadd(ORDERS_STREAM, encode(cmd))
            ids.append(cmd.client_order_id)
        return ids

    def drained(self) -> bool:
        try:
            groups = self.redis.xinfo_groups(ORDERS_STREAM)
        except redis.ResponseError:
            return False
        group = next((g for g in groups if g["name"] == GROUP), None)
        if group is None or group["pending"]:
            return False
        last = self.redis.xinfo_stream(ORDERS_STREAM)["last-generated-id"]
        if group["last-delivered-id"] != last:
            return False
        return not any(o.status == "initialized" for o in self.repo.open_orders())

    async def settle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.drained():
            if time.monotonic() > deadline:
                raise AssertionError("the restarted execution engine did not drain the orders stream")
            await asyncio.sleep(0.05)

    def check(self, report: CrashReport, sent: list[str]) -> None:
        stored = {o.client_order_id: o for o in self.repo.all_orders()}
        report.duplicates = sum(c - 1 for c in self.placements.values() if c > 1)
        missing = [cid for cid in sent if cid not in stored]
        venue = {
            o.client_id: o for o in self.sim.state.book.orders.values() if o.client_id.startswith("smc-crash")
        }
        report.venue_orders = len(venue)
        lost = [cid for cid in venue if cid not in stored] + missing
        fills: dict[str, Decimal] = {}
        fees: dict[str, Decimal] = {}
        for t in self.repo.trades():
            cid = t["venue_trade_id"].rsplit("-", 1)[0]
            fills[cid] = fills.get(cid, Decimal(0)) + t["quantity"]
            fees[cid] = fees.get(cid, Decimal(0)) + t["fee"]
        venue_pos = Decimal(0)  # the venue's trades, booked in time order (a buy's fee is in BTC)
        for trade in sorted((t for vo in venue.values() for t in vo.trades), key=lambda t: t.trade_id):
            side = OrderSide.BUY if trade.side == "BUY" else OrderSide.SELL
            qty, _ = booked_terms(
                "BTC/USDT",
                side,
                trade.qty,
                trade.price,
                fee=trade.fee,
                fee_currency=trade.fee_asset,
                quote="USDT",
                position=venue_pos,
            ) or (trade.qty, Decimal(0))
            venue_pos += qty if side is OrderSide.BUY else -qty
        for cid, vo in venue.items():
            charged = sum((trade.fee for trade in vo.trades), Decimal(0))
            if vo.filled and fees.get(str(vo.order_id), Decimal(0)) != charged:
                report.problems.append(f"fees of {cid}: db {fees.get(str(vo.order_id))} venue {charged}")
                report.lost_fills += 1
            row = stored.get(cid)
            if row is None:
                continue
            if row.venue_order_id != str(vo.order_id) or row.filled_quantity != vo.filled:
                lost.append(
                    f"{cid}: db {row.venue_order_id}/{row.filled_quantity}/{row.status} "
                    f"venue {vo.order_id}/{vo.filled}/{vo.status}"
                )
            elif row.status != _STATUS.get(vo.status, "?"):
                lost.append(f"{cid}: status db {row.status} venue {vo.status}")
            if fills.get(str(vo.order_id), Decimal(0)) != vo.filled:
                report.lost_fills += 1
                report.problems.append(f"fills of {cid}: db {fills.get(str(vo.order_id))} venue {vo.filled}")
        for cid, row in stored.items():
            if cid not in venue and row.status != "rejected":
                lost.append(f"{cid}: {row.status} in db but never reached the venue")
        report.lost_orders = len(lost)
        report.problems.extend(str(x) for x in lost)
        db_pos = self.repo.net_position("binance", "BTC/USDT")
        if db_pos != venue_pos:
            report.position_mismatches += 1
            report.problems.append(f"position db {db_pos} venue {venue_pos}")

    def close(self) -> None:
        self.kill()
        self.redis.close()


async def run_crash_trials(
    rig: CrashRig, trials: int, *, seed: int = 1, batch: int = 5, max_delay_s: float = 0.5
) -> CrashReport:
    rng = random.Random(seed)
    report = CrashReport()
    sent: list[str] = []
    rig.start()
    for _ in range(trials):
        sent += rig.commands(batch, rng)
        report.commands += batch
        await asyncio.sleep(rng.uniform(0.0, max_delay_s))
        if not rig.drained():  # the kill lands while the engine is working on the batch
            report.killed_mid_flight += 1
        rig.kill()
        rig.start()
        await rig.settle()
        report.trials += 1
        rig.check(report, sent)
        if not report.clean:
            break
    return report
