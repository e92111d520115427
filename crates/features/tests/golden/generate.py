#!/usr/bin/env python3
"""Golden vectors for tickloop-features, computed by TA-Lib (the C library, through the
`ta-lib` wheel, which bundles it).

Reproduce (from the repository root):
    python3 -m venv .venv
    .venv/bin/pip install ta-lib==0.8.2 numpy
    .venv/bin/pip install --no-deps arch==8.0.0       # only for its bundled S&P 500 data
    .venv/bin/python crates/features/tests/golden/generate.py

Inputs:
  spy_minute.csv: the first 3,000 rows of ../shared/data/spy-minute-2011.csv (SPY one-minute
      bars, January 2011; Apache-2.0, from the pyalgotrade test data).
  sp500_daily.csv: the first 1,200 rows of arch's arch/data/sp500/sp500.csv.gz (S&P 500 index
      daily bars from 1999; arch is NCSA-licensed).
Floats are written with Python's repr (shortest round-trip), so Rust parses them exactly.
"""
import csv
import gzip
import os
import sys

import numpy as np
import talib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))


def spy_minute():
    path = os.path.join(ROOT, "..", "shared", "data", "spy-minute-2011.csv")
    rows = []
    with open(path) as f:
        for line in f:
            _, o, h, l, c, v = line.strip().split(";")
            rows.append((float(o), float(h), float(l), float(c), float(v)))
            if len(rows) == 3000:
                break
    return rows


def sp500_daily():
    import importlib.util

    spec = importlib.util.find_spec("arch")
    if spec is None:
        sys.exit("install arch (pip install --no-deps arch==8.0.0) for the S&P 500 data")
    path = os.path.join(os.path.dirname(spec.origin), "data", "sp500", "sp500.csv.gz")
    rows = []
    with gzip.open(path, "rt") as f:
        for rec in csv.DictReader(f):
            rows.append(tuple(float(rec[k]) for k in ("Open", "High", "Low", "Close", "Volume")))
            if len(rows) == 1200:
                break
    return rows


def outputs(rows):
    o, h, l, c, v = (np.array(col, dtype=np.float64) for col in zip(*rows))
    macd, macd_signal, macd_hist = talib.MACD(c, 12, 26, 9)
    bb_upper, bb_middle, bb_lower = talib.BBANDS(c, 20, 2.0, 2.0, talib.MA_Type.SMA)
    return {
        "open": o, "high": h, "low": l, "close": c, "volume": v,
        "sma_5": talib.SMA(c, 5), "sma_30": talib.SMA(c, 30),
        "ema_12": talib.EMA(c, 12), "ema_26": talib.EMA(c, 26),
        "rsi_14": talib.RSI(c, 14), "rsi_2": talib.RSI(c, 2),
        "macd_12_26_9": macd, "macd_signal_12_26_9": macd_signal, "macd_hist_12_26_9": macd_hist,
        "bb_upper_20_2": bb_upper, "bb_middle_20_2": bb_middle, "bb_lower_20_2": bb_lower,
        "atr_14": talib.ATR(h, l, c, 14),
        "min_30": talib.MIN(c, 30), "max_30": talib.MAX(c, 30),
        "roc_1": talib.ROCR(c, 1) - 1.0,
    }


def write(name, cols):
    path = os.path.join(HERE, name)
    names = list(cols)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        for i in range(len(cols["close"])):
            w.writerow([repr(float(cols[n][i])) for n in names])
    print(f"wrote {path}: {len(cols['close'])} rows, talib {talib.__version__}")


if __name__ == "__main__":
    write("spy_minute.csv", outputs(spy_minute()))
    write("sp500_daily.csv", outputs(sp500_daily()))
