"""The pre-trade gate: runs every check, turns the first denial into an ``OrderDenied`` event."""

from __future__ import annotations

from collections.abc import Sequence

from smc_agent.core.commands import SubmitOrder
from smc_agent.core.events import OrderDenied
from smc_agent.risk.checks import CAN_DENY, CHECKS, Check, Denial
from smc_agent.risk.config import RiskConfig
from smc_agent.risk.context import RiskView


def _always(config: RiskConfig) -> bool:
    return True


class RiskGate:
    def __init__(self, config: RiskConfig, checks: Sequence[Check] = CHECKS) -> None:
        self.checks = tuple(checks)
        self.config = config

    @property
    def config(self) -> RiskConfig:
        return self._config

    @config.setter
    def config(self, config: RiskConfig) -> None:
        self._config = config
        self._active = tuple(c for c in self.checks if CAN_DENY.get(c, _always)(config))

    def evaluate(self, cmd: SubmitOrder, ctx: RiskView) -> Denial | None:
        for check in self._active:
            denial = check(cmd, ctx, self._config)
            if denial is not None:
                return denial
        return None

    @staticmethod
    def denied_event(cmd: SubmitOrder, denial: Denial, ts: int) -> OrderDenied:
        return OrderDenied(
            ts_event=ts,
            ts_init=ts,
            strategy_id=cmd.strategy_id,
            instrument_id=cmd.instrument_id,
            client_order_id=cmd.client_order_id,
            reason=f"{denial.check}: {denial.reason}",
            check=denial.check,
            figures=dict(denial.figures),
        )
