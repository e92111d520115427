//! The batch twin: every feature computed over whole columns at once, written
//! independently of the streaming code (direct window formulas, index loops in the style
//! of TA-Lib's C) so that "incremental == batch" is a real check of both. The ETL job uses
//! it to fill `processed/features/` from a day of raw ticks.

// Index loops on purpose: they read like the reference formulas they check against.
#![allow(clippy::needless_range_loop)]

use crate::rsi::ta_is_zero;
use crate::{Band, FeatureSpec, MacdOutput, TrendZ};

/// One symbol's series, oldest first, all the same length.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    pub ts_nanos: &'a [i64],
    pub open: &'a [f64],
    pub high: &'a [f64],
    pub low: &'a [f64],
    pub close: &'a [f64],
    pub volume: &'a [f64],
}

impl<'a> Columns<'a> {
    /// The inputs `range` of the series (a run of them, for [`crate::FeatureSet::update_run`]).
    ///
    /// # Panics
    /// When `range` reaches past the end.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Columns<'a> {
        Columns {
            ts_nanos: &self.ts_nanos[range.clone()],
            open: &self.open[range.clone()],
            high: &self.high[range.clone()],
            low: &self.low[range.clone()],
            close: &self.close[range.clone()],
            volume: &self.volume[range],
        }
    }
}

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

fn nan(len: usize) -> Vec<f64> {
    vec![f64::NAN; len]
}

