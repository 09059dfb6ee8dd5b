"""The periods and flags every stage refers to: the GRACE gap, the BCNN experiments, the truth periods of the
demo world and the split flags. One home, so the gap or a split flag cannot mean two things in two places."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Between GRACE (last month 2017-06) and GRACE-FO (first month 2018-06).
GAP = ("2017-07-01", "2018-05-01")
# Before GRACE: the reconstruction period the demo world's truth scores (the authors start in 1984).
PRE_GRACE = ("1984-01-01", "2001-12-01")
# The BCNN evaluation fit (Mo et al. 2022): trained on GRACE to 2014-03, tested on the rest of the record.
EVALUATION = {"train": [("2002-04-01", "2014-03-01")],
              "test": [("2014-04-01", "2017-06-01"), ("2018-06-01", "2100-12-01")]}

# Split flags, drawn once per cell (results/split/<region>.nc) and read by every later step.
NONE, TRAIN, VAL, TEST = 0, 1, 2, 3
SPLIT_ATTRS = {"flag_values": np.array([NONE, TRAIN, VAL, TEST], np.int8),
               "flag_meanings": "not_used train validation test"}


def in_periods(time: pd.DatetimeIndex, periods) -> np.ndarray:
    """Which months fall in any of the (start, end) periods, both ends included."""
    out = np.zeros(len(time), bool)
    for start, end in periods:
        out |= (time >= pd.Timestamp(start)) & (time <= pd.Timestamp(end))
    return out
