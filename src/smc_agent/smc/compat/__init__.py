"""Compatibility mode: the `smartmoneyconcepts` 0.0.27 API (names, parameters, output columns and
dtypes) reproduced value for value by our own compiled code, look-ahead included, for migration and
comparison. Do not trade on it: use `smc_agent.smc.batch` / `smc_agent.smc.stream` (causal).

    from smc_agent.smc.compat import smc
    shl = smc.swing_highs_lows(df, swing_length=5)
    smc.bos_choch(df, shl)

Known peer defects reproduced here are listed in docs/smc.md.
"""

from __future__ import annotations

from .fvg import fvg
from .liquidity import liquidity
from .order_blocks import ob
from .periods import previous_high_low
from .retracements import retracements
from .sessions import sessions
from .structure import bos_choch
from .swings import swing_highs_lows


class smc:
    """Namespace mirroring `smartmoneyconcepts.smc.smc`."""

    __version__ = "0.0.27"
    fvg = staticmethod(fvg)
    swing_highs_lows = staticmethod(swing_highs_lows)
    bos_choch = staticmethod(bos_choch)
    ob = staticmethod(ob)
    liquidity = staticmethod(liquidity)
    previous_high_low = staticmethod(previous_high_low)
    sessions = staticmethod(sessions)
    retracements = staticmethod(retracements)


__all__ = [
    "bos_choch",
    "fvg",
    "liquidity",
    "ob",
    "previous_high_low",
    "retracements",
    "sessions",
    "smc",
    "swing_highs_lows",
]
