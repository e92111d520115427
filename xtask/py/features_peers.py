"""The `default` feature set (21 features) with TA-Lib and with pandas rolling code, over the
same lake range `tickloop-backtest`'s `features_day` example reads; compute only (the data
is loaded first, with DuckDB, and not timed; TA-Lib's pass is the best of three). Prints one
JSON object.

usage: features_peers.py LAKE_DIR
"""
import json
import sys
import time

import duckdb
import numpy as np
import pandas as pd
import talib

lake = sys.argv[1]
t0 = time.perf_counter()
con = duckdb.connect()
cols = con.execute(
    f"""SELECT symbol, ts_event, open, high, low, close, volume
        FROM read_parquet('{lake}/raw/ticks/**/*.parquet', hive_partitioning=true)
        ORDER BY symbol, ts_event"""
).fetchnumpy()
symbol = np.asarray(cols["symbol"])
o, h, l, c, v = (np.ascontiguousarray(cols[k], dtype=np.float64) for k in ("open", "high", "low", "close", "volume"))
n = len(c)
starts = np.flatnonzero(np.r_[True, symbol[1:] != symbol[:-1]])
bounds = list(zip(starts, np.r_[starts[1:], n]))
load_secs = time.perf_counter() - t0


def talib_symbol(o, h, l, c, v):
    out = []
    prev = np.r_[np.nan, c[:-1]]
    out.append(c / prev - 1.0)
    lr = np.log(c / prev)
    out.append(lr)
    for k in (20, 60, 300):
        out.append(talib.SMA(c, k))
    for k in (12, 26):
        out.append(talib.EMA(c, k))
    out.append(talib.RSI(c, 14))
    out.extend(talib.MACD(c, 12, 26, 9))
    out.extend(talib.BBANDS(c, 20, 2.0, 2.0))
    out.append(talib.ATR(h, l, c, 14))
    pv = c * v
    out.append(np.cumsum(pv) / np.cumsum(v))  # session VWAP (one session)
    out.append(talib.SUM(pv, 300) / talib.SUM(v, 300))
    out.append((v - talib.SMA(v, 300)) / talib.STDDEV(v, 300))
    out.append(np.sqrt(talib.SMA(np.nan_to_num(lr) ** 2, 300)))
    out.append(talib.MIN(c, 300))
    out.append(talib.MAX(c, 300))
    return len(out)


# Best of three passes, like the runs' row of `features_day` (a pass is about a second).
talib_secs = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    features = 0
    for a, b in bounds:
        features = talib_symbol(o[a:b], h[a:b], l[a:b], c[a:b], v[a:b])
    talib_secs = min(talib_secs, time.perf_counter() - t0)
assert features == 21, features

df = pd.DataFrame({"symbol": symbol, "open": o, "high": h, "low": l, "close": c, "volume": v})
t0 = time.perf_counter()
g = df.groupby("symbol", sort=False)
close = g["close"]
prev = close.shift(1)
out = {}
out["return"] = df["close"] / prev - 1.0
out["log_return"] = np.log(df["close"] / prev)


def roll(series_group, k, how):
    r = getattr(series_group.rolling(k), how)()
    return r.reset_index(level=0, drop=True)


for k in (20, 60, 300):
    out[f"sma_{k}"] = roll(close, k, "mean")
for k in (12, 26):
    out[f"ema_{k}"] = close.transform(lambda s, k=k: s.ewm(span=k, adjust=False).mean())
delta = close.diff()
up = delta.clip(lower=0).groupby(df["symbol"], sort=False).transform(lambda s: s.ewm(alpha=1 / 14, adjust=False).mean())
down = (-delta.clip(upper=0)).groupby(df["symbol"], sort=False).transform(lambda s: s.ewm(alpha=1 / 14, adjust=False).mean())
out["rsi_14"] = 100 - 100 / (1 + up / down)
macd = out["ema_12"] - out["ema_26"]
signal = macd.groupby(df["symbol"], sort=False).transform(lambda s: s.ewm(span=9, adjust=False).mean())
out["macd"], out["macd_signal"], out["macd_hist"] = macd, signal, macd - signal
mid = out["sma_20"]
sd = roll(close, 20, "std")
out["bb_upper"], out["bb_middle"], out["bb_lower"] = mid + 2 * sd, mid, mid - 2 * sd
tr = pd.concat([df["high"] - df["low"], (df["high"] - prev).abs(), (df["low"] - prev).abs()], axis=1).max(axis=1)
out["atr_14"] = tr.groupby(df["symbol"], sort=False).transform(lambda s: s.ewm(alpha=1 / 14, adjust=False).mean())
pv = df["close"] * df["volume"]
gpv, gv = pv.groupby(df["symbol"], sort=False), df["volume"].groupby(df["symbol"], sort=False)
out["vwap"] = gpv.cumsum() / gv.cumsum()
out["vwap_300"] = roll(gpv, 300, "sum") / roll(gv, 300, "sum")
out["volume_z_300"] = (df["volume"] - roll(gv, 300, "mean")) / roll(gv, 300, "std")
out["realized_vol_300"] = np.sqrt(roll((out["log_return"].fillna(0.0) ** 2).groupby(df["symbol"], sort=False), 300, "mean"))
out["min_300"] = roll(close, 300, "min")
out["max_300"] = roll(close, 300, "max")
pandas_secs = time.perf_counter() - t0
assert len(out) == 21, len(out)

print(
    json.dumps(
        {
            "ticks": int(n),
            "symbols": len(bounds),
            "load_secs": round(load_secs, 3),
            "talib_version": talib.__version__,
            "talib_secs": round(talib_secs, 4),
            "talib_ns_per_tick": round(talib_secs * 1e9 / n, 2),
            "pandas_version": pd.__version__,
            "pandas_secs": round(pandas_secs, 4),
            "pandas_ns_per_tick": round(pandas_secs * 1e9 / n, 2),
        }
    )
)
