"""Memory layout of the compiled kernel: indices into the flat state, config, table and event arrays.

The kernel (numba) keeps all state in a handful of numpy arrays so one `step` function serves both
the streaming API (one call per candle) and the batch functions (a compiled loop over all candles).
"""

from __future__ import annotations

# ---- event kinds (column EV_KIND of the event buffer) ----
K_SWING = 1  # dir +1 high / -1 low; A=price, FORMED=pivot bar
K_BOS = 2  # dir; A=level, FORMED=swing bar broken
K_CHOCH = 3  # dir; A=level, FORMED=swing bar broken
K_OB_NEW = 4  # id, dir; A=top, B=bottom, FORMED=ob candle, X1=volume, X2=strength %
K_OB_MITIGATED = 5  # id, dir
K_OB_INVALIDATED = 6  # id, dir
K_FVG_NEW = 7  # id, dir; A=top, B=bottom, FORMED=middle candle
K_FVG_MITIGATED = 8  # id, dir
K_FVG_MERGED = 9  # id (absorbed gap), dir; X1=id of the gap that absorbed it
K_LIQ_NEW = 10  # id, dir (+1 equal highs / -1 equal lows); A=level, B=other member, FORMED=2nd swing, X1=1st swing bar, X2=top, X3=bottom
K_LIQ_SWEPT = 11  # id, dir; A=level, X1=1 if the candle closed back inside (sweep) else 0 (run)
K_PERIOD_BROKEN = 12  # dir +1 high / -1 low; A=level, X1=period code (0 day, 1 week, 2 month)

# ---- event record columns ----
EV_KIND = 0
EV_BAR = 1
EV_ID = 2
EV_DIR = 3
EV_A = 4
EV_B = 5
EV_FORMED = 6
EV_X1 = 7
EV_X2 = 8
EV_X3 = 9
EV_FIELDS = 10

# ---- config vector ----
C_SWING_LEN = 0
C_STRUCT_WICK = 1
C_OB_INVALID_WICK = 2
C_FVG_MIN_ATR = 3
C_FVG_MODE = 4
C_FVG_JOIN = 5
C_ATR_LEN = 6
C_LIQ_TOL_ATR = 7
C_EN_SWING = 8
C_EN_STRUCT = 9
C_EN_OB = 10
C_EN_FVG = 11
C_EN_LIQ = 12
C_EN_PERIODS = 13
C_EN_SESSIONS = 14
C_N_SESSIONS = 15
C_CAP = 16
C_FIELDS = 17

# ---- float state ----
F_ATR = 0
F_PREV_CLOSE = 1
F_HI_LEVEL = 2  # pending (unbroken) swing high for structure
F_LO_LEVEL = 3
F_MIN_SINCE_HI = 4  # lowest low in (pending high bar, current bar - 1]
F_MAX_SINCE_LO = 5
F_RANGE_HI = 6  # dealing range: last confirmed swing high / low
F_RANGE_LO = 7
F_RETR_CUR = 8
F_RETR_DEEP = 9
F_TR_SUM = 10
F_PERIOD0 = 11  # 3 periods x (cur_hi, cur_lo, prev_hi, prev_lo) = 12 slots
F_MIN_CANDLE_HIGH = 23  # high of the candle holding F_MIN_SINCE_HI
F_MAX_CANDLE_LOW = 24  # low of the candle holding F_MAX_SINCE_LO
# scan triggers: a lifecycle scan of a table runs only when the bar can change some object in it
F_OB_BULL_TRIG = 25  # scan if low <= this (max over bullish blocks of top, or bottom once mitigated)
F_OB_BEAR_TRIG = 26  # scan if high >= this
F_FVG_BULL_TRIG = 27  # max mitigation level of bullish gaps
F_FVG_BEAR_TRIG = 28
F_POOL_BULL_TRIG = 29  # min top of equal-highs pools (scan if high > this)
F_POOL_BEAR_TRIG = 30  # max bottom of equal-lows pools (scan if low < this)
F_CAND_BULL_TRIG = 31  # min (level + tol) of swing-high candidates
F_CAND_BEAR_TRIG = 32
# pairing bounds: a new swing high can pair only if it is >= some candidate's (level - tol), so it is
# compared with the candidates only when >= this lower bound of the minimum; equal lows symmetric
F_CAND_BULL_FLOOR = 33  # <= min (level - tol) of swing-high candidates
F_CAND_BEAR_CEIL = 34  # >= max (level + tol) of swing-low candidates
F_FIELDS = 35

# ---- int state ----
I_BAR = 0  # number of bars processed
I_TREND = 1
I_HI_BAR = 2  # pending swing high bar (-1 none / consumed)
I_LO_BAR = 3
I_MIN_BAR = 4
I_MAX_BAR = 5
I_RANGE_HI_BAR = 6
I_RANGE_LO_BAR = 7
I_RETR_DIR = 8
I_NEXT_OB = 9
I_NEXT_FVG = 10
I_NEXT_LIQ = 11
I_N_OB = 12
I_N_FVG = 13
I_N_CAND = 14
I_N_POOL = 15
I_PERIOD0 = 16  # 3 periods x (key, broken_hi, broken_lo, has_prev) = 12 slots
I_FIELDS = 28

# ---- ring buffer rows ----
R_HIGH = 0
R_LOW = 1
R_VOL = 2
R_ROWS = 3

# ---- order block table ----
OB_ID = 0
OB_DIR = 1
OB_TOP = 2
OB_BOTTOM = 3
OB_FORMED = 4
OB_CONFIRMED = 5
OB_MITIGATED = 6  # bar or -1
OB_VOLUME = 7
OB_STRENGTH = 8
OB_FIELDS = 9

# ---- fair value gap table ----
FVG_ID = 0
FVG_DIR = 1
FVG_TOP = 2
FVG_BOTTOM = 3
FVG_FORMED = 4
FVG_CONFIRMED = 5
FVG_LEVEL = 6  # price that mitigates it (depends on the mitigation mode)
FVG_FIELDS = 7

# ---- liquidity candidate (single unswept swing) table ----
CAND_DIR = 0
CAND_LEVEL = 1
CAND_TOL = 2
CAND_BAR = 3
CAND_FIELDS = 4

# ---- liquidity pool table ----
POOL_ID = 0
POOL_DIR = 1
POOL_LEVEL = 2
POOL_TOP = 3
POOL_BOTTOM = 4
POOL_FIRST = 5
POOL_FORMED = 6
POOL_CONFIRMED = 7
POOL_FIELDS = 8

# ---- session state (one row per session) ----
S_ACTIVE = 0
S_HIGH = 1
S_LOW = 2
S_START_BAR = 3
S_FIELDS = 4

# ---- per-bar series written by the batch loop ----
SER_TREND = 0
SER_RANGE_HI = 1
SER_RANGE_LO = 2
SER_RETR_DIR = 3
SER_RETR_CUR = 4
SER_RETR_DEEP = 5
SER_ATR = 6
SER_PERIOD0 = 7  # 3 periods x (prev_hi, prev_lo, broken_hi, broken_lo)
SER_FIELDS = 19

MAX_STEP_EVENTS_BASE = 64  # plus 4 * cap (one lifecycle event per tracked object per table)