fn window_mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Computes one feature over the whole series.
pub fn compute(spec: FeatureSpec, c: &Columns<'_>) -> Vec<f64> {
    let n = c.close.len();
    let w = |k: u32| k as usize;
    match spec {
        FeatureSpec::Return => {
            (0..n).map(|i| if i == 0 { f64::NAN } else { c.close[i] / c.close[i - 1] - 1.0 }).collect()
        }
        FeatureSpec::LogReturn => {
            (0..n).map(|i| if i == 0 { f64::NAN } else { (c.close[i] / c.close[i - 1]).ln() }).collect()
        }
        FeatureSpec::Sma(k) => sma(c.close, w(k)),
        FeatureSpec::Ema(k) => ema(c.close, w(k)),
        FeatureSpec::Rsi(k) => rsi(c.close, w(k)),
        FeatureSpec::Atr(k) => atr(c, w(k)),
        FeatureSpec::Min(k) => rolling(c.close, w(k), |xs| xs.iter().copied().fold(f64::INFINITY, f64::min)),
        FeatureSpec::Max(k) => rolling(c.close, w(k), |xs| xs.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        FeatureSpec::RealizedVol(k) => {
            let k = w(k);
            let squares: Vec<f64> =
                (0..n).map(|i| if i == 0 { 0.0 } else { (c.close[i] / c.close[i - 1]).ln().powi(2) }).collect();
            let sums = prefix_sums(&squares);
            (0..n)
                .map(|i| if i < k { f64::NAN } else { ((sums[i + 1] - sums[i + 1 - k]) / k as f64).max(0.0).sqrt() })
                .collect()
        }
        FeatureSpec::VolumeZ(k) => {
            let k = w(k);
            (0..n)
                .map(|i| {
                    if i < k {
                        return f64::NAN;
                    }
                    let base = &c.volume[i - k..i];
                    let v = c.volume[i];
                    if base.iter().all(|&b| b == base[0]) {
                        return if v == base[0] { 0.0 } else { (v - base[0]).signum() * f64::INFINITY };
                    }
                    let mean = window_mean(base);
                    let sd = (base.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / k as f64).sqrt();
                    (v - mean) / sd
                })
                .collect()
        }
        FeatureSpec::TrendZ(k) => trend_z(c.close, w(k)),
        FeatureSpec::Vwap => {
            // Cumulative sums, restarted at each UTC day.
            let mut out = nan(n);
            let (mut pv, mut vol) = (0.0, 0.0);
            for i in 0..n {
                if i > 0 && c.ts_nanos[i].div_euclid(NANOS_PER_DAY) != c.ts_nanos[i - 1].div_euclid(NANOS_PER_DAY) {
                    (pv, vol) = (0.0, 0.0);
                }
                pv += (c.high[i] + c.low[i] + c.close[i]) / 3.0 * c.volume[i];
                vol += c.volume[i];
                out[i] = if vol > 0.0 { pv / vol } else { f64::NAN };
            }
            out
        }
        FeatureSpec::VwapRolling(k) => {
            let k = w(k);
            let pv: Vec<f64> = (0..n).map(|i| (c.high[i] + c.low[i] + c.close[i]) / 3.0 * c.volume[i]).collect();
            let traded: Vec<f64> = c.volume.iter().map(|&v| f64::from(u8::from(v > 0.0))).collect();
            let (pv, vol, traded) = (prefix_sums(&pv), prefix_sums(c.volume), prefix_sums(&traded));
            (0..n)
                .map(|i| {
                    if i + 1 < k {
                        return f64::NAN;
                    }
                    let v = vol[i + 1] - vol[i + 1 - k];
                    let window_has_volume = traded[i + 1] > traded[i + 1 - k];
                    if window_has_volume { (pv[i + 1] - pv[i + 1 - k]) / v } else { f64::NAN }
                })
                .collect()
        }
        FeatureSpec::Macd { fast, slow, signal, output } => {
            let (line, sig, hist) = macd(c.close, w(fast), w(slow), w(signal));
            match output {
                MacdOutput::Line => line,
                MacdOutput::Signal => sig,
                MacdOutput::Hist => hist,
            }
        }
        FeatureSpec::Bollinger { window, k_milli, band } => {
            let (k, width) = (w(window), f64::from(k_milli) / 1000.0);
            (0..n)
                .map(|i| {
                    if i + 1 < k {
                        return f64::NAN;
                    }
                    let xs = &c.close[i + 1 - k..=i];
                    let mean = window_mean(xs);
                    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / k as f64;
                    let sd = if var < 0.000_000_01 { 0.0 } else { var.sqrt() };
                    match band {
                        Band::Upper => mean + width * sd,
                        Band::Middle => mean,
                        Band::Lower => mean - width * sd,
                    }
                })
                .collect()
        }
    }
}

fn rolling(xs: &[f64], k: usize, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    (0..xs.len()).map(|i| if i + 1 < k { f64::NAN } else { f(&xs[i + 1 - k..=i]) }).collect()
}

/// `out[i]` = sum of `xs[..i]`; a window's sum is a difference of two entries.
fn prefix_sums(xs: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(xs.len() + 1);
    let mut total = 0.0;
    out.push(total);
    for &x in xs {
        total += x;
        out.push(total);
    }
    out
}

fn sma(xs: &[f64], k: usize) -> Vec<f64> {
    let sums = prefix_sums(xs);
    (0..xs.len()).map(|i| if i + 1 < k { f64::NAN } else { (sums[i + 1] - sums[i + 1 - k]) / k as f64 }).collect()
}

fn ema(xs: &[f64], k: usize) -> Vec<f64> {
    let mut out = nan(xs.len());
    if xs.len() < k {
        return out;
    }
    let alpha = 2.0 / (k as f64 + 1.0);
    let mut prev = window_mean(&xs[..k]);
    out[k - 1] = prev;
    for i in k..xs.len() {
        prev = (xs[i] - prev) * alpha + prev;
        out[i] = prev;
    }
    out
}

/// The recurrences written out over the column: the EWMA of log closes, and the
/// bias-corrected EWMA of squared returns as a ratio of weighted sums.
fn trend_z(xs: &[f64], k: usize) -> Vec<f64> {
    let mut out = nan(xs.len());
    let Some(&first) = xs.first() else { return out };
    let (alpha, beta) = TrendZ::weights(k);
    let mut mean = first.ln();
    let (mut square, mut decay_pow) = (0.0, 1.0);
    for i in 1..xs.len() {
        let l = xs[i].ln();
        let r = l - xs[i - 1].ln();
        mean += alpha * (l - mean);
        square += beta * (r * r - square);
        decay_pow *= 1.0 - beta;
        out[i] = TrendZ::score(k, i, l - mean, square / (1.0 - decay_pow));
    }
    out
}

fn rsi(xs: &[f64], k: usize) -> Vec<f64> {
    let mut out = nan(xs.len());
    if xs.len() <= k {
        return out;
    }
    // A change split into (gain, loss); adding the zero side leaves a sum unchanged.
    let split = |i: usize| {
        let d = xs[i] - xs[i - 1];
        if d < 0.0 { (0.0, -d) } else { (d, 0.0) }
    };
    let (mut gain, mut loss) = (0.0, 0.0);
    for i in 1..=k {
        let (g, l) = split(i);
        gain += g;
        loss += l;
    }
    gain /= k as f64;
    loss /= k as f64;
    let score = |g: f64, l: f64| if ta_is_zero(g + l) { 0.0 } else { 100.0 * (g / (g + l)) };
    out[k] = score(gain, loss);
    for i in k + 1..xs.len() {
        let (g, l) = split(i);
        gain = (gain * (k - 1) as f64 + g) / k as f64;
        loss = (loss * (k - 1) as f64 + l) / k as f64;
        out[i] = score(gain, loss);
    }
    out
}

fn atr(c: &Columns<'_>, k: usize) -> Vec<f64> {
    let n = c.close.len();
    let mut out = nan(n);
    if n <= k {
        return out;
    }
    let tr = |i: usize| {
        let (h, l, pc) = (c.high[i], c.low[i], c.close[i - 1]);
        (h - l).max((pc - h).abs()).max((pc - l).abs())
    };
    let mut prev = (1..=k).map(tr).sum::<f64>() / k as f64;
    out[k] = prev;
    for i in k + 1..n {
        prev = (prev * (k - 1) as f64 + tr(i)) / k as f64;
        out[i] = prev;
    }
    out
}

fn macd(xs: &[f64], fast: usize, slow: usize, signal: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (fast, slow) = if slow < fast { (slow, fast) } else { (fast, slow) };
    let n = xs.len();
    let (mut line, mut sig, mut hist) = (nan(n), nan(n), nan(n));
    let first = slow - 1;
    if n <= first {
        return (line, sig, hist);
    }
    let (kf, ks) = (2.0 / (fast as f64 + 1.0), 2.0 / (slow as f64 + 1.0));
    let mut f = window_mean(&xs[first + 1 - fast..=first]);
    let mut s = window_mean(&xs[..=first]);
    let mut raw = vec![f - s];
    for &x in &xs[first + 1..] {
        f = (x - f) * kf + f;
        s = (x - s) * ks + s;
        raw.push(f - s);
    }
    let smoothed = ema(&raw, signal);
    for (j, (&l, &g)) in raw.iter().zip(&smoothed).enumerate() {
        if !g.is_nan() {
            line[first + j] = l;
            sig[first + j] = g;
            hist[first + j] = l - g;
        }
    }
    (line, sig, hist)
}
